"""Operator plugins: modules registered under the ``dask_operator_plugin`` entry point group.

Importing a plugin module registers its kopf handlers as a side effect, exactly like the
operator's own handlers. A plugin that fails to import is logged with its traceback and skipped;
the operator still starts.
"""

from __future__ import annotations

import importlib.metadata
import logging
from types import ModuleType

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "dask_operator_plugin"


def load_plugins(group: str = ENTRY_POINT_GROUP) -> dict[str, ModuleType]:
    """Import every plugin registered in ``group``; return {entry point name: module}."""
    loaded: dict[str, ModuleType] = {}
    for entry_point in importlib.metadata.entry_points(group=group):
        try:
            loaded[entry_point.name] = entry_point.load()
        except Exception:
            logger.exception("plugin %r (%s) failed to load; skipped",
                             entry_point.name, entry_point.value)
            continue
        logger.info("loaded operator plugin %r from %s", entry_point.name, entry_point.value)
    return loaded
