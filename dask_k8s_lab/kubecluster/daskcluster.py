"""The DaskCluster behind a KubeCluster: find or create it, reach its scheduler, delete it."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

import httpx
import kr8s
from dask_k8s_common.resources import DaskCluster
from distributed.core import rpc
from kr8s.asyncio.objects import Service

from .. import ownership, quota
from ..auth import current_namespace, resolve_api
from ..kube import ensure_crds, fetch, status_code
from ..networking import connect_scheduler, list_node_addresses, wait_for_scheduler
from ..specs import make_cluster_spec, scheduler_service_name
from ..validation import CreateMode
from .errors import already_exists_message, create_error, not_found_message

logger = logging.getLogger(__name__)


class DaskClusterMixin:
    """KubeCluster's own resource (see :class:`.cluster.KubeCluster`)."""

    name: str
    namespace: str | None
    created: bool
    shutdown_on_close: bool | None
    jupyter: bool
    comm_endpoint: Any
    dashboard_endpoint: Any
    scheduler_comm: Any
    _api: Any
    _auth: Any
    _options: Any
    _worker_spec: dict[str, Any] | None

    async def _start_cluster(self) -> None:
        opts = self._options
        self._api = await resolve_api(self._auth, opts.namespace)
        self.namespace = opts.namespace or current_namespace(self._api)
        await ensure_crds(self._api)
        existing = await fetch(DaskCluster, self.name, self.namespace, self._api)
        if existing is None:
            if opts.create_mode is CreateMode.CONNECT_ONLY:
                raise ValueError(not_found_message(self.name, self.namespace))
            existing = await self._create_cluster()
        elif opts.create_mode is CreateMode.CREATE_ONLY:
            raise ValueError(already_exists_message(self.name, self.namespace))
        self._worker_spec = copy.deepcopy(existing.raw["spec"].get("worker") or {})
        containers = ((existing.raw["spec"].get("scheduler") or {}).get("spec") or {}).get("containers") or [{}]
        self.jupyter = "--jupyter" in (containers[0].get("args") or []) + (containers[0].get("command") or [])
        if self.shutdown_on_close is None:
            self.shutdown_on_close = self.created
        self._log(f"{'Created' if self.created else 'Found'} DaskCluster {self.name} in {self.namespace}")
        await self._wait_for_running()
        await self._connect()
        await self._connect_scheduler()
        await self._check_versions()


    async def _create_cluster(self) -> DaskCluster:
        opts = self._options
        if opts.custom_cluster_spec is not None:
            manifest = copy.deepcopy(opts.custom_cluster_spec)
            if opts.idle_timeout is not None:
                manifest["spec"]["idleTimeout"] = int(opts.idle_timeout)
        else:
            manifest = make_cluster_spec(
                name=self.name,
                image=opts.image,
                n_workers=opts.n_workers,
                resources=opts.resources,
                env=opts.env,
                worker_command=opts.worker_command,
                scheduler_service_type=opts.scheduler_service_type,
                idle_timeout=opts.idle_timeout,
                jupyter=opts.jupyter,
            )
        manifest.setdefault("metadata", {})["namespace"] = self.namespace
        ownership.stamp(manifest, ownership.hub_user())  # in a hub-spawned server's kernel
        cluster = DaskCluster(manifest, namespace=self.namespace, api=self._api)
        await self._require("create", f"create KubeCluster {self.name!r}")
        await self._check_quota(lambda quotas, ranges: quota.create_refusal(
            str(self.namespace), manifest, [], quotas, ranges))
        try:
            await cluster.create()
        except kr8s.ServerError as e:
            if status_code(e) == 409 and self._options.create_mode is CreateMode.CREATE_OR_CONNECT:
                found = await fetch(DaskCluster, self.name, self.namespace, self._api)
                if found is not None:
                    return found
            translated = create_error(e, self.name, str(self.namespace))
            if translated is not None:
                raise translated from None
            raise
        self.created = True
        return cluster


    async def _delete_cluster(self, timeout: float | None) -> None:
        cluster = DaskCluster({"metadata": {"name": self.name}}, namespace=self.namespace, api=self._api)
        try:
            await cluster.delete(propagation_policy="Foreground")
        except kr8s.NotFoundError:
            return
        deadline = time.monotonic() + (timeout or 3600)
        while time.monotonic() < deadline:
            try:
                if not await cluster.exists():
                    return
            except httpx.TransportError as e:  # e.g. a keep-alive connection the server dropped
                logger.debug("checking that %s is gone: %s; asking again", self.name, e)
            await asyncio.sleep(0.25)
        logger.warning("DaskCluster %s still exists %ss after deletion", self.name, timeout)


    async def _connect(self) -> None:
        opts = self._options
        service = await Service.get(scheduler_service_name(self.name), namespace=self.namespace, api=self._api)
        nodes: list[str] = []
        if service.raw["spec"].get("type") == "NodePort":
            nodes = await list_node_addresses(self._api)
        self.comm_endpoint, self.dashboard_endpoint = await connect_scheduler(
            service,
            port_forward_cluster_ip=opts.port_forward_cluster_ip,
            direct_timeout=opts.direct_connect_timeout,
            dashboard_forward_port=opts.scheduler_forward_port,
            nodes=nodes,
        )
        self._log(f"Scheduler at {self.comm_endpoint.address} ({self.comm_endpoint.mode})")
        self.scheduler_comm = rpc(self.comm_endpoint.address)
        await wait_for_scheduler(
            self.scheduler_comm,
            f"{self.comm_endpoint.address} ({self.comm_endpoint.mode})",
            opts.resource_timeout,
            f"KubeCluster {self.name!r}",
        )
