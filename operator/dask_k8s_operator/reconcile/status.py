"""Writing the status of a custom resource (coalesced per object), and the timestamps it holds.

A cluster's status follows its group's, which follows its pods: left alone, a cluster coming up
writes its status half a dozen times in a few seconds. ``set_status`` writes at once only if the
object's status was not written within the last ``WINDOW`` seconds; otherwise the fields join a
pending write made when the window ends, which carries the latest value of each field. So an
object's status is written at most once per window, a change (a phase a user waits on included)
shows at most ``WINDOW`` seconds late, and the last state is always written. ``events.post``
writes an object's pending status first, so that an event never tells of a state its object's
status does not show yet.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from .. import kube, store

logger = logging.getLogger(__name__)

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: seconds between two status writes of one object (DASK_K8S_OPERATOR_STATUS_WINDOW; 0: no coalescing)
WINDOW = float(os.environ.get("DASK_K8S_OPERATOR_STATUS_WINDOW", "0.5"))

Key = tuple[str, str, str]  # (kind, namespace, name)


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime(_FORMAT)


def iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime(_FORMAT)


def parse_iso(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.datetime.strptime(value, _FORMAT).replace(tzinfo=datetime.UTC).timestamp()


def write_delay(last_write: float | None, now: float, window: float) -> float:
    """Seconds until an object whose status was last written at ``last_write`` may be written
    again (0: now)."""
    if last_write is None or window <= 0:
        return 0.0
    return max(0.0, last_write + window - now)


@dataclass
class _Pending:
    obj: Any
    fields: dict[str, Any] = field(default_factory=dict)
    task: asyncio.Task | None = None


_last_write: dict[Key, float] = {}  # monotonic time of each object's last status write
_pending: dict[Key, _Pending] = {}


def _key(kind: str, namespace: str, name: str) -> Key:
    return (kind, namespace, name)


async def set_status(obj: Any, update: dict[str, Any]) -> None:
    """Write these status fields if one of them changed (now, or coalesced: see the module), and
    keep ``obj.raw`` and the store in step at once, so the next reconcile sees what it decided."""
    meta = obj.raw["metadata"]
    key = _key(obj.kind, meta.get("namespace", ""), meta["name"])
    pending = _pending.get(key)
    if pending is None and not kube.status_changed(obj.raw.get("status"), update):
        return
    obj.raw.setdefault("status", {}).update(update)
    now = time.monotonic()
    _prune(now)
    if pending is not None:  # the latest value of each field wins
        pending.fields.update(update)
        pending.obj = obj
        store.hold_status(obj.endpoint, key[1], key[2], pending.fields)
        return
    delay = write_delay(_last_write.get(key), now, WINDOW)
    if delay <= 0:
        _last_write[key] = now
        await kube.patch_status(obj, update)
        return
    store.hold_status(obj.endpoint, key[1], key[2], update)
    pending = _pending[key] = _Pending(obj, dict(update))
    pending.task = asyncio.get_running_loop().create_task(_write_later(key, delay))


async def _write_later(key: Key, delay: float) -> None:
    await asyncio.sleep(delay)
    await _write_pending(key)


async def _write_pending(key: Key) -> None:
    pending = _pending.pop(key, None)
    if pending is None:
        return
    _last_write[key] = time.monotonic()
    plural = pending.obj.endpoint
    try:
        await kube.patch_status(pending.obj, pending.fields)
    except Exception as exc:  # (gone meanwhile, or the API server failed: the next reconcile writes again)
        if kube.status_code(exc) != 404:
            logger.warning("status of %s %s/%s not written: %s", *key, kube.api_error_message(exc))
            store.drop(plural, key[1], key[2])  # read it afresh next time
    finally:
        store.release_status(plural, key[1], key[2])


async def flush(kind: str, namespace: str, name: str) -> None:
    """Write this object's pending status now (before an event that tells of it)."""
    pending = _pending.get(_key(kind, namespace, name))
    if pending is None:
        return
    if pending.task is not None and pending.task is not asyncio.current_task():
        pending.task.cancel()
    await _write_pending(_key(kind, namespace, name))


async def flush_all() -> None:
    """Write every pending status now (the operator is stopping)."""
    for key in list(_pending):
        await flush(*key)


def _prune(now: float) -> None:
    # one entry per object written within the window: the map stays as small as the set of busy
    # objects, not the set of all objects ever seen
    if len(_last_write) > 64:
        for key, at in list(_last_write.items()):
            if now - at > max(WINDOW, 0) and key not in _pending:
                del _last_write[key]
