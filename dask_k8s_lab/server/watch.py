"""The cluster service as a watch sink: starting the informers, the first sync, and whether the
cache is stale. Part of ``ClusterService`` (see ``service``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from dask_k8s_common import watching
from dask_k8s_lab import ownership

from .backend import KubeBackend
from .config import DaskK8sLab, service_account_namespace
from .errors import ApiError
from .store import AUTOSCALER, CLUSTER, POD, WORKER_GROUP, ClusterStore, Key

log = logging.getLogger(__name__)


class WatchFeed:
    """Feeds the ``ClusterStore`` from the backend's informers and keeps their health."""

    config: DaskK8sLab
    backend: KubeBackend
    store: ClusterStore
    namespaces: list[str]

    def _init_watch(self) -> None:
        self._pending_syncs: set[tuple[str, str]] = set()
        self._synced = asyncio.Event()
        self._start_error: BaseException | None = None
        self._watch_errors: dict[tuple[str, str], tuple[int, str]] = {}  # failures in a row, last
        self._stale: str | None = None
        self._started = False
        self._retry_task: asyncio.Task | None = None

    async def start(self) -> None:
        """Start watching; if Kubernetes cannot be reached yet, keep trying in the background."""
        if self._started:
            return
        self._started = True
        if not await self._try_start():
            self._retry_task = asyncio.ensure_future(self._keep_starting())

    async def _try_start(self) -> bool:
        try:
            if not self.namespaces:
                self.namespaces = [service_account_namespace() or await self.backend.default_namespace()]
            self._pending_syncs = {(kind, ns) for kind in (CLUSTER, WORKER_GROUP, AUTOSCALER, POD) for ns in self.namespaces}
            await self.backend.start(self.namespaces, self)
        except Exception as e:  # the server keeps running; requests report why (503)
            log.warning("dask-k8s-lab: cannot start watching Kubernetes: %s", e)
            self._start_error = e
            return False
        self._start_error = None
        return True

    async def _keep_starting(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            if await self._try_start():
                return
            delay = min(delay * 2, 60.0)

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until the first list of every watched kind has arrived (at most ``timeout``,
        by default the configured request timeout), or fail with a 503."""
        if self._synced.is_set():
            return
        if self._start_error is None:
            try:
                await asyncio.wait_for(self._synced.wait(), self.config.request_timeout if timeout is None else timeout)
                return
            except asyncio.TimeoutError:
                pass
        why = (self._start_error or "; ".join(text for _, text in self._watch_errors.values())
               or "the watch has not delivered yet")
        raise ApiError(503, f"The cluster list is not available yet: cannot watch Kubernetes ({why}).")

    # -- the sink ------------------------------------------------------------------------------

    def _visible(self, obj: dict) -> bool:
        """Whether this server's user may see a DaskCluster (its owner, or anyone outside a hub)."""
        return ownership.visible(obj, self.config.owner, self.config.show_all_clusters)

    def on_event(self, kind: str, event_type: str, obj: dict) -> None:
        if (obj.get("metadata") or {}).get("namespace") not in self.namespaces:
            return
        if kind == CLUSTER and not self._visible(obj):
            # Other users' clusters never enter the cache, so no list, stream, lookup or proxy
            # route can reach them; one whose owner changed away leaves it.
            event_type = "DELETED"
        self._publish(self.store.refresh(self.store.apply(kind, event_type, obj)))
        if kind == POD and event_type != "DELETED":
            self._maybe_fetch_crash_log(obj)

    def on_replace(self, kind: str, namespace: str, objects: list[dict]) -> None:
        if kind == CLUSTER:
            objects = [obj for obj in objects if self._visible(obj)]
        self._publish(self.store.refresh(self.store.replace(kind, namespace, objects)))
        if kind == POD:
            for obj in objects:
                self._maybe_fetch_crash_log(obj)

    def on_synced(self, kind: str, namespace: str) -> None:
        self._watch_errors.pop((kind, namespace), None)
        self._pending_syncs.discard((kind, namespace))
        if not self._pending_syncs:
            self._synced.set()
        self._update_stale()

    def on_watch_error(self, kind: str, namespace: str, error: BaseException) -> None:
        failures = self._watch_errors.get((kind, namespace), (0, ""))[0] + 1
        if watching.is_timeout(error):  # not a dropped connection: the API server stopped answering
            failures = max(failures, 2)
        self._watch_errors[(kind, namespace)] = (failures, f"{kind} in {namespace}: {watching.describe(error)}")
        self._update_stale()

    @property
    def stale(self) -> str | None:
        """Why the cached list may be out of date, or None while every watch is healthy."""
        return self._stale

    def _update_stale(self) -> None:
        """The cache is stale once a watch failed twice in a row (one dropped connection is
        re-listed at once and says nothing) or a call timed out; subscribers hear when that
        starts and ends."""
        failing = [text for failures, text in self._watch_errors.values() if failures >= 2]
        stale = f"cannot watch Kubernetes ({'; '.join(failing)})" if failing else None
        if stale != self._stale and self._synced.is_set():
            self._stale = stale
            self._send({"type": "health", "stale": stale})

    if TYPE_CHECKING:  # the other parts of ClusterService
        def _publish(self, changes: Iterable[tuple[Key, dict | None]]) -> None: ...
        def _send(self, message: dict) -> None: ...
        def _maybe_fetch_crash_log(self, pod: dict) -> None: ...
