"""Scaling a KubeCluster: fixed counts, the operator's autoscaler, and extra worker groups."""

from __future__ import annotations

import contextlib
import copy
import uuid
from typing import Any

import kr8s
from dask_k8s_common.resources import DaskAutoscaler, DaskCluster, DaskWorkerGroup

from .. import config, quota
from ..kube import fetch, status_code
from ..specs import (
    autoscaler_name,
    derive_worker_spec,
    make_autoscaler,
    make_worker_group,
    worker_group_name,
)
from ..validation import (
    ValidationError,
    validate_adapt_bounds,
    validate_count,
    validate_timeout,
    validate_worker_group_name,
)

#: adapt() maximum when neither the argument nor ``kubernetes.count.max`` gives one.
DEFAULT_ADAPT_MAXIMUM = 1000


def worker_group_spec(
    name: str | None,
    cluster_name: str,
    cluster_worker: dict[str, Any],
    *,
    n_workers: int,
    image: str | None,
    resources: dict[str, Any] | None,
    worker_command: str | list[str] | None,
    env: dict[str, str] | list[dict[str, Any]] | None,
    custom_spec: dict[str, Any] | None,
) -> tuple[str, dict[str, Any]]:
    """The name and worker section of a new group: ``custom_spec`` as given, else the cluster's
    workers with the given options changed. Without ``name``, a ``custom_spec`` group gets a
    generated one."""
    if name is None:
        if custom_spec is None:
            raise ValidationError("name=None: pass a worker group name, e.g. add_worker_group('highmem')")
        name = f"group-{uuid.uuid4().hex[:6]}"
    validate_worker_group_name(name, cluster_name)
    if custom_spec is not None:
        if not isinstance(custom_spec, dict) or not (custom_spec.get("spec") or {}).get("containers"):
            raise ValidationError(
                "custom_spec must be a worker spec like make_worker_spec() returns: "
                "{'replicas': n, 'spec': {'containers': [...]}}"
            )
        return name, copy.deepcopy(custom_spec)
    return name, derive_worker_spec(
        cluster_worker,
        n_workers=n_workers,
        image=image,
        resources=resources,
        env=env,
        worker_command=worker_command,
    )


class ScalingMixin:
    """KubeCluster's scaling, on its loop (the public methods are on :class:`.cluster.KubeCluster`)."""

    name: str
    namespace: str | None
    _api: Any
    _worker_spec: dict[str, Any] | None

    def _group(self, kind: type, worker_group: str) -> Any:
        """The DaskCluster (``default``) or DaskWorkerGroup object of ``worker_group``, unread."""
        name = self.name if worker_group == "default" else worker_group_name(self.name, worker_group)
        return kind({"metadata": {"name": name}}, namespace=self.namespace, api=self._api)

    async def _scale(self, n: int, worker_group: str = "default") -> None:
        n = validate_count(n, "n")
        validate_worker_group_name(worker_group, self.name)
        await self._require("scale", f"scale KubeCluster {self.name!r}")
        kind = DaskCluster if worker_group == "default" else DaskWorkerGroup
        target = self._group(kind, worker_group)
        found = await fetch(kind, target.name, self.namespace, self._api)
        if found is not None:
            worker = found.raw["spec"].get("worker") or {}
            await self._check_quota(lambda quotas, ranges: quota.scale_refusal(
                str(self.namespace), worker, int(worker.get("replicas") or 0), n,
                f"worker group {worker_group!r} of KubeCluster {self.name!r}", quotas, ranges))
        await self._delete_autoscaler(worker_group)
        try:
            await target.scale(n)
        except kr8s.NotFoundError:
            raise ValueError(
                f"worker_group={worker_group!r} does not exist in KubeCluster {self.name!r}. "
                "Create it with add_worker_group first."
            ) from None

    async def _adapt(
        self, minimum: int | None, maximum: int | None, worker_group: str = "default", scale_down_delay: float | None = None
    ) -> None:
        if minimum is None:
            minimum = 0
        if maximum is None:
            maximum = config.get("count.max") or max(DEFAULT_ADAPT_MAXIMUM, minimum)
        minimum, maximum = validate_adapt_bounds(minimum, maximum)
        validate_worker_group_name(worker_group, self.name)
        if scale_down_delay is not None:
            validate_timeout(scale_down_delay, "scale_down_delay", allow_zero=True)
        await self._require("adapt", f"adapt KubeCluster {self.name!r}")
        body = make_autoscaler(self.name, minimum, maximum, worker_group, scale_down_delay)
        autoscaler = await fetch(DaskAutoscaler, body["metadata"]["name"], self.namespace, self._api)
        if autoscaler is None:
            await DaskAutoscaler(body, namespace=self.namespace, api=self._api).create()
        else:
            await autoscaler.patch({"spec": body["spec"]})

    async def _delete_autoscaler(self, worker_group: str) -> None:
        autoscaler = DaskAutoscaler(
            {"metadata": {"name": autoscaler_name(self.name, worker_group)}}, namespace=self.namespace, api=self._api
        )
        with contextlib.suppress(kr8s.NotFoundError):
            await autoscaler.delete()

    async def _add_worker_group(self, name: str, worker: dict[str, Any]) -> None:
        manifest = make_worker_group(self.name, name, worker)
        try:
            await DaskWorkerGroup(manifest, namespace=self.namespace, api=self._api).create()
        except kr8s.ServerError as e:
            if status_code(e) == 409:
                raise ValueError(f"Worker group {name!r} already exists in KubeCluster {self.name!r}") from None
            raise

    async def _delete_worker_group(self, name: str) -> None:
        await self._delete_autoscaler(name)
        group = self._group(DaskWorkerGroup, name)
        try:
            await group.delete()
        except kr8s.NotFoundError:
            raise ValueError(f"Worker group {name!r} does not exist in KubeCluster {self.name!r}") from None
