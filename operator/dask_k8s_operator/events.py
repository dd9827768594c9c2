"""Kubernetes Events on the custom resources, so ``kubectl describe`` explains what happened.

Events are created through kr8s. Repeating the same (reason, message) for the same object is
suppressed, so periodic resyncs do not flood the event list. Routine events (``routine=True``:
steps every cluster goes through, which its status already shows) are logged at DEBUG and
recorded only with DASK_K8S_OPERATOR_EVENT_LEVEL=DEBUG: at a hundred clusters they would be
most of the operator's writes. An object's pending status (reconcile/status.py) is written
before a warning on it; other events may come up to a second before the status they tell of.
A move of phase is told by comparing with the phase the last such event told of (``phase_told``),
not with the status read: a write whose answer was lost has moved that already.
"""

from __future__ import annotations

import datetime
import logging
import os
import secrets
from collections.abc import Mapping
from typing import Any

from kr8s.asyncio.objects import Event

from . import kube

logger = logging.getLogger(__name__)

COMPONENT = "dask-k8s-operator"
_last_posted: dict[str, tuple[str, str]] = {}
_phases: dict[str, str] = {}  # the phase the last phase event on an object told of


def enabled() -> bool:
    return os.environ.get("DASK_K8S_OPERATOR_EVENTS", "true").lower() not in ("0", "false", "no")


def minimum_level() -> int:
    level = os.environ.get("DASK_K8S_OPERATOR_EVENT_LEVEL", "INFO").upper()
    return int(level) if level.isdigit() else logging.getLevelName(level)


def build_event(obj: Mapping[str, Any], type_: str, reason: str, message: str) -> dict[str, Any]:
    meta = obj["metadata"]
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{secrets.token_hex(8)}",
            "namespace": meta["namespace"],
        },
        "involvedObject": {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": os.environ.get("HOSTNAME", COMPONENT),
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


def level(warning: bool, routine: bool) -> int:
    """The logging level of an event (recorded only at or above ``minimum_level()``)."""
    return logging.WARNING if warning else logging.DEBUG if routine else logging.INFO


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return meta.get("uid") or f"{meta['namespace']}/{obj['kind']}/{meta['name']}"


def phase_told(obj: Mapping[str, Any], shown: str | None) -> str | None:
    """The phase the last phase event on ``obj`` told of; on first sight (a new object, or after
    the operator restarted) ``shown``, the phase its status showed, so that a restart does not
    tell every object's phase again."""
    told = _phases.get(_key(obj))
    if told is None and shown is not None:
        told = _phases[_key(obj)] = shown
    return told


def tell_phase(obj: Mapping[str, Any], phase: str) -> None:
    """Record that an event told of ``obj``'s move to ``phase`` (see ``phase_told``)."""
    _phases[_key(obj)] = phase


async def post(obj: Mapping[str, Any], reason: str, message: str, warning: bool = False,
               routine: bool = False) -> bool:
    """Log and (unless disabled, routine or repeated) record an event on ``obj``; False if it
    could not be recorded (posting the same again then tries again)."""
    type_ = "Warning" if warning else "Normal"
    meta = obj["metadata"]
    logger.log(level(warning, routine), "%s %s/%s: %s: %s", obj["kind"], meta["namespace"],
               meta["name"], reason, message)
    if not enabled() or level(warning, routine) < minimum_level():
        return True
    key = _key(obj)
    if _last_posted.get(key) == (reason, message):
        return True
    if warning:  # whoever reads a warning reads the status that says the same
        from .reconcile.status import flush  # (imported here: the reconcilers import this module)

        await flush(obj["kind"], meta["namespace"], meta["name"])
    for attempt in (1, 2):  # one retry for a transient failure (a dropped connection)
        try:
            await kube.post(Event, build_event(obj, type_, reason, message), background=True)
            _last_posted[key] = (reason, message)
            return True
        except Exception as exc:  # events are best effort: never fail a reconcile over one
            if attempt == 2 or kube.is_rejection(exc):
                logger.warning("could not post event %s on %s: %s", reason, meta["name"],
                               kube.api_error_message(exc))
                return False
    return False


def forget(uid: str | None) -> None:
    if uid:
        _last_posted.pop(uid, None)
        _phases.pop(uid, None)
