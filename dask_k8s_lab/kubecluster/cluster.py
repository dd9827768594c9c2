"""``KubeCluster``: create or attach to a DaskCluster and drive it from Python.

One asyncio core (every ``_method`` is a coroutine running on the cluster's loop) with the thin
sync facade that distributed's ``Cluster`` provides through ``self.sync``. The class is composed
of the concerns in this package: start-up (:mod:`.startup`), scaling (:mod:`.scaling`),
permission and quota checks (:mod:`.guards`), the running watch (:mod:`.monitor`), logs and
links (:mod:`.views`); its messages are in :mod:`.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
import kr8s
from dask_k8s_common.resources import DaskCluster
from distributed.core import Status, rpc
from distributed.utils import NoOpAwaitable
from kr8s.asyncio.objects import Service

from .. import ownership, quota
from ..auth import ClusterAuth, current_namespace, resolve_api
from ..kube import ensure_crds, fetch, status_code
from ..lifecycle import KubernetesCluster
from ..networking import connect_scheduler, list_node_addresses, wait_for_scheduler
from ..options import KubeClusterOptions
from ..permissions import Permissions
from ..progress import ComponentState, StartupDisplay
from ..specs import make_cluster_spec, scheduler_service_name
from ..validation import CreateMode
from .errors import already_exists_message, create_error, not_found_message, start_error
from .guards import GuardsMixin
from .monitor import MonitorMixin
from .scaling import ScalingMixin
from .startup import StartupMixin
from .views import ViewsMixin

logger = logging.getLogger(__name__)


class KubeCluster(StartupMixin, ScalingMixin, GuardsMixin, MonitorMixin, ViewsMixin, KubernetesCluster):
    """Launch or attach to a Dask cluster on Kubernetes, run by the Dask operator.

    All arguments are keyword-only; unset ones come from the ``kubernetes.*`` Dask config.

    Parameters
    ----------
    name: Cluster name (default ``kubernetes.name``, ``dask-{user}-{uuid}``). Ignored in favour of
        ``custom_cluster_spec['metadata']['name']`` when a custom spec is given.
    namespace: Namespace (default: the current context's or service account's).
    image: Container image of scheduler and workers.
    n_workers: Workers in the default group at creation (default 0).
    resources: ``{"requests": {...}, "limits": {...}}`` for scheduler and worker containers.
    env: A mapping or a list of Kubernetes env entries for scheduler and workers.
    worker_command: Worker command, a string or a list (default ``dask worker``).
    port_forward_cluster_ip: Always port-forward a ClusterIP Service instead of trying it directly.
    create_mode: ``CreateMode`` (or its name): CREATE_OR_CONNECT, CREATE_ONLY, CONNECT_ONLY.
    shutdown_on_close: Delete the cluster on close. Default: True if this object created it,
        False if it attached to an existing one.
    idle_timeout: Seconds of scheduler idleness after which the operator deletes the cluster.
    resource_timeout: Seconds to wait for each resource to reach its expected state (default 60).
    scheduler_service_type: ClusterIP, NodePort or LoadBalancer.
    custom_cluster_spec: A DaskCluster manifest (dict) or a path to a YAML one.
    scheduler_forward_port: Local port for a forwarded dashboard (forces forwarding it).
    jupyter: Run Jupyter on the scheduler (``jupyter_link``).
    auth: ``ClusterAuth`` or a list of them (default: kr8s discovery).
    quiet: No startup display.
    """

    #: Every KubeCluster of this process, for closing at exit (our own registry).
    _instances: ClassVar[weakref.WeakSet[KubeCluster]] = weakref.WeakSet()

    def __init__(
        self,
        *,
        name: str | None = None,
        namespace: str | None = None,
        image: str | None = None,
        n_workers: int | None = None,
        resources: dict[str, Any] | None = None,
        env: dict[str, str] | list[dict[str, Any]] | None = None,
        worker_command: str | list[str] | None = None,
        port_forward_cluster_ip: bool | None = None,
        create_mode: CreateMode | str | None = None,
        shutdown_on_close: bool | None = None,
        idle_timeout: int | None = None,
        resource_timeout: float | None = None,
        scheduler_service_type: str | None = None,
        custom_cluster_spec: str | dict[str, Any] | None = None,
        scheduler_forward_port: int | None = None,
        jupyter: bool | None = None,
        auth: ClusterAuth | Sequence[ClusterAuth] | None = None,
        loop: Any = None,
        asynchronous: bool = False,
        quiet: bool = False,
        **kwargs: Any,
    ):
        self._options = KubeClusterOptions.resolve(
            name=name,
            namespace=namespace,
            image=image,
            n_workers=n_workers,
            resources=resources,
            env=env,
            worker_command=worker_command,
            port_forward_cluster_ip=port_forward_cluster_ip,
            create_mode=create_mode,
            shutdown_on_close=shutdown_on_close,
            idle_timeout=idle_timeout,
            resource_timeout=resource_timeout,
            scheduler_service_type=scheduler_service_type,
            custom_cluster_spec=custom_cluster_spec,
            scheduler_forward_port=scheduler_forward_port,
            jupyter=jupyter,
        )
        self._auth = auth
        self._api: Any = None
        self.namespace: str | None = self._options.namespace
        self.shutdown_on_close: bool | None = self._options.shutdown_on_close
        self.created = False  # True once this object has created the DaskCluster
        self._worker_spec: dict[str, Any] | None = None  # the cluster's default worker section
        self.jupyter = self._options.jupyter  # updated from the scheduler args once attached
        self._components: list[ComponentState] = []
        self._log_cache: dict[tuple[str, int], str] = {}
        self._watch_task: asyncio.Task | None = None
        self._display: StartupDisplay | None = None
        self._permissions: Permissions | None = None
        #: How this client's python/dask/distributed/cloudpickle/msgpack differ from the
        #: scheduler's and workers' (``{"mismatches": [...], "fix": str}``), or None if they match.
        self.version_skew: dict[str, Any] | None = None
        self._versions_of: frozenset[str] | None = None  # the workers the last check saw
        super().__init__(asynchronous=asynchronous, loop=loop, quiet=quiet, name=self._options.name, **kwargs)
        KubeCluster._instances.add(self)
        if not self.asynchronous:
            self._start_sync()

    # ------------------------------------------------------------------ lifecycle

    async def _start_resources(self) -> None:
        self._display = StartupDisplay(f"Creating KubeCluster {self.name!r}", quiet=self.quiet)
        try:
            try:
                await self._start_cluster()
            except kr8s.ServerError as e:
                translated = start_error(e, str(self.namespace))
                if translated is not None:
                    raise translated from None
                raise
        except BaseException as e:
            self._display.finish(self._components, f"KubeCluster {self.name!r} failed: {type(e).__name__}")
            raise
        self._display.finish(self._components, f"KubeCluster {self.name!r} is running")
        self._watch_task = asyncio.create_task(self._watch_components())

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

    async def _cleanup_failed_start(self) -> None:
        """Leave nothing behind: stop forwards, close the rpc and delete what we created."""
        await super()._cleanup_failed_start()
        if self.created and self._api is not None:
            with contextlib.suppress(Exception):
                await self._delete_cluster(timeout=30)

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

    def close(self, timeout: float | None = 3600) -> Any:
        """Close the connection; delete the cluster if ``shutdown_on_close``."""
        if self.status == Status.closed:
            return NoOpAwaitable() if self.asynchronous else None
        try:
            return self.sync(self._shutdown, timeout=timeout)
        except RuntimeError:  # the loop is gone at interpreter exit
            return None

    async def _shutdown(self, timeout: float | None = None) -> None:
        if self.status == Status.closed:
            return
        if self.shutdown_on_close and self._api is not None:
            await self._require(
                "delete",
                f"delete KubeCluster {self.name!r}",
                "It is still running and connected; set shutdown_on_close = False and close() again "
                "to leave it running, or ask for the delete permission.",
            )
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch_task
        await self._disconnect_scheduler()
        await self._stop_networking()
        if self.shutdown_on_close and self._api is not None:
            await self._delete_cluster(timeout)
            self._log(f"Deleted DaskCluster {self.name}")
        self.status = Status.closed

    @classmethod
    def from_name(cls, name: str, **kwargs: Any) -> KubeCluster:
        """Attach to an existing cluster; closing this object leaves the cluster running."""
        kwargs.setdefault("shutdown_on_close", False)
        return cls(name=name, create_mode=CreateMode.CONNECT_ONLY, **kwargs)


KubeCluster.__module__ = "dask_k8s_lab.kubecluster"  # where users import it from


def reap_clusters() -> None:
    """Close clusters this process created and did not close, without raising at exit."""
    for cluster in list(KubeCluster._instances):
        if cluster.status == Status.closed or not cluster.shutdown_on_close or cluster.asynchronous:
            continue
        with contextlib.suppress(BaseException):
            cluster.close(timeout=10)
