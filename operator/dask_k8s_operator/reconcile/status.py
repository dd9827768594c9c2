"""Writing the status of a custom resource (coalesced per object), and the timestamps it holds.

A cluster's status follows its scheduler (Created, then Pending for one reason and another,
then Running), its group's status and so its pods: written as decided, a cluster coming up
writes its status about six times in a few seconds. Here a decided change of counts or
messages waits a moment and joins whatever else is decided meanwhile: a write is made ``WINDOW``
seconds after the first change it carries, with the latest value of each field; a change of
phase (what users and clients wait on) is written at once (``PHASE_WINDOW``) and takes the
pending changes with it. The last state is always written.
``events.post`` writes an object's pending status before a warning, so that a warning never
tells of a state its object's status does not show yet.
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
#: seconds a status change waits for others (DASK_K8S_OPERATOR_STATUS_WINDOW; 0: written at once)
WINDOW = float(os.environ.get("DASK_K8S_OPERATOR_STATUS_WINDOW", "1"))
#: ... when the phase moves: none, a phase is what users and clients wait on (it takes the
#: object's pending changes with it)
PHASE_WINDOW = 0.0
PHASES = ("phase", "jobStatus")  # the status fields that hold a phase

Key = tuple[str, str, str]  # (kind, namespace, name)


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime(_FORMAT)


def iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime(_FORMAT)


def parse_iso(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.datetime.strptime(value, _FORMAT).replace(tzinfo=datetime.UTC).timestamp()


def window(current: dict[str, Any] | None, update: dict[str, Any]) -> float:
    """How long a write of ``update`` over ``current`` may wait for other changes."""
    current = current or {}
    moves = any(key in update and update[key] != current.get(key) for key in PHASES)
    return min(PHASE_WINDOW, WINDOW) if moves else WINDOW


@dataclass
class _Pending:
    obj: Any
    due: float  # monotonic
    fields: dict[str, Any] = field(default_factory=dict)
    task: asyncio.Task | None = None


_pending: dict[Key, _Pending] = {}


async def set_status(obj: Any, update: dict[str, Any]) -> None:
    """Write these status fields if one of them changed (coalesced: see the module), and keep
    ``obj.raw`` and the store in step at once, so the next reconcile sees what it decided."""
    meta = obj.raw["metadata"]
    key = (obj.kind, meta.get("namespace", ""), meta["name"])
    pending = _pending.get(key)
    if pending is None and not kube.status_changed(obj.raw.get("status"), update):
        return
    wait = window(obj.raw.get("status"), update)
    obj.raw.setdefault("status", {}).update(update)
    if wait <= 0 and pending is None:
        await kube.patch_status(obj, update)
        return
    now = time.monotonic()
    if pending is None:
        pending = _pending[key] = _Pending(obj, now + wait)
        pending.task = asyncio.get_running_loop().create_task(_write_later(key, wait))
    elif now + wait < pending.due and pending.task is not None:  # the phase moved: sooner
        pending.task.cancel()
        pending.due = now + wait
        pending.task = asyncio.get_running_loop().create_task(_write_later(key, wait))
    pending.fields.update(update)  # the latest value of each field wins
    pending.obj = obj
    store.hold_status(obj.endpoint, key[1], key[2], pending.fields)


async def _write_later(key: Key, delay: float) -> None:
    await asyncio.sleep(delay)
    await _write_pending(key)


async def _write_pending(key: Key) -> None:
    pending = _pending.pop(key, None)
    if pending is None:
        return
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
    """Write this object's pending status now (before a warning that tells of it)."""
    pending = _pending.get((kind, namespace, name))
    if pending is None:
        return
    if pending.task is not None and pending.task is not asyncio.current_task():
        pending.task.cancel()
    await _write_pending((kind, namespace, name))


async def flush_all() -> None:
    """Write every pending status now (the operator is stopping)."""
    for key in list(_pending):
        await flush(*key)
