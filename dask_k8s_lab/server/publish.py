"""The cluster service's live updates: stream subscribers, and what the cache forgets and
remembers. Part of ``ClusterService`` (see ``service``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .backend import KubeBackend
from .store import ClusterStore, Key


class Publisher:
    """Sends every change of a cluster's JSON to the stream's subscribers."""

    backend: KubeBackend
    store: ClusterStore
    _subscribers: set[asyncio.Queue]
    _dashboard_hosts: dict[Key, tuple[str, int]]
    _totals_tasks: dict[Key, asyncio.Task]
    _crash_log_tasks: dict[tuple[Key, str, str, int], asyncio.Task]

    def subscribe(self) -> tuple[asyncio.Queue, list[dict]]:
        """A queue of stream messages, and the snapshot they follow (taken atomically)."""
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.add(queue)
        return queue, self.store.list_models()

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._subscribers.discard(queue)

    def _publish(self, changes: Iterable[tuple[Key, dict | None]]) -> None:
        for (namespace, name), model in changes:
            if model is None:
                message: dict[str, Any] = {"type": "deleted", "namespace": namespace, "name": name}
                self._forget((namespace, name))
            else:
                message = {"type": "updated", "cluster": model}
                self._maybe_fetch_totals((namespace, name), model)
            self._send(message)

    def _send(self, message: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            if queue.qsize() > 10_000:  # a consumer that stopped reading: cut it off
                self._subscribers.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(message)

    def _forget(self, key: Key) -> None:
        """Drop what was kept for a cluster that is gone (its port-forward, lookups, fetches)."""
        self._dashboard_hosts.pop(key, None)
        task = self._totals_tasks.pop(key, None)
        if task is not None:
            task.cancel()
        for crash_key in [k for k in self._crash_log_tasks if k[0] == key]:
            self._crash_log_tasks.pop(crash_key).cancel()
        asyncio.ensure_future(self.backend.forget_cluster(*key))

    def _remember(self, kind: str, obj: dict) -> None:
        """Put an object the API just returned into the cache (the watch confirms it later)."""
        if isinstance(obj, dict) and obj.get("metadata", {}).get("name"):
            self._publish(self.store.refresh(self.store.apply(kind, "MODIFIED", obj)))

    if TYPE_CHECKING:  # enrich.SchedulerTotals
        def _maybe_fetch_totals(self, key: Key, model: dict) -> None: ...
