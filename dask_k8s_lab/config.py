"""Dask config defaults under ``kubernetes.*`` for the client side.

Importing this module registers ``kubernetes.yaml`` as defaults; values the user already set
(in YAML files or ``DASK_KUBERNETES__*`` environment variables) take precedence.
"""

from __future__ import annotations

import os
from typing import Any

import dask.config
import yaml

_DEFAULTS_FILE = os.path.join(os.path.dirname(__file__), "kubernetes.yaml")

with open(_DEFAULTS_FILE) as _f:
    DEFAULTS: dict[str, Any] = yaml.safe_load(_f)

dask.config.update_defaults(DEFAULTS)


def get(key: str, override: Any = None) -> Any:
    """Return ``override`` unless it is None, else the config value ``kubernetes.<key>``."""
    if override is not None:
        return override
    return dask.config.get(f"kubernetes.{key}")
