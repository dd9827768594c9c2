"""Writing the status of a custom resource, and the timestamps it holds."""

from __future__ import annotations

import datetime
from typing import Any

from .. import kube

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime(_FORMAT)


def iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime(_FORMAT)


def parse_iso(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.datetime.strptime(value, _FORMAT).replace(tzinfo=datetime.UTC).timestamp()


async def set_status(obj: Any, update: dict[str, Any]) -> None:
    """Patch these status fields, only if one of them changed (and keep ``obj.raw`` in step)."""
    if kube.status_changed(obj.raw.get("status"), update):
        await kube.patch_status(obj, update)
        obj.raw.setdefault("status", {}).update(update)
