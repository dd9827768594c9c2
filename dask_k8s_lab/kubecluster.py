"""``KubeCluster``: create or attach to a DaskCluster and drive it from Python.

One asyncio core (every ``_method`` is a coroutine running on the cluster's loop) with the thin
sync facade that distributed's ``Cluster`` provides through ``self.sync``.
"""

from __future__ import annotations

import asyncio
import atexit
import html
import contextlib
import copy
import logging
import time
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

import httpx
import kr8s
from distributed.core import Status, rpc
from distributed.objects import SchedulerInfo
from distributed.utils import Log, Logs, NoOpAwaitable, format_dashboard_link
from kr8s.asyncio.objects import Pod, Service

from . import config, ownership
from .auth import ClusterAuth, current_namespace, resolve_api
from .kube import ensure_crds, fetch, forbidden_hint, list_raw, pod_log_tail, status_code
from .lifecycle import KubernetesCluster
from .networking import candidate_addresses, connect_scheduler, list_node_addresses, tcp_reachable, wait_for_scheduler
from .options import KubeClusterOptions
from .permissions import Permissions, kr8s_reviewer
from . import quota, versions
from .progress import (
    ERROR,
    ComponentState,
    StartupDisplay,
    fatal_container_reason,
    render_html,
    stuck_reasons,
    summarize,
)
from dask_k8s_common.resources import (
    LABEL_CLUSTER,
    LABEL_COMPONENT,
    DaskAutoscaler,
    DaskCluster,
    DaskWorkerGroup,
    scheduler_name,
)
from .specs import (
    autoscaler_name,
    derive_worker_spec,
    make_autoscaler,
    make_cluster_spec,
    make_worker_group,
    scheduler_service_name,
    worker_group_name,
)
from .validation import (
    CreateMode,
    ValidationError,
    validate_adapt_bounds,
    validate_count,
    validate_timeout,
    validate_worker_group_name,
)

logger = logging.getLogger(__name__)

#: adapt() maximum when neither the argument nor ``kubernetes.count.max`` gives one.
DEFAULT_ADAPT_MAXIMUM = 1000
_POLL_STARTING = 0.2  # the DaskCluster's phase, while starting
_REFRESH_STARTING = 1.0  # pods, Service and events for the progress display, while starting
_POLL_RUNNING = 5.0
#: How long an Error phase must last before KubeCluster gives up (the operator retries).
_ERROR_GRACE = 15.0


class SchedulerStartupError(RuntimeError):
    """The scheduler pod failed to start; the message carries its last log lines."""


# Both messages begin with the words of dask-kubernetes' own, which code and notebooks match on.
def operator_missing_message(name: str, namespace: str, timeout: float) -> str:
    """Why a DaskCluster that no operator picked up within ``timeout`` is given up."""
    return (
        f"DaskCluster {name!r} not actioned after {timeout:g} seconds, is the Dask Operator running? "
        f"It got no status from the operator within resource_timeout={timeout:g}s: check that the "
        f"operator runs and watches namespace {namespace!r} (`kubectl get pods -A | grep operator` and "
        "its logs) and that the CRDs are installed (`kubectl get crd daskclusters.kubernetes.dask.org`)."
    )


def scheduler_failed_message(name: str, reason: str, pod: str, log_tail: str) -> str:
    """Why KubeCluster stopped waiting for a scheduler that cannot start, with its last log lines."""
    return (
        f"Scheduler failed to start ({reason}) for KubeCluster {name!r}. Check the scheduler command "
        f"and image. Last log lines of pod {pod}:\n{log_tail or '(no output)'}"
    )


class KubeCluster(KubernetesCluster):
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

    _instances: weakref.WeakSet[KubeCluster] = weakref.WeakSet()

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
            self._loop_runner.start()
            self.sync(self._start)

    # ------------------------------------------------------------------ lifecycle

    async def _start_resources(self) -> None:
        self._display = StartupDisplay(f"Creating KubeCluster {self.name!r}", quiet=self.quiet)
        try:
            try:
                await self._start_cluster()
            except kr8s.ServerError as e:
                if status_code(e) == 403:
                    raise PermissionError(forbidden_hint(e, "manage Dask clusters", str(self.namespace))) from None
                raise
        except BaseException as e:
            self._display.finish(self._components, f"KubeCluster {self.name!r} failed: {type(e).__name__}")
            raise
        self._display.finish(self._components, f"KubeCluster {self.name!r} is running")
        self._watch_task = asyncio.create_task(self._watch_components(_POLL_RUNNING))

    async def _start_cluster(self) -> None:
        opts = self._options
        self._api = await resolve_api(self._auth, opts.namespace)
        self.namespace = opts.namespace or current_namespace(self._api)
        await ensure_crds(self._api)
        existing = await fetch(DaskCluster, self.name, self.namespace, self._api)
        if existing is None:
            if opts.create_mode is CreateMode.CONNECT_ONLY:
                raise ValueError(
                    f"DaskCluster {self.name!r} does not exist in namespace {self.namespace!r} and "
                    "create_mode is CONNECT_ONLY. Check the name (`kubectl get daskclusters -n "
                    f"{self.namespace}`) or use create_mode=CREATE_OR_CONNECT to create it."
                )
            existing = await self._create_cluster()
        elif opts.create_mode is CreateMode.CREATE_ONLY:
            raise ValueError(
                f"DaskCluster {self.name!r} already exists in namespace {self.namespace!r} and "
                "create_mode is CREATE_ONLY. Pick another name, or use KubeCluster.from_name to attach."
            )
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
            code = status_code(e)
            if code == 409 and self._options.create_mode is CreateMode.CREATE_OR_CONNECT:
                found = await fetch(DaskCluster, self.name, self.namespace, self._api)
                if found is not None:
                    return found
            if code == 403:
                raise PermissionError(forbidden_hint(e, "create daskclusters", self.namespace)) from None
            if code == 404:
                raise ValueError(
                    f"namespace={self.namespace!r} does not exist ({e}). Create it "
                    f"(`kubectl create namespace {self.namespace}`) or pass another namespace."
                ) from None
            if code in (400, 422):
                raise ValueError(f"The API server rejected DaskCluster {self.name!r}: {e}") from None
            raise
        self.created = True
        return cluster

    async def _snapshot(self, with_events: bool) -> tuple[dict | None, list[dict], dict | None, list[dict]]:
        api, ns = self._api, self.namespace
        cluster_task = fetch(DaskCluster, self.name, ns, api)
        pods_task = list_raw(api, Pod, ns, label_selector={LABEL_CLUSTER: self.name})
        service_task = fetch(Service, scheduler_service_name(self.name), ns, api)
        cluster, pods, service = await asyncio.gather(cluster_task, pods_task, service_task)
        events: list[dict] = []
        if with_events:
            with contextlib.suppress(Exception):
                events = await list_raw(api, "events", ns)
        return (cluster.raw if cluster else None), pods, (service.raw if service else None), events

    async def _refresh_components(self, with_events: bool = False) -> tuple[dict | None, list[dict]]:
        cluster, pods, service, events = await self._snapshot(with_events)
        connection = ""
        if self.comm_endpoint is not None:
            connection = f"{self.comm_endpoint.mode} {self.comm_endpoint.address}"
        tails = await self._crash_log_tails(pods)
        self._components = summarize(
            cluster, pods, service, events, cluster_name=self.name, connection=connection, log_tails=tails
        ) + self._version_states()
        return cluster, pods

    async def _crash_log_tails(self, pods: list[dict]) -> dict[str, str]:
        """Last log lines of crashing pods, read once per restart."""
        tails: dict[str, str] = {}
        for pod in pods:
            if fatal_container_reason(pod) is None:
                continue
            restarts = sum(cs.get("restartCount", 0) for cs in (pod.get("status") or {}).get("containerStatuses") or [])
            key = (pod["metadata"]["name"], restarts)
            if key not in self._log_cache:
                self._log_cache[key] = await pod_log_tail(Pod(pod, namespace=self.namespace, api=self._api), lines=5)
            tails[key[0]] = self._log_cache[key]
        return tails

    async def _wait_for_running(self) -> None:
        """Wait until the scheduler can be reached (the operator reports Running, or sooner, see
        ``_scheduler_reachable``); fail with the reason when it cannot get there."""
        timeout = self._options.resource_timeout
        start = time.monotonic()
        picked_up_at: float | None = None
        error_since: float | None = None
        with_events = False
        refreshed_at = -_REFRESH_STARTING
        pods: list[dict] = []
        while True:
            # The phase is read often; the rest, which costs the API server far more (every pod
            # and event of the namespace), only as often as a person reads the display.
            if time.monotonic() - refreshed_at >= _REFRESH_STARTING:
                refreshed_at = time.monotonic()
                cluster, pods = await self._refresh_components(with_events)
                if self._display is not None:
                    self._display.update(self._components)
                scheduler = next((p for p in pods if (p["metadata"].get("labels") or {}).get(LABEL_COMPONENT)
                                  == "scheduler"), None)
            else:
                found, pod = await asyncio.gather(
                    fetch(DaskCluster, self.name, self.namespace, self._api),
                    fetch(Pod, scheduler_name(self.name), self.namespace, self._api),
                )
                cluster = found.raw if found else None
                scheduler = pod.raw if pod else None
            now = time.monotonic()
            if cluster is None:
                raise RuntimeError(
                    f"DaskCluster {self.name!r} disappeared from namespace {self.namespace!r} while starting"
                )
            phase = (cluster.get("status") or {}).get("phase")
            if phase != "Running":
                await self._check_scheduler_failed(pods)
            if phase == "Running" or (phase not in (None, "Error") and await self._scheduler_reachable(scheduler)):
                if refreshed_at < now - _POLL_STARTING:  # the display ends on what is true now
                    await self._refresh_components()
                return
            # The operator retries after an Error (e.g. a failed API call), so only an Error that
            # lasts is final.
            error_since = (error_since or now) if phase == "Error" else None
            if error_since is not None and now - error_since > min(_ERROR_GRACE, timeout):
                raise RuntimeError(
                    f"The operator reports DaskCluster {self.name!r} as Error: {stuck_reasons(self._components)}"
                )
            if phase is None:
                if now - start > timeout:
                    raise TimeoutError(operator_missing_message(self.name, str(self.namespace), timeout))
            else:
                picked_up_at = picked_up_at or now
                if now - picked_up_at > timeout:
                    raise TimeoutError(
                        f"DaskCluster {self.name!r} is still {phase!r} after resource_timeout={timeout:g}s: "
                        f"{stuck_reasons(self._components)}"
                    )
            # Ask for events only once something looks slow, to keep each poll cheap.
            with_events = now - start > 2
            await asyncio.sleep(_POLL_STARTING)

    async def _scheduler_reachable(self, pod: dict | None) -> bool:
        """Whether the scheduler can be reached directly already: its pod is Ready (it serves) and
        its Service accepts connections. This saves waiting for the operator to notice and report
        Running; a scheduler reached only through a port-forward still waits for Running."""
        conditions = ((pod or {}).get("status") or {}).get("conditions") or []
        if pod is None or pod["metadata"].get("deletionTimestamp") or not any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
        ):
            return False
        service = await fetch(Service, scheduler_service_name(self.name), self.namespace, self._api)
        if service is None:
            return False
        try:
            candidates = candidate_addresses(
                service.raw, "tcp-comm", default_port=8786, port_forward_cluster_ip=self._options.port_forward_cluster_ip
            )
        except LookupError:
            return False
        for candidate in candidates:
            if await tcp_reachable(candidate.host, candidate.port, self._options.direct_connect_timeout):
                return True
        return False

    async def _check_scheduler_failed(self, pods: list[dict]) -> None:
        for pod in pods:
            labels = (pod.get("metadata") or {}).get("labels") or {}
            if labels.get(LABEL_COMPONENT) != "scheduler":
                continue
            reason = fatal_container_reason(pod)
            if reason is None:
                continue
            name = pod["metadata"]["name"]
            tail = await pod_log_tail(Pod(pod, namespace=self.namespace, api=self._api))
            raise SchedulerStartupError(scheduler_failed_message(self.name, reason, name, tail))

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

    async def _watch_worker_status(self, comm: Any) -> None:
        """Follow worker arrivals and departures, re-subscribing if the connection drops
        (e.g. a port-forward being re-established) for as long as the cluster is open."""
        while True:
            await super()._watch_worker_status(comm)
            while self.status in (Status.starting, Status.running):
                try:
                    comm = await self.scheduler_comm.live_comm()
                    comm.name = "Cluster worker status"
                    await comm.write({"op": "subscribe_worker_status"})
                    self.scheduler_info = SchedulerInfo(await comm.read())
                    self._watch_worker_status_comm = comm
                    break
                except Exception:
                    await asyncio.sleep(0.5)
            else:
                return

    async def _watch_components(self, interval: float) -> None:
        """Keep the component states fresh for the live HTML repr."""
        while self.status == Status.running:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await self._check_versions()
                await self._refresh_components()

    async def _check_versions(self) -> None:
        """Compare this client's versions with the scheduler's and every worker's (asked through
        this client's own connection, as distributed's ``Client.get_versions`` does); again
        whenever the set of workers changed."""
        workers = frozenset(((self.scheduler_info or {}).get("workers") or {}))
        if self.scheduler_comm is None or workers == self._versions_of:
            return
        try:
            scheduler = await asyncio.wait_for(self.scheduler_comm.versions(), 10)
            replies = await asyncio.wait_for(
                self.scheduler_comm.broadcast(msg={"op": "versions"}, on_error="ignore"), 10
            )
        except Exception as e:  # an older scheduler, a dropped connection: say nothing rather than guess
            logger.debug("cannot compare versions with %s: %s", self.name, e)
            return
        local = versions.local_versions()
        remotes = {
            "scheduler": versions.packages_of(scheduler),
            **versions.group_workers({address: versions.packages_of(v) for address, v in replies.items()}),
        }
        self.version_skew = versions.report(local, versions.compare(local, remotes))
        self._versions_of = workers
        self._components = [c for c in self._components if c.component != "Versions"] + self._version_states()

    def _version_states(self) -> list[ComponentState]:
        skew = self.version_skew
        if skew is None:
            return []
        lines = versions.describe([versions.Mismatch(**m) for m in skew["mismatches"]])
        return [ComponentState("Versions", "notebook vs cluster", "mismatch", ERROR,
                               "\n".join(lines) + f"\nFix: {skew['fix']}")]

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
            return self.sync(self._close, timeout=timeout)
        except RuntimeError:  # the loop is gone at interpreter exit
            return None

    async def _close(self, timeout: float | None = None) -> None:
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
        await super()._close()
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

    async def _require(self, action: str, what: str, hint: str = "") -> None:
        """Refuse ``action`` before trying it when the account may not take it (asked of the
        API server, cached briefly), with the same reason the sidebar shows."""
        if self._permissions is None:
            api = self._api

            async def get_api() -> Any:
                return api

            self._permissions = Permissions(kr8s_reviewer(get_api))
        reason = await self._permissions.refusal(action, str(self.namespace))
        if reason is not None:
            raise PermissionError(f"Cannot {what}: {reason}. {hint}".rstrip())

    async def _check_quota(self, why_not: Any) -> None:
        """Raise ``QuotaExceeded`` with ``why_not(quotas, limit_ranges)`` when the namespace's
        ResourceQuota would refuse what is about to be asked (an account that may not read
        quotas skips this: Kubernetes still enforces them)."""
        from kr8s.asyncio.objects import LimitRange, ResourceQuota

        try:
            quotas, ranges = await asyncio.wait_for(asyncio.gather(
                list_raw(self._api, ResourceQuota, self.namespace), list_raw(self._api, LimitRange, self.namespace)
            ), 30)
        except Exception as e:
            logger.debug("cannot read the quota of %s: %s", self.namespace, e)
            return
        message = why_not(quotas, ranges)
        if message:
            raise quota.QuotaExceeded(message)

    # ------------------------------------------------------------------ scaling

    def scale(self, n: int, worker_group: str = "default") -> Any:
        """Scale a worker group (default: the cluster's default group) to ``n`` workers.

        Turns off adaptive scaling of that group. Scale-down is done by the operator, which
        retires the group's workers through the scheduler so their data is kept.
        """
        return self.sync(self._scale, n, worker_group)

    async def _scale(self, n: int, worker_group: str = "default") -> None:
        n = validate_count(n, "n")
        validate_worker_group_name(worker_group, self.name)
        await self._require("scale", f"scale KubeCluster {self.name!r}")
        found = await fetch(
            DaskCluster if worker_group == "default" else DaskWorkerGroup,
            self.name if worker_group == "default" else worker_group_name(self.name, worker_group),
            self.namespace, self._api,
        )
        if found is not None:
            worker = found.raw["spec"].get("worker") or {}
            await self._check_quota(lambda quotas, ranges: quota.scale_refusal(
                str(self.namespace), worker, int(worker.get("replicas") or 0), n,
                f"worker group {worker_group!r} of KubeCluster {self.name!r}", quotas, ranges))
        await self._delete_autoscaler(worker_group)
        if worker_group == "default":
            target: Any = DaskCluster({"metadata": {"name": self.name}}, namespace=self.namespace, api=self._api)
        else:
            target = DaskWorkerGroup(
                {"metadata": {"name": worker_group_name(self.name, worker_group)}}, namespace=self.namespace, api=self._api
            )
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

    # ------------------------------------------------------------------ worker groups

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
        group = DaskWorkerGroup({"metadata": {"name": worker_group_name(self.name, name)}}, namespace=self.namespace, api=self._api)
        try:
            await group.delete()
        except kr8s.NotFoundError:
            raise ValueError(f"Worker group {name!r} does not exist in KubeCluster {self.name!r}") from None

    # ------------------------------------------------------------------ logs and links

    def get_logs(self) -> Any:
        """Logs of the scheduler and worker pods, keyed by pod name."""
        return self.sync(self._get_pod_logs)

    logs = get_logs

    async def _get_pod_logs(self) -> Logs:
        logs = Logs()
        pods = [p async for p in self._api.async_get(Pod, namespace=self.namespace, label_selector={LABEL_CLUSTER: self.name})]
        for pod in sorted(pods, key=lambda p: p.name):
            component = pod.labels.get(LABEL_COMPONENT)
            if component not in ("scheduler", "worker"):
                continue
            phase = pod.status.get("phase")
            if phase in ("Pending", None):
                logs[pod.name] = Log(f"Cannot find logs. Pod is {phase}.")
                continue
            try:
                logs[pod.name] = Log("\n".join([line async for line in pod.logs()]))
            except Exception as e:
                logs[pod.name] = Log(f"Cannot read logs: {e}")
        return logs

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
        table = render_html(self._components) if self._components else ""
        rows = f"<tr><td colspan='2' style='text-align:left'>{table}</td></tr>" if table else ""
        try:
            return super()._repr_html_(cluster_status=(cluster_status or "") + rows)
        except Exception:  # an older scheduler's info lacks fields this distributed's template needs
            return f"<div><strong>KubeCluster {html.escape(self.name)}</strong></div>{table}"


@atexit.register
def _reap_clusters() -> None:
    """Close clusters this process created and did not close, without raising at exit."""
    for cluster in list(KubeCluster._instances):
        if cluster.status == Status.closed or not cluster.shutdown_on_close or cluster.asynchronous:
            continue
        with contextlib.suppress(BaseException):
            cluster.close(timeout=10)
