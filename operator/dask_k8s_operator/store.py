"""The latest body of every watched object (an informer cache), fed by its own list+watch per
kind (``follow``) and by kopf's watch events.

Reconcilers read objects by name from here instead of asking the API server each time; an object
not in the store is fetched from the API (so a missing entry is never mistaken for a missing
object), and so is every object of a kind whose watch is down (``fresh``): a cache that missed
deletions during a watch gap must not make children for a deleted cluster nor hide a lost
scheduler. Every list prunes what it no longer contains. Worker pods are counted from here (the
reconciler puts the pods it creates at once, so a late watch event cannot make duplicates), but
listed from the API server before any is removed, where a stale count would remove too many.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from dask_k8s_common import watching
from dask_k8s_common.contract import LABEL_CLUSTER, LABEL_WORKER_GROUP

from .counters import count
from .pods import slim_pod

logger = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (plural, namespace, name)

#: bodies by (plural, namespace), then name (a namespace's objects are listed without a scan)
_scopes: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
#: labels whose values are indexed, most selective first: ``select`` by one of them looks only at
#: the objects that carry it (a group's ~20 pods, not the namespace's thousands: scanning them
#: all was a quarter of the operator's CPU while 100 clusters in one namespace scaled)
INDEXED_LABELS = (LABEL_WORKER_GROUP, LABEL_CLUSTER)
_index: dict[tuple[str, str, str, str], set[str]] = {}  # (plural, namespace, label, value) -> names
_held: dict[Key, dict[str, Any]] = {}  # status fields to be written (``hold_status``)
_synced: set[tuple[str, str | None]] = set()  # (plural, namespace or None for all) whose watch is up
MAX_RETRY_DELAY = 5.0  # seconds between lists while the API server fails (back within seconds of it)
RELISTS: dict[str, int] = {}  # lists made by ``follow``, by plural (the liveness probe reports them)


def slimmer(plural: str) -> Callable[[Mapping[str, Any]], dict[str, Any]] | None:
    """What the store keeps of an object of ``plural`` (None: all of it)."""
    return slim_pod if plural == "pods" else None


def put(plural: str, body: Mapping[str, Any]) -> None:
    meta = body["metadata"]
    key = (plural, meta.get("namespace", ""), meta["name"])
    current = _lookup(key)
    if current is not None and _older(body, current):
        return
    # of a pod only what the operator reads: the store holds every pod of every cluster
    stored = slim_pod(body) if plural == "pods" else _without_managed_fields(body)
    if key in _held:  # a status written later is newer than any the API server has sent
        stored.setdefault("status", {}).update(copy.deepcopy(_held[key]))
    _set(key, stored)


def refresh(plural: str, body: Mapping[str, Any]) -> None:
    """``put``, but only over an object the store holds: the answer to a write must not bring
    back an object whose deletion the watch told of meanwhile."""
    meta = body["metadata"]
    if _lookup((plural, meta.get("namespace", ""), meta["name"])) is not None:
        put(plural, body)


def hold_status(plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
    """Status fields decided but written later (reconcile/status.py coalesces writes): the store
    shows them over whatever the watch brings until ``release_status``, so that no reader (a
    cluster mirroring its group) goes back to an older value meanwhile."""
    _held[(plural, namespace, name)] = copy.deepcopy(dict(status))
    update_status(plural, namespace, name, status)


def release_status(plural: str, namespace: str, name: str) -> None:
    _held.pop((plural, namespace, name), None)


def _older(new: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    try:
        return int(new["metadata"]["resourceVersion"]) < int(current["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return False


def _without_managed_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy without ``metadata.managedFields`` (nothing here reads them)."""
    meta = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    return copy.deepcopy({**body, "metadata": meta})


def _indexed(key: Key, body: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    labels = body["metadata"].get("labels") or {}
    for label in INDEXED_LABELS:
        if label in labels:
            yield (*key[:2], label, labels[label])


def _set(key: Key, body: dict[str, Any]) -> None:
    _pop(key)  # (and its index entries: its labels may have changed)
    _scopes.setdefault(key[:2], {})[key[2]] = body
    for entry in _indexed(key, body):
        _index.setdefault(entry, set()).add(key[2])


def _lookup(key: Key) -> dict[str, Any] | None:
    return _scopes.get(key[:2], {}).get(key[2])


def _pop(key: Key) -> dict[str, Any] | None:
    scope = _scopes.get(key[:2])
    if scope is None:
        return None
    body = scope.pop(key[2], None)
    if not scope:
        del _scopes[key[:2]]
    if body is not None:
        for entry in _indexed(key, body):
            names = _index.get(entry)
            if names is not None:
                names.discard(key[2])
                if not names:
                    del _index[entry]
    return body


def drop(plural: str, namespace: str, name: str) -> None:
    _pop((plural, namespace, name))
    _held.pop((plural, namespace, name), None)


def get(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    body = _lookup((plural, namespace, name))
    return copy.deepcopy(body) if body is not None else None


def update_status(plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
    body = _lookup((plural, namespace, name))
    if body is not None:
        body.setdefault("status", {}).update(copy.deepcopy(dict(status)))


def items(plural: str, namespace: str) -> Iterator[dict[str, Any]]:
    yield from list(_scopes.get((plural, namespace), {}).values())


def select(plural: str, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """The objects in ``namespace`` carrying all of ``labels``: the store's own, as ``items``
    gives them, to be read and never changed (copying a group's pods on each of its reconciles
    was a fifth of the operator's CPU while 100 clusters scaled)."""
    indexed = next((label for label in INDEXED_LABELS if label in labels), None)
    if indexed is None:
        candidates = items(plural, namespace)
    else:
        scope = _scopes.get((plural, namespace), {})
        names = _index.get((plural, namespace, indexed, labels[indexed]), ())
        candidates = (scope[name] for name in list(names))
    return [
        body for body in candidates
        if all((body["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
    ]


def clear() -> None:
    _scopes.clear()
    _index.clear()
    _held.clear()
    _synced.clear()


def fresh(plural: str, namespace: str) -> bool:
    """Whether a watch keeps this kind in this namespace up to date right now."""
    return (plural, None) in _synced or (plural, namespace) in _synced


def _versions(plural: str, namespace: str | None) -> dict[Key, str | None]:
    return {
        (kind, ns, name): body["metadata"].get("resourceVersion")
        for (kind, ns), scope in _scopes.items()
        if kind == plural and (namespace is None or ns == namespace)
        for name, body in scope.items()
    }


def replace(plural: str, namespace: str | None, bodies: list[Mapping[str, Any]],
            before: Mapping[Key, str | None]) -> list[dict[str, Any]]:
    """Take a fresh list of ``plural`` (in ``namespace``, None: all) as the truth: put what it
    holds and drop what it does not, unless that changed since ``before`` (taken just before the
    list was asked for: a watch event that came in meanwhile is newer than the list).
    Returns the bodies dropped."""
    listed = set()
    for body in bodies:
        put(plural, body)
        listed.add((plural, body["metadata"].get("namespace", ""), body["metadata"]["name"]))
    dropped = []
    for key, version in before.items():
        current = _lookup(key)
        if key not in listed and current is not None and current["metadata"].get("resourceVersion") == version:
            dropped.append(_pop(key))
    return dropped


async def follow(api: Callable[[], Awaitable[Any]], plural: str, kind: Any, namespace: str | None,
                 label_selector: str | None, timeouts: watching.Timeouts,
                 on_pruned: Callable[[str, dict[str, Any]], None],
                 on_change: Callable[[str, dict[str, Any]], None] | None = None) -> None:
    """Keep ``plural`` (in ``namespace``, None: all) in the store: list (pruning), watch, and list
    again after an expired watch (at once, once) or a failure (after a back-off, reads going to
    the API server meanwhile). ``on_pruned`` hears of each object a list found gone;
    ``on_change`` (if given) of every other change, once the store holds it: each watch event
    and each object a list found new or changed (so that this watch is the only one needed)."""
    scope = (plural, namespace)
    delay = 0.5
    backoff = watching.ExpiryBackoff(limit=timeouts.watch)  # a relist still at the expired version

    def changed(body: dict[str, Any]) -> None:
        if on_change is None:
            return
        try:
            on_change(plural, body)
        except Exception:  # a failing reaction must not stop the watch
            logger.exception("reaction to a change of %s failed", plural)

    def on_event(event_type: str, body: dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        if event_type == "DELETED":
            drop(plural, meta.get("namespace", ""), meta.get("name", ""))
        elif meta.get("name"):
            put(plural, body)
        else:
            return
        changed(body)

    while True:
        before = _versions(plural, namespace)
        try:
            client = await api()
            RELISTS[plural] = RELISTS.get(plural, 0) + 1
            count("list", plural, namespace)
            bodies, version = await watching.list_objects(client, kind, namespace, label_selector, timeouts,
                                             slimmer(plural))
            for body in replace(plural, namespace, bodies, before):
                logger.info("%s %s/%s is gone (found by a list, not by the watch)", plural,
                            body["metadata"].get("namespace"), body["metadata"]["name"])
                on_pruned(plural, body)
            for body in bodies:
                meta = body["metadata"]
                key = (plural, meta.get("namespace", ""), meta["name"])
                if key not in before or before[key] != meta.get("resourceVersion"):
                    changed(body)
            # the list is in the store now: not kept alive beside it while the watch runs
            del bodies, before
            _synced.add(scope)
            delay = 0.5
            if pause := backoff.pause(version):
                await asyncio.sleep(pause)
            while True:
                count("watch", plural, namespace)
                version = await watching.watch(client, kind, namespace, label_selector, version or "0", on_event,
                                               timeouts)
        except asyncio.CancelledError:
            _synced.discard(scope)
            raise
        except watching.WatchExpired as exc:
            _synced.discard(scope)
            backoff.expired_at(exc.version)
            logger.info("watch of %s expired (%s); listing again", plural, exc)
        except Exception as exc:
            _synced.discard(scope)
            logger.warning("watch of %s failed (%s); listing again in %.1f s", plural,
                           watching.describe(exc), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)
