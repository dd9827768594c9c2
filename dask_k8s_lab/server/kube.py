"""The kr8s backend of the cluster service: list+watch informers and the few calls it makes."""

from __future__ import annotations

import asyncio
import logging
import ssl

import kr8s.asyncio
from kr8s.asyncio.objects import Event, Pod, Service
from kr8s.asyncio.portforward import PortForward

from dask_k8s_common import watching
from dask_k8s_common.contract import DASHBOARD_PORT, DASHBOARD_PORT_NAME
from dask_k8s_common.resources import (
    LABEL_CLUSTER,
    DaskAutoscaler,
    DaskCluster,
    DaskWorkerGroup,
    scheduler_name,
)

from .backend import WatchSink
from .config import DaskK8sLab
from .kr8s_adapter import uncached_client
from .store import AUTOSCALER, CLUSTER, POD, WORKER_GROUP

log = logging.getLogger(__name__)

CLASSES = {CLUSTER: DaskCluster, WORKER_GROUP: DaskWorkerGroup, AUTOSCALER: DaskAutoscaler, POD: Pod}
# Only the pods of Dask clusters: every pod the operator makes carries the cluster label.
SELECTORS = {POD: LABEL_CLUSTER}


def credentials_rejected(error: BaseException) -> bool:
    """Whether a failed call says that our credentials or CA no longer fit the API server
    (httpx wraps TLS failures in ConnectError, so look along the chain)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        if isinstance(seen, kr8s.ServerError) and getattr(seen.response, "status_code", None) == 401:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Kr8sBackend:
    def __init__(self, config: DaskK8sLab) -> None:
        self.config = config
        self._api = None
        self._tasks: list[asyncio.Task] = []
        self._targets: dict[tuple[str, str], tuple[str, int]] = {}
        self._forwards: dict[tuple[str, str], PortForward] = {}
        self._target_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._api_lock = asyncio.Lock()
        self.timeouts = watching.Timeouts(request=config.request_timeout, watch=config.watch_timeout)
        # at most this many log and event reads at once, whatever the number of pods or requests
        self._reads = asyncio.Semaphore(config.read_concurrency)

    async def api(self):
        async with self._api_lock:
            if self._api is None:
                self._api = await self._new_api()
            return self._api

    async def _new_api(self):
        kwargs = {}
        if self.config.kubeconfig:
            kwargs["kubeconfig"] = self.config.kubeconfig
        if self.config.context:
            kwargs["context"] = self.config.context
        return await uncached_client(lambda: watching.connect(lambda: kr8s.asyncio.api(**kwargs), self.timeouts))

    def _drop_api(self, api) -> None:
        """Forget a client whose credentials the API server no longer accepts; the next call
        makes a new one from the kubeconfig (or service account) as it is now."""
        if self._api is api:
            self._api = None

    async def default_namespace(self) -> str:
        return (await self.api()).namespace

    # -- informers -------------------------------------------------------------------------------

    async def start(self, namespaces: list[str], sink: WatchSink) -> None:
        await self.api()
        for namespace in namespaces:
            for kind in CLASSES:
                self._tasks.append(asyncio.ensure_future(self._informer(kind, namespace, sink)))

    async def _informer(self, kind: str, namespace: str, sink: WatchSink) -> None:
        """List, then watch from the list's resourceVersion; list again after an expiry (at once,
        once) or any other failure (after a back-off)."""
        delay = 0.5

        def on_list(objects: list[dict]) -> None:
            nonlocal delay
            sink.on_replace(kind, namespace, objects)
            sink.on_synced(kind, namespace)
            delay = 0.5

        def on_event(event_type: str, obj: dict) -> None:
            sink.on_event(kind, event_type, obj)

        while True:
            api = None
            try:
                api = await self.api()
                await watching.follow(api, CLASSES[kind], namespace, SELECTORS.get(kind), on_list, on_event,
                                      self.timeouts)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("dask-k8s-lab: watch of %s in %s failed (%s); retrying in %.1fs", kind, namespace,
                            watching.describe(e), delay)
                sink.on_watch_error(kind, namespace, e)
                if credentials_rejected(e):  # e.g. the cluster was recreated with a new CA
                    self._drop_api(api)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)  # back within seconds of an API server restart

    # -- calls -----------------------------------------------------------------------------------

    async def create(self, manifest: dict) -> dict:
        cls = CLASSES[manifest["kind"]]
        obj = cls(manifest, api=await self.api())
        await obj.create()
        return obj.raw

    async def patch(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
        obj = CLASSES[kind]({"metadata": {"name": name, "namespace": namespace}}, api=await self.api())
        await obj.patch(patch)
        return obj.raw

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        obj = CLASSES[kind]({"metadata": {"name": name, "namespace": namespace}}, api=await self.api())
        await obj.delete(propagation_policy="Background")

    async def pod_logs(self, namespace: str, pod: str, container: str | None, tail_lines: int, previous: bool = False) -> str:
        """The last ``tail_lines`` lines, at most ``log_limit_bytes`` of them: the API server cuts
        the log, so a huge one never reaches this process."""
        obj = Pod({"metadata": {"name": pod, "namespace": namespace}}, api=await self.api())
        limit = self.config.log_limit_bytes
        async with self._reads:
            lines = [
                line
                async for line in obj.logs(container=container, tail_lines=tail_lines, limit_bytes=limit,
                                           previous=previous, timeout=self.timeouts.client())
            ]
        text = "\n".join(lines)
        if len(text.encode()) + 1 >= limit:
            text += f"\n(cut at {limit} bytes: see kubectl logs {pod} -n {namespace} for the rest)"
        return text

    async def events(self, namespace: str, field_selector: str | None = None) -> list[dict]:
        """Events in ``namespace``, only those the field selector (e.g. ``involvedObject.name=x``) picks."""
        api = await self.api()
        async with self._reads:
            return [
                event.raw
                async for event in api.async_get(Event, namespace=namespace, field_selector=field_selector)
            ]

    # -- dashboards ------------------------------------------------------------------------------

    async def dashboard_target(self, namespace: str, cluster: str, scheduler_pod: dict | None) -> tuple[str, int]:
        key = (namespace, cluster)
        lock = self._target_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._targets:
                self._targets[key] = await self._resolve(namespace, cluster, scheduler_pod)
            return self._targets[key]

    async def _resolve(self, namespace: str, cluster: str, scheduler_pod: dict | None) -> tuple[str, int]:
        service = await Service.get(scheduler_name(cluster), namespace=namespace, api=await self.api())
        port = next(
            (p["port"] for p in service.spec.get("ports", []) if p.get("name") == DASHBOARD_PORT_NAME), DASHBOARD_PORT
        )
        cluster_ip = service.spec.get("clusterIP")
        mode = self.config.dashboard_connection
        if mode == "direct" or (mode == "auto" and cluster_ip and await self._answers(cluster_ip, port)):
            return cluster_ip, port
        container_port = DASHBOARD_PORT
        for container in ((scheduler_pod or {}).get("spec") or {}).get("containers") or []:
            for p in container.get("ports") or []:
                if p.get("name") == DASHBOARD_PORT_NAME:
                    container_port = p["containerPort"]
        forward = service.portforward(container_port, local_port="auto")  # kr8s public API: start()/stop()
        local_port = await forward.start()
        self._forwards[(namespace, cluster)] = forward
        return "127.0.0.1", local_port

    async def _answers(self, host: str, port: int) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.config.direct_connect_timeout)
        except (OSError, asyncio.TimeoutError):
            return False
        writer.close()
        return True

    async def forget_cluster(self, namespace: str, cluster: str) -> None:
        self._targets.pop((namespace, cluster), None)
        forward = self._forwards.pop((namespace, cluster), None)
        if forward is not None:
            try:
                await forward.stop()
            except Exception as e:  # already gone
                log.debug("stopping port-forward of %s/%s: %s", namespace, cluster, e)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for namespace, cluster in list(self._forwards):
            await self.forget_cluster(namespace, cluster)
        self._tasks.clear()
        self._api = None
