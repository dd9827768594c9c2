"""``KubeCluster``: create or attach to a DaskCluster and drive it from Python.

One asyncio core (every ``_method`` is a coroutine running on the cluster's loop) with the thin
sync facade that distributed's ``Cluster`` provides through ``self.sync``. The public methods are
all here; the coroutines behind them are in this package, one concern per module: the DaskCluster
itself (:mod:`.daskcluster`), start-up (:mod:`.startup`), scaling (:mod:`.scaling`), permission
and quota checks (:mod:`.guards`), the running watch (:mod:`.monitor`), logs (:mod:`.logs`); the
messages are in :mod:`.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar

import kr8s
from distributed.core import Status
from distributed.utils import NoOpAwaitable, format_dashboard_link

from .. import ownership
from ..auth import ClusterAuth
from ..lifecycle import KubernetesCluster
from ..options import KubeClusterOptions
from ..permissions import Permissions
from ..progress import ComponentState, StartupDisplay
from ..validation import CreateMode, validate_worker_group_name
from .daskcluster import DaskClusterMixin
from .errors import start_error
from .guards import GuardsMixin
from .logs import LogsMixin, components_row, fallback_repr
from .monitor import MonitorMixin
from .scaling import ScalingMixin, worker_group_spec
from .startup import StartupMixin

logger = logging.getLogger(__name__)


class KubeCluster(DaskClusterMixin, StartupMixin, ScalingMixin, GuardsMixin, MonitorMixin, LogsMixin, KubernetesCluster):
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

    async def _cleanup_failed_start(self) -> None:
        """Leave nothing behind: stop forwards, close the rpc and delete what we created."""
        await super()._cleanup_failed_start()
        if self.created and self._api is not None:
            with contextlib.suppress(Exception):
                await self._delete_cluster(timeout=30)

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

    # ------------------------------------------------------------------ scaling

    def scale(self, n: int, worker_group: str = "default") -> Any:
        """Scale a worker group (default: the cluster's default group) to ``n`` workers.

        Turns off adaptive scaling of that group. Scale-down is done by the operator, which
        retires the group's workers through the scheduler so their data is kept.
        """
        return self.sync(self._scale, n, worker_group)

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
        name, worker = worker_group_spec(
            name, self.name, self._worker_spec or {}, n_workers=n_workers if n is None else n, image=image,
            resources=resources, worker_command=worker_command, env=env, custom_spec=custom_spec,
        )
        return self.sync(self._add_worker_group, name, worker)

    def delete_worker_group(self, name: str) -> Any:
        """Delete the worker group ``name`` (and its autoscaler, if any)."""
        validate_worker_group_name(name, self.name)
        return self.sync(self._delete_worker_group, name)

    # ------------------------------------------------------------------ logs and links

    def get_logs(self) -> Any:
        """Logs of the scheduler and worker pods, keyed by pod name."""
        return self.sync(self._get_pod_logs)

    logs = get_logs

    @property
    def dashboard_link(self) -> str:
        endpoint = self.dashboard_endpoint
        if endpoint is None:
            return ""
        return ownership.hub_dashboard_link(self.namespace, self.name) or format_dashboard_link(endpoint.host, endpoint.port)

    @property
    def forwarded_dashboard_port(self) -> str | None:
        endpoint = self.dashboard_endpoint
        return str(endpoint.port) if endpoint is not None and endpoint.forwarder is not None else None

    @property
    def jupyter_link(self) -> str:
        return self.dashboard_link.replace("/status", "/jupyter/lab")

    @property
    def components(self) -> list[ComponentState]:
        """The latest state of each component (DaskCluster, scheduler, Service, worker groups)."""
        return list(self._components)

    def _repr_html_(self, cluster_status: str | None = None) -> str:
        try:
            return super()._repr_html_(cluster_status=(cluster_status or "") + components_row(self._components))
        except Exception:  # an older scheduler's info lacks fields this distributed's template needs
            return fallback_repr(self.name, self._components)


KubeCluster.__module__ = "dask_k8s_lab.kubecluster"  # where users import it from


def reap_clusters() -> None:
    """Close clusters this process created and did not close, without raising at exit."""
    for cluster in list(KubeCluster._instances):
        if cluster.status == Status.closed or not cluster.shutdown_on_close or cluster.asynchronous:
            continue
        with contextlib.suppress(BaseException):
            cluster.close(timeout=10)
