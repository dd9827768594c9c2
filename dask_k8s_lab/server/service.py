"""The cluster service: what the REST handlers, the stream and the dashboard proxy call.

It owns the watch-fed ``ClusterStore`` and turns requests into Kubernetes calls through a
``KubeBackend`` (kr8s in production, an in-memory fake in unit tests), so all the rules about
names, templates, images, scaling and adapting are tested without a cluster. Its parts, by
concern: ``watch`` (the informers' sink and the cache's health), ``publish`` (the stream),
``enrich`` (totals asked of a running scheduler), ``crashlogs``, ``changes`` (create, scale,
adapt, worker groups, delete) with the pure ``rules``; reading, logs, events and the dashboard
target are here.
"""

from __future__ import annotations

import asyncio
import logging

from dask_k8s_common.resources import COMPONENT_SCHEDULER, LABEL_COMPONENT, scheduler_name

from .backend import KubeBackend, WatchSink
from .changes import ClusterChanges
from .config import DaskK8sLab
from .crashlogs import CrashLogs
from .enrich import SchedulerTotals
from .errors import ApiError, from_kube_error, not_found
from .publish import Publisher
from .store import AUTOSCALER, CLUSTER, POD, WORKER_GROUP, ClusterStore, Key
from .watch import WatchFeed

__all__ = ["ClusterService", "KubeBackend", "WatchSink"]

log = logging.getLogger(__name__)


class ClusterService(WatchFeed, Publisher, SchedulerTotals, CrashLogs, ClusterChanges):
    def __init__(self, config: DaskK8sLab, backend: KubeBackend, base_url: str = "/") -> None:
        self.config = config
        self.backend = backend
        self.store = ClusterStore(base_url=base_url)
        self.namespaces: list[str] = list(config.namespaces)
        self._init_watch()
        self._subscribers: set[asyncio.Queue] = set()
        self._crash_log_tasks: dict[tuple[Key, str, str, int], asyncio.Task] = {}
        self._dashboard_hosts: dict[Key, tuple[str, int]] = {}
        self._totals_tasks: dict[Key, asyncio.Task] = {}

    async def close(self) -> None:
        if self._retry_task is not None:
            self._retry_task.cancel()
        for task in [*self._crash_log_tasks.values(), *self._totals_tasks.values()]:
            task.cancel()
        for queue in list(self._subscribers):
            queue.put_nowait(None)
        await self.backend.close()

    # -- reading -------------------------------------------------------------------------------

    async def list_clusters(self) -> list[dict]:
        await self.ready()
        return self.store.list_models()

    async def list_clusters_json(self) -> str:
        await self.ready()
        return self.store.list_body(self._stale)

    def _cluster_object(self, namespace: str, name: str) -> dict:
        if namespace not in self.namespaces:
            raise not_found(
                f"Namespace {namespace!r} is not managed by this server (it manages {', '.join(self.namespaces)})."
            )
        obj = self.store.get(CLUSTER, namespace, name)
        if obj is None:
            raise not_found(f"DaskCluster {namespace}/{name} does not exist.")
        return obj

    async def get_cluster(self, namespace: str, name: str) -> dict:
        await self.ready()
        self._cluster_object(namespace, name)
        return self._updated_model(namespace, name)

    def templates(self) -> dict:
        return {
            "templates": [
                {"name": t["name"], "description": t.get("description", ""), "options": t.get("options", {})}
                for t in self.config.templates
            ],
            "default_image": self.config.default_image,
            "allow_image_choice": self.config.allow_image_choice,
        }

    async def _call(self, action: str, coro):
        try:
            return await coro
        except ApiError:
            raise
        except Exception as e:
            raise from_kube_error(e, action) from e

    def _updated_model(self, namespace: str, name: str) -> dict:
        return self.store.models.get((namespace, name)) or self.store.compute((namespace, name))

    # -- logs and events -------------------------------------------------------------------------

    async def logs(self, namespace: str, name: str, tail_lines: int | None = None,
                   previous: bool = False) -> dict[str, str]:
        """The last lines of each pod's log, scheduler first; ``previous``: of the container's
        last terminated run (what a crash-looping worker said before it died)."""
        await self.ready()
        self._cluster_object(namespace, name)
        pods = sorted(
            self.store.children((namespace, name), POD),
            key=lambda p: (p["metadata"].get("labels", {}).get(LABEL_COMPONENT) != COMPONENT_SCHEDULER, p["metadata"]["name"]),
        )
        lines = tail_lines or self.config.log_tail_lines

        async def one(pod: dict) -> str:
            try:
                return await self.backend.pod_logs(namespace, pod["metadata"]["name"], None, lines, previous=previous)
            except Exception as e:
                return f"(no logs: {from_kube_error(e, 'read the logs').message})"

        texts = await asyncio.gather(*(one(p) for p in pods))
        return {pod["metadata"]["name"]: text for pod, text in zip(pods, texts)}

    async def events(self, namespace: str, name: str) -> list[dict]:
        """The events of the cluster and its objects, each asked of the API server by a field
        selector on its kind and name (a namespace's events are never listed whole)."""
        await self.ready()
        cluster = self._cluster_object(namespace, name)
        # events from before this cluster existed belong to an earlier one of the same name
        born = cluster["metadata"].get("creationTimestamp") or ""
        key = (namespace, name)
        objects = {("DaskCluster", name), ("Service", scheduler_name(name))}
        for kind, store_kind in (("DaskWorkerGroup", WORKER_GROUP), ("DaskAutoscaler", AUTOSCALER), ("Pod", POD)):
            objects |= {(kind, o["metadata"]["name"]) for o in self.store.children(key, store_kind)}

        async def of(kind: str, obj_name: str) -> list[dict]:
            selector = f"involvedObject.kind={kind},involvedObject.name={obj_name}"
            return await self._call(f"list the events of {kind} {namespace}/{obj_name}",
                                    self.backend.events(namespace, selector))

        result = []
        for events in await asyncio.gather(*(of(*obj) for obj in sorted(objects))):
            for event in events:
                involved = event.get("involvedObject") or event.get("regarding") or {}
                when = (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
                        or (event.get("metadata") or {}).get("creationTimestamp"))
                if when and born and when[:19] < born[:19]:  # both RFC 3339 UTC: compare to the second
                    continue
                result.append(
                    {
                        "type": event.get("type") or "Normal",
                        "reason": event.get("reason") or "",
                        "message": event.get("message") or event.get("note") or "",
                        "object": f"{involved.get('kind', '')}/{involved.get('name', '')}",
                        "time": when,
                    }
                )
        result.sort(key=lambda e: e["time"] or "")
        return result

    # -- dashboard proxy ---------------------------------------------------------------------------

    async def dashboard_target(self, namespace: str, name: str) -> tuple[str, int]:
        """Where the dashboard of a DaskCluster this server can see is served; 404 otherwise."""
        await self.ready()
        self._cluster_object(namespace, name)
        pod = self.store.get(POD, namespace, scheduler_name(name))
        try:
            target = await self._call(
                f"reach the dashboard of {namespace}/{name}", self.backend.dashboard_target(namespace, name, pod)
            )
        except ApiError as e:
            if e.status != 404:
                raise
            phase = (self.store.models.get((namespace, name)) or {}).get("phase", "Pending")
            raise ApiError(
                503, f"The scheduler of {namespace}/{name} is not up yet (phase {phase}): {e.message}"
            ) from None
        self._dashboard_hosts[(namespace, name)] = target
        return target

    def is_dashboard_host(self, host: str) -> bool:
        """The proxy's host allowlist: only hosts we resolved for a known cluster's scheduler."""
        return any(host == target[0] for key, target in self._dashboard_hosts.items() if key in self.store.models)
