"""kr8s classes for the four Dask custom resources (group ``kubernetes.dask.org``, version ``v1``).

These are asyncio kr8s objects. The operator, the Python API and the server extension all use
them, so the class names and the scalable field are part of the contract:

- ``DaskCluster`` and ``DaskWorkerGroup`` scale through ``spec.worker.replicas`` (the CRDs'
  scale subresource points at the same field, so ``kubectl scale`` and ``.scale()`` agree);
- ``DaskJob`` and ``DaskAutoscaler`` are not scalable.

The names, labels and kinds come from :mod:`dask_k8s_common.contract` (re-exported here, so that
clients can select pods without importing the operator).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from kr8s.asyncio.objects import APIObject, Pod, Service

from .contract import (
    ANNOTATION_OWNER,
    API_VERSION,
    COMPONENT_JOB_RUNNER,
    COMPONENT_SCHEDULER,
    COMPONENT_WORKER,
    COMPONENT_WORKER_GROUP,
    GROUP,
    KINDS,
    LABEL_CLUSTER,
    LABEL_COMPONENT,
    LABEL_OWNER,
    LABEL_WORKER_GROUP,
    VERSION,
    default_worker_group_name,
    job_runner_name,
    scheduler_name,
)


class _DaskResource(APIObject):
    """Shared base: namespaced, in the ``kubernetes.dask.org/v1`` group."""

    version = API_VERSION
    namespaced = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:  # the REST names follow from the kind, by the contract
            cls.plural = cls.endpoint = KINDS[cls.kind]
            cls.singular = cls.kind.lower()

    @property
    def status(self) -> dict:
        return dict(self.raw.get("status") or {})


class _Scalable(_DaskResource):
    """Scales through ``spec.worker.replicas`` (as the CRDs' scale subresource does)."""

    scalable = True
    scalable_spec = "worker.replicas"


class DaskCluster(_Scalable):
    """A Dask cluster: scheduler Pod + Service and a default worker group."""

    kind = "DaskCluster"

    @property
    def phase(self) -> str | None:
        return self.status.get("phase")

    async def ready(self) -> bool:
        """True once the operator reports the cluster Running (read afresh from the API)."""
        await self.refresh()
        return self.phase == "Running"

    async def worker_groups(self) -> list[DaskWorkerGroup]:
        """The DaskWorkerGroups labelled with this cluster (the default group and those made by
        ``add_worker_group``), selected by the API server."""
        return [
            group
            async for group in self.api.async_get(
                DaskWorkerGroup, namespace=self.namespace, label_selector={LABEL_CLUSTER: self.name}
            )
        ]

    async def scheduler_pod(self) -> Pod:
        """The scheduler Pod (``kr8s.NotFoundError`` until the operator has created it)."""
        return await Pod.get(scheduler_name(self.name), namespace=self.namespace, api=self.api)

    async def scheduler_service(self) -> Service:
        """The scheduler Service (``kr8s.NotFoundError`` until the operator has created it)."""
        return await Service.get(scheduler_name(self.name), namespace=self.namespace, api=self.api)

    async def pods(self) -> AsyncIterator[Pod]:
        """The scheduler and worker pods of this cluster."""
        async for pod in self.api.async_get(
            Pod, namespace=self.namespace, label_selector={LABEL_CLUSTER: self.name}
        ):
            yield pod


class DaskWorkerGroup(_Scalable):
    """A homogeneous, scalable group of workers attached to a DaskCluster."""

    kind = "DaskWorkerGroup"

    @property
    def cluster_name(self) -> str:
        return self.spec["cluster"]

    async def cluster(self) -> DaskCluster:
        """The DaskCluster this group belongs to."""
        return await DaskCluster.get(self.cluster_name, namespace=self.namespace, api=self.api)

    async def pods(self) -> list[Pod]:
        """The worker pods of this group (including ones that are terminating)."""
        return [
            pod
            async for pod in self.api.async_get(
                Pod,
                namespace=self.namespace,
                label_selector={
                    LABEL_CLUSTER: self.cluster_name,
                    LABEL_WORKER_GROUP: self.name,
                    LABEL_COMPONENT: COMPONENT_WORKER,
                },
            )
        ]


class DaskJob(_DaskResource):
    """A runner Pod that computes on its own DaskCluster, removed when the runner ends."""

    kind = "DaskJob"

    @property
    def job_status(self) -> str | None:
        return self.status.get("jobStatus")

    async def pod(self) -> Pod:
        """The runner Pod (``kr8s.NotFoundError`` until the operator has started it)."""
        return await Pod.get(job_runner_name(self.name), namespace=self.namespace, api=self.api)

    async def cluster(self) -> DaskCluster:
        name = self.status.get("clusterName") or self.name
        return await DaskCluster.get(name, namespace=self.namespace, api=self.api)


class DaskAutoscaler(_DaskResource):
    """Adaptive scaling of one worker group of a cluster between a minimum and a maximum."""

    kind = "DaskAutoscaler"

    async def cluster(self) -> DaskCluster:
        return await DaskCluster.get(self.spec["cluster"], namespace=self.namespace, api=self.api)


__all__ = [
    "ANNOTATION_OWNER",
    "API_VERSION",
    "COMPONENT_JOB_RUNNER",
    "COMPONENT_SCHEDULER",
    "COMPONENT_WORKER",
    "COMPONENT_WORKER_GROUP",
    "GROUP",
    "LABEL_CLUSTER",
    "LABEL_COMPONENT",
    "LABEL_OWNER",
    "LABEL_WORKER_GROUP",
    "VERSION",
    "DaskAutoscaler",
    "DaskCluster",
    "DaskJob",
    "DaskWorkerGroup",
    "default_worker_group_name",
    "job_runner_name",
    "scheduler_name",
]
