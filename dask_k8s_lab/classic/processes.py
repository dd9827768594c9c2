"""The scheduler and worker processes of a classic ``KubeCluster``, as distributed
``ProcessInterface`` classes that create pods through kr8s.

``SchedulerPod`` runs the scheduler as a Job in Kubernetes (``deploy_mode="remote"``) and
connects to it through its Service; ``WorkerPod`` is one worker pod. Both share a
``ClusterContext``: the kr8s client (made in the cluster's event loop), the namespace and the
scheduler pod that owns everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import kr8s
from dask_k8s_common.contract import (
    COMPONENT_SCHEDULER,
    COMPONENT_WORKER,
    FATAL_WAITING_REASONS,
    IMAGE_PULL_REASONS,
    scheduler_name,
)
from distributed.core import rpc
from distributed.deploy.spec import ProcessInterface
from kr8s.asyncio.objects import Job, Pod, PodDisruptionBudget, Service

from .. import networking
from ..auth import ClusterAuth, current_namespace
from ..kube import pod_log_tail
from . import manifests
from .templates import format_name

logger = logging.getLogger(__name__)

POLL = 0.5
DELETE_TIMEOUT = 60.0
#: A pod waiting for one of these will not start by itself soon: the cluster fails (an image that
#: cannot be pulled is final here, unlike in the operator's progress, which may see it clear).
FAILED_REASONS = FATAL_WAITING_REASONS | IMAGE_PULL_REASONS


@dataclass
class ClusterContext:
    """What the scheduler and the workers of one cluster share."""

    name: str
    namespace: str | None
    auth: ClusterAuth | Sequence[ClusterAuth] | None
    worker_template: dict[str, Any] | None
    env: dict[str, str]
    worker_name: str
    scheduler_pod: dict[str, Any] | None = None  # the owner of the Service, PDB and workers
    api: Any = None
    _lock: asyncio.Lock | None = field(default=None, repr=False)

    async def client(self) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.api is None:
                self.api = await ClusterAuth.load_first(self.auth, namespace=self.namespace)
                self.namespace = self.namespace or current_namespace(self.api)
        return self.api


async def _delete(obj: Any) -> None:
    with contextlib.suppress(kr8s.NotFoundError):
        await obj.delete(propagation_policy="Background")


async def _wait_gone(objs: list[Any], timeout: float = DELETE_TIMEOUT) -> None:
    """Until every object is gone (404), or ``timeout``; a leftover is logged, not raised."""
    deadline = asyncio.get_running_loop().time() + timeout
    for obj in objs:
        while asyncio.get_running_loop().time() < deadline:
            try:
                await obj.refresh()
            except kr8s.NotFoundError:
                break
            await asyncio.sleep(POLL)
        else:
            logger.warning("%s %s still exists after %.0fs", obj.kind, obj.name, timeout)


def _waiting_reason(pod: dict[str, Any]) -> str | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        reason = ((status.get("state") or {}).get("waiting") or {}).get("reason")
        if reason in FAILED_REASONS:
            return reason
    return None


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class SchedulerPod(ProcessInterface):
    """The scheduler in Kubernetes: a Job's pod, a Service and a PodDisruptionBudget.

    ``attach=True`` finds those of an existing cluster instead (``KubeCluster.from_name``) and
    leaves them in place on close.
    """

    def __init__(self, context: ClusterContext, scheduler_template: dict[str, Any] | None = None,
                 service_type: str = "ClusterIP", idle_timeout: str | None = None,
                 wait_timeout: float = 30, name_resolution_retries: int = 20,
                 attach: bool = False, lease: float | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.context = context
        self.scheduler_template = scheduler_template
        self.service_type = service_type
        self.idle_timeout = idle_timeout
        self.wait_timeout = wait_timeout
        self.name_resolution_retries = name_resolution_retries
        self.attach = attach
        self.lease = None if attach else lease  # the creator renews it, not who attaches
        self._renewal: asyncio.Task | None = None
        self.contact_address: str | None = None  # what workers use; .address is ours
        self.connection_mode = "in-cluster"
        self.dashboard: networking.Endpoint | None = None
        self._endpoints: list[networking.Endpoint] = []
        self._created: list[Any] = []

    async def start(self) -> None:
        ctx = self.context
        api = await ctx.client()
        try:
            if not self.attach:
                job = Job(manifests.scheduler_job(
                    self.scheduler_template, ctx.name, ctx.namespace, self.idle_timeout,
                    ctx.env, ctx.worker_template, self.lease), api=api)
                await job.create()
                self._created.append(job)
                if self.lease:
                    self._renewal = asyncio.create_task(self._renew(job, self.lease))
            else:
                job = await Job.get(scheduler_name(ctx.name), namespace=ctx.namespace, api=api)
                ctx.worker_template = json.loads(
                    job.annotations.get(manifests.TEMPLATE_ANNOTATION) or "null")
            pod = await self._wait_for_pod(api)
            ctx.scheduler_pod = pod.raw
            if self.attach:
                service = await Service.get(ctx.name, namespace=ctx.namespace, api=api)
            else:
                service = Service(manifests.scheduler_service(
                    ctx.name, ctx.namespace, pod.raw, self.service_type), api=api)
                await service.create()
                self._created.append(service)
                pdb = PodDisruptionBudget(
                    manifests.scheduler_pdb(ctx.name, ctx.namespace, pod.raw), api=api)
                await pdb.create()
                self._created.append(pdb)
            self.contact_address = manifests.service_address(ctx.name, ctx.namespace)
            await self._connect(api, service)
        except BaseException:
            await self.close()
            raise
        await super().start()

    @staticmethod
    async def _renew(job: Job, lease: float) -> None:
        """Keep the Job's deadline ``lease`` seconds ahead while this process lives."""
        loop = asyncio.get_running_loop()
        created = loop.time()
        while True:
            await asyncio.sleep(lease / 4)
            try:
                await job.patch({"spec": {"activeDeadlineSeconds": manifests.lease_deadline(
                    loop.time() - created, lease)}})
            except kr8s.NotFoundError:
                return
            except Exception as e:  # a blip: the next renewal is well within the lease
                logger.warning("could not renew the lease of %s: %s", job.name, e)

    async def _wait_for_pod(self, api: Any) -> Pod:
        """The Job's pod once it is ready; a crashing or unpullable scheduler fails at once."""
        ctx = self.context
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_timeout if self.wait_timeout else None
        selector = manifests.selector(ctx.name, COMPONENT_SCHEDULER)
        while True:
            pods = [p async for p in api.async_get(Pod, namespace=ctx.namespace,
                                                   label_selector=selector)]
            live = [p for p in pods if not p.metadata.get("deletionTimestamp")]
            if live:
                pod = live[0]
                reason = _waiting_reason(pod.raw)
                phase = (pod.raw.get("status") or {}).get("phase")
                if reason or phase in ("Failed", "Succeeded"):
                    logs = await pod_log_tail(pod)
                    raise RuntimeError(f"the scheduler pod {pod.name} cannot start "
                                       f"({reason or phase}). Its log:\n{logs}")
                if _ready(pod.raw):
                    return pod
            if deadline is not None and loop.time() > deadline:
                raise TimeoutError(
                    f"the scheduler of {ctx.name!r} was not ready within {self.wait_timeout:g}s "
                    "(scheduler_service_wait_timeout / kubernetes.scheduler-service-wait-timeout)")
            await asyncio.sleep(POLL)

    async def _connect(self, api: Any, service: Service) -> None:
        """Set ``address`` to where this process reaches the scheduler: the Service by name when
        running in the cluster, else a LoadBalancer/NodePort/ClusterIP address or a
        port-forward."""
        ctx = self.context
        host = f"{ctx.name}.{ctx.namespace}"
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            for _ in range(self.name_resolution_retries):
                with contextlib.suppress(OSError):
                    await asyncio.get_running_loop().getaddrinfo(host, manifests.SCHEDULER_PORT)
                    if await networking.tcp_reachable(host, manifests.SCHEDULER_PORT, 2):
                        self.address = self.contact_address
                        return
                await asyncio.sleep(POLL)
        nodes = await networking.list_node_addresses(api) if self.service_type == "NodePort" else ()
        await service.refresh()
        if self.service_type == "LoadBalancer":
            await self._wait_for_ingress(service)
        comm, dashboard = await networking.connect_scheduler(
            # a ready scheduler answers at once; the margin is for a loaded node's Service proxy
            service, port_forward_cluster_ip=False, direct_timeout=3.0, nodes=nodes)
        self._endpoints = [e for e in (comm, dashboard) if e is not None]
        self.dashboard = dashboard
        self.address = comm.address
        self.connection_mode = comm.mode
        comm_rpc = rpc(self.address)
        try:
            await networking.wait_for_scheduler(comm_rpc, self.address, self.wait_timeout or 60,
                                                f"cluster {ctx.name!r}")
        finally:
            await comm_rpc.close_rpc()

    async def _wait_for_ingress(self, service: Service) -> None:
        """A LoadBalancer gets its address some time after the Service exists, and routes to the
        ready scheduler some time after that; connecting before either would quietly fall back
        to a port-forward."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.wait_timeout or 60)

        def ingress() -> str | None:
            entries = ((service.raw.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            return next((e.get("ip") or e.get("hostname") for e in entries), None)

        while not (ingress() and await networking.tcp_reachable(ingress(), manifests.SCHEDULER_PORT, 1)):
            if loop.time() > deadline:
                logger.warning("LoadBalancer %s did not answer within %gs; trying other routes",
                               service.name, self.wait_timeout or 60)
                return
            await asyncio.sleep(POLL)
            await service.refresh()

    async def close(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
        for endpoint in self._endpoints:
            if endpoint.forwarder is not None:
                await endpoint.forwarder.stop()
        if self._created:
            # the Job first: its pod owns the rest; then each one, so close() leaves nothing
            owned = []
            if self.context.scheduler_pod is not None:
                owned.append(Pod(self.context.scheduler_pod, api=self.context.api))
            objs = [*self._created, *owned]
            for obj in objs:
                await _delete(obj)
            await _wait_gone(objs)
            self._created = []
        await super().close()


class WorkerPod(ProcessInterface):
    """One worker pod, owned by the scheduler pod when there is one."""

    def __init__(self, scheduler: str, name: str | int, context: ClusterContext, **kwargs: Any):
        super().__init__(**kwargs)
        self.scheduler = scheduler
        self.name = name
        self.context = context
        self.pod: Pod | None = None

    async def start(self) -> None:
        ctx = self.context
        api = await ctx.client()
        if ctx.worker_template is None:
            raise RuntimeError(f"cluster {ctx.name!r} has no worker template to create workers")
        pod_name = format_name(ctx.worker_name, user=manifests.user(), uuid=uuid.uuid4().hex[:10])
        manifest = manifests.worker_pod(ctx.worker_template, ctx.name, ctx.namespace, pod_name,
                                        str(self.name), self.scheduler, ctx.env, ctx.scheduler_pod)
        self.pod = Pod(manifest, api=api)
        await self.pod.create()
        await super().start()

    async def close(self) -> None:
        if self.pod is not None:
            await _delete(self.pod)
            await _wait_gone([self.pod])
        await super().close()


async def pod_logs(context: ClusterContext, scheduler: bool, workers: bool) -> dict[str, str]:
    """{pod name: log text} of the cluster's scheduler and/or worker pods."""
    api = await context.client()
    components = [c for c, wanted in ((COMPONENT_SCHEDULER, scheduler),
                                      (COMPONENT_WORKER, workers)) if wanted]
    out: dict[str, str] = {}
    for component in components:
        selector = manifests.selector(context.name, component)
        async for pod in api.async_get(Pod, namespace=context.namespace, label_selector=selector):
            try:
                out[pod.name] = "\n".join([line async for line in pod.logs()])
            except Exception as e:  # a pod that has not started has no log yet
                out[pod.name] = f"(no log: {e})"
    return out
