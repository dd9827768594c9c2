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


class ScalingMixin:
    """KubeCluster's scale/adapt and worker-group methods (see :class:`.cluster.KubeCluster`)."""

    name: str
    namespace: str | None
    _api: Any
    _worker_spec: dict[str, Any] | None

    def scale(self, n: int, worker_group: str = "default") -> Any:
        """Scale a worker group (default: the cluster's default group) to ``n`` workers.

        Turns off adaptive scaling of that group. Scale-down is done by the operator, which
        retires the group's workers through the scheduler so their data is kept.
        """
        return self.sync(self._scale, n, worker_group)

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

    def adapt(
        self,
        minimum: int | None = None,
        maximum: int | None = None,
        worker_group: str = "default",
        scale_down_delay: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Let the operator scale a worker group between ``minimum`` and ``maximum`` workers.

        A DaskAutoscaler resource does the work server-side; ``scale()`` turns it off again.
        ``scale_down_delay`` (seconds) is how long the scheduler's target must stay lower before
        workers are removed (the operator's default applies when None).
        """
        if kwargs:
            raise TypeError(f"adapt() got unexpected arguments {sorted(kwargs)}; pass minimum and maximum")
        return self.sync(self._adapt, minimum, maximum, worker_group, scale_down_delay)

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

    def add_worker_group(
        self,
        name: str | None = None,
        n_workers: int = 3,
        image: str | None = None,
        resources: dict[str, Any] | None = None,
        worker_command: str | list[str] | None = None,
        env: dict[str, str] | list[dict[str, Any]] | None = None,
        custom_spec: dict[str, Any] | None = None,
        n: int | None = None,
    ) -> Any:
        """Create DaskWorkerGroup ``<cluster>-<name>``; unset options follow the cluster's workers.

        ``n`` is an alias of ``n_workers`` (the documented example uses it). Without ``name``, a
        ``custom_spec`` group gets a generated one.
        """
        if n is not None:
            n_workers = n
        if name is None:
            if custom_spec is None:
                raise ValidationError("name=None: pass a worker group name, e.g. add_worker_group('highmem')")
            name = f"group-{uuid.uuid4().hex[:6]}"
        validate_worker_group_name(name, self.name)
        if custom_spec is not None:
            if not isinstance(custom_spec, dict) or not (custom_spec.get("spec") or {}).get("containers"):
                raise ValidationError(
                    "custom_spec must be a worker spec like make_worker_spec() returns: "
                    "{'replicas': n, 'spec': {'containers': [...]}}"
                )
            worker = copy.deepcopy(custom_spec)
        else:
            worker = derive_worker_spec(
                self._worker_spec or {},
                n_workers=n_workers,
                image=image,
                resources=resources,
                env=env,
                worker_command=worker_command,
            )
        return self.sync(self._add_worker_group, name, worker)

    async def _add_worker_group(self, name: str, worker: dict[str, Any]) -> None:
        manifest = make_worker_group(self.name, name, worker)
        try:
            await DaskWorkerGroup(manifest, namespace=self.namespace, api=self._api).create()
        except kr8s.ServerError as e:
            if status_code(e) == 409:
                raise ValueError(f"Worker group {name!r} already exists in KubeCluster {self.name!r}") from None
            raise

    def delete_worker_group(self, name: str) -> Any:
        """Delete the worker group ``name`` (and its autoscaler, if any)."""
        validate_worker_group_name(name, self.name)
        return self.sync(self._delete_worker_group, name)

    async def _delete_worker_group(self, name: str) -> None:
        await self._delete_autoscaler(name)
        group = self._group(DaskWorkerGroup, name)
        try:
            await group.delete()
        except kr8s.NotFoundError:
            raise ValueError(f"Worker group {name!r} does not exist in KubeCluster {self.name!r}") from None
