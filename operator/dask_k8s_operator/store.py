"""The latest body of every watched object, fed by kopf's watch events (an informer cache).

Reconcilers read objects by name from here instead of asking the API server each time; an object
not in the store is fetched from the API (so a missing entry is never mistaken for a missing
object). Counting worker pods, where a stale answer would mean duplicates, always lists them from
the API server.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

Key = tuple[str, str, str]  # (plural, namespace, name)

_objects: dict[Key, dict[str, Any]] = {}


def put(plural: str, body: Mapping[str, Any]) -> None:
    meta = body["metadata"]
    key = (plural, meta.get("namespace", ""), meta["name"])
    current = _objects.get(key)
    if current is not None and _older(body, current):
        return
    _objects[key] = copy.deepcopy(dict(body))


def _older(new: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    try:
        return int(new["metadata"]["resourceVersion"]) < int(current["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return False


def drop(plural: str, namespace: str, name: str) -> None:
    _objects.pop((plural, namespace, name), None)


def get(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    body = _objects.get((plural, namespace, name))
    return copy.deepcopy(body) if body is not None else None


def update_status(plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
    body = _objects.get((plural, namespace, name))
    if body is not None:
        body.setdefault("status", {}).update(copy.deepcopy(dict(status)))


def items(plural: str, namespace: str) -> Iterator[dict[str, Any]]:
    for (kind, ns, _), body in list(_objects.items()):
        if kind == plural and ns == namespace:
            yield body


def clear() -> None:
    _objects.clear()
