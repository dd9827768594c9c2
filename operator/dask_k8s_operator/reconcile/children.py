"""Creating and deleting the objects a resource is made of, and saying so in Events."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kr8s.asyncio.objects import Pod

from dask_k8s_common import legacy_commands

from .. import builders, events, kube
from .status import set_status

logger = logging.getLogger(__name__)

#: children whose creation failed in a way that may have created them after all (a timeout or a
#: dropped connection lost the answer): (endpoint, namespace, name) -> the event that says so,
#: posted by the reconcile that finds the child (``found``), so "created" is never left unsaid
_unconfirmed: dict[tuple[str, str, str], tuple[str, str]] = {}


def _key(cls: type, manifest: dict[str, Any]) -> tuple[str, str, str]:
    meta = manifest["metadata"]
    return cls.endpoint, meta["namespace"], meta["name"]


async def creation_failed(obj: Any, what: str, exc: Exception) -> None:
    """Report a failed creation: an Error phase if the API server rejected the object, a retry
    (with a warning, but no phase change) if the failure was transient."""
    message = f"could not create the {what}: {kube.api_error_message(exc)}"
    if not kube.is_rejection(exc):
        logger.warning("%s %s/%s: %s; will retry", obj.kind, obj.namespace, obj.name, message)
        await events.post(obj.raw, "CreateRetrying", message, warning=True)
        return
    update = {"message": message}
    if obj.kind == "DaskCluster":
        update.update(phase="Error", reason="CreateFailed")
    await set_status(obj, update)
    await events.post(obj.raw, "CreateFailed", message, warning=True)


async def create_child(owner: Any, cls: type, manifest: dict[str, Any], what: str,
                       reason: str) -> Any | None:
    """Create one of ``owner``'s children (an event says so), or report why not and return
    None."""
    key = _key(cls, manifest)
    try:
        obj, created = await kube.create(cls, manifest)
    except Exception as exc:
        if not kube.is_rejection(exc):
            _unconfirmed[key] = (reason, f"created {what} {key[2]}")
        await creation_failed(owner, what, exc)
        return None
    if created:
        _unconfirmed.pop(key, None)
        await events.post(owner.raw, reason, f"created {what} {obj.name}")
    else:
        await found(owner, obj)
    return obj


async def found(owner: Any, child: Any) -> None:
    """``owner``'s reconcile found ``child``: if an earlier attempt to create it lost its
    answer, that attempt did create it, and its event is posted now."""
    event = _unconfirmed.pop((child.endpoint, child.namespace, child.name), None)
    if event is not None and builders.is_owned_by(child.raw, owner.raw):
        await events.post(owner.raw, *event)


async def ensure(owner: Any, cls: type, manifest: dict[str, Any], what: str, reason: str
                 ) -> tuple[Any | None, bool]:
    """The child named in ``manifest``, created if missing. -> (the child, or None if it could
    not be created; whether it was created now)."""
    meta = manifest["metadata"]
    obj = await kube.fetch(cls, meta["name"], meta["namespace"])
    if obj is not None:
        await found(owner, obj)
        return obj, False
    return await create_child(owner, cls, manifest, what, reason), True


async def report_legacy_command(owner: dict[str, Any], pod: dict[str, Any]) -> None:
    """A Warning event on ``owner`` when its pod's removed ``dask-*`` command was rewritten."""
    message = legacy_commands.pod_message(pod)
    if message:
        await events.post(owner, legacy_commands.REASON, message, warning=True)


async def delete_pods(namespace: str, names: list[str]) -> None:
    pods = [kube.ref(Pod, name, namespace) for name in names]
    await asyncio.gather(*(kube.delete(pod) for pod in pods))
