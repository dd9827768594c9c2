"""``HelmCluster``: manage a Dask cluster installed by the Dask Helm chart (scale, logs).

The release's scheduler and worker Deployments and the scheduler Service are found by the labels
the chart sets (``release=<name>``, or ``app.kubernetes.io/instance=<name>``) and by their name
suffixes (``scheduler_name`` / ``worker_name``). Connection works as for KubeCluster.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from dask_k8s_common.contract import (
    DASHBOARD_PORT,
    DASHBOARD_PORT_NAME,
    SCHEDULER_PORT,
    SCHEDULER_PORT_NAME,
)
from distributed.core import Status, rpc
from distributed.utils import Logs, NoOpAwaitable, format_dashboard_link
from kr8s.asyncio.objects import Deployment, Pod, Service

from . import config
from .kube import pod_logs
from .auth import ClusterAuth, current_namespace, resolve_api
from .lifecycle import KubernetesCluster
from .networking import connect_scheduler, list_node_addresses, wait_for_scheduler
from .validation import (
    ValidationError,
    validate_count,
    validate_namespace,
    validate_optional_bool,
    validate_port,
)

logger = logging.getLogger(__name__)

RELEASE_LABELS = ("release", "app.kubernetes.io/instance")
ADAPT_REFUSAL = (
    "HelmCluster cannot adapt: when a Deployment scales down, Kubernetes rather than Dask picks "
    "the worker pod to remove, so results held on it would be lost. Use KubeCluster with the Dask "
    "operator, whose autoscaler retires workers through the scheduler."
)


def release_selector(deployments: Sequence[dict[str, Any]], release: str) -> str | None:
    """The label key under which ``release`` labels its objects, if any object has it."""
    for key in RELEASE_LABELS:
        if any(((d.get("metadata") or {}).get("labels") or {}).get(key) == release for d in deployments):
            return key
    return None


# The chart has named the scheduler Service's ports differently over its versions: e.g.
# ``<fullname>-scheduler``/``<fullname>-webui``, ``tcp-comm``/``http-dashboard``, ``http`` or
# ``dashboard``; the dashboard is on port 80, forwarded to the container's 8787.
COMM_NAMES = (SCHEDULER_PORT_NAME, "comm", "tcp")
DASHBOARD_NAMES = (DASHBOARD_PORT_NAME, "dashboard", "http", "webui")
COMM_PORT, DASHBOARD_SERVICE_PORT = SCHEDULER_PORT, 80


def _pick(ports: Sequence[dict[str, Any]], names: Sequence[str], numbers: Sequence[int]) -> tuple[str, int] | None:
    """The first port named (or named ``*-<name>``) as in ``names``, else one numbered (service or
    target port) as in ``numbers``."""
    for wanted in names:
        for entry in ports:
            name = str(entry.get("name") or "")
            if name == wanted or name.endswith(f"-{wanted}"):
                return name, int(entry["port"])
    for number in numbers:
        for entry in ports:
            if number in (entry.get("port"), entry.get("targetPort")):
                return str(entry.get("name") or ""), int(entry["port"])
    return None


def scheduler_ports(service: dict[str, Any]) -> tuple[tuple[str, int], tuple[str, int] | None]:
    """(name, port) of the comm and dashboard ports of a Dask chart's scheduler Service."""
    ports = list((service.get("spec") or {}).get("ports") or [])
    comm = _pick(ports, (*COMM_NAMES, "scheduler"), (COMM_PORT,)) or (SCHEDULER_PORT_NAME, COMM_PORT)
    others = [p for p in ports if (str(p.get("name") or ""), p.get("port")) != comm]
    return comm, _pick(others, DASHBOARD_NAMES, (DASHBOARD_PORT, DASHBOARD_SERVICE_PORT))


def find_deployment(deployments: Sequence[dict[str, Any]], suffix: str) -> str | None:
    """Name of the Deployment ending in ``-<suffix>`` (the chart's ``<fullname>-<suffix>``)."""
    names = sorted(d["metadata"]["name"] for d in deployments)
    for name in names:
        if name.endswith(f"-{suffix}") or name == suffix:
            return name
    return None


class HelmCluster(KubernetesCluster):
    """Connect to a Dask cluster deployed by the Dask Helm chart.

    Parameters
    ----------
    release_name: Helm release to connect to.
    auth: ``ClusterAuth`` or a list (default: kr8s discovery: kubeconfig, then service account).
    namespace: Namespace of the release (default: the current context's).
    port_forward_cluster_ip: Always port-forward a ClusterIP scheduler Service.
    scheduler_name / worker_name: Name suffixes of the scheduler and worker Deployments.
    node_host / node_port: Address to use for a NodePort scheduler Service.
    """

    def __init__(
        self,
        release_name: str | None = None,
        auth: ClusterAuth | Sequence[ClusterAuth] | None = None,
        namespace: str | None = None,
        port_forward_cluster_ip: bool = False,
        scheduler_name: str = "scheduler",
        worker_name: str = "worker",
        node_host: str | None = None,
        node_port: int | None = None,
        name: str | None = None,
        loop: Any = None,
        asynchronous: bool = False,
        quiet: bool = False,
        **kwargs: Any,
    ):
        if not isinstance(release_name, str) or not release_name:
            raise ValidationError(f"release_name={release_name!r}: pass the name of an installed Helm release")
        for arg, value in (("scheduler_name", scheduler_name), ("worker_name", worker_name)):
            if not isinstance(value, str) or not value:
                raise ValidationError(f"{arg}={value!r}: pass the Deployment name suffix, e.g. 'scheduler'")
        self.release_name = release_name
        self.namespace = validate_namespace(namespace)
        self.port_forward_cluster_ip = bool(validate_optional_bool(port_forward_cluster_ip, "port_forward_cluster_ip"))
        self.scheduler_name = scheduler_name
        self.worker_name = worker_name
        self.node_host = node_host
        self.node_port = validate_port(node_port, "node_port")
        self._auth = auth
        self._api: Any = None
        self._label_key = RELEASE_LABELS[0]
        self._scheduler_deployment = ""
        self._worker_deployment = ""
        super().__init__(asynchronous=asynchronous, loop=loop, quiet=quiet, name=name or release_name, **kwargs)
        if not self.asynchronous:
            self._start_sync()

    async def _start_resources(self) -> None:
        await self._connect()
        await self._connect_scheduler()

    async def _connect(self) -> None:
        self._api = await resolve_api(self._auth, self.namespace)
        self.namespace = self.namespace or current_namespace(self._api)
        deployments = [d.raw async for d in self._api.async_get(Deployment, namespace=self.namespace)]
        key = release_selector(deployments, self.release_name)
        release = [d for d in deployments if key and ((d["metadata"].get("labels") or {}).get(key) == self.release_name)]
        scheduler = find_deployment(release, self.scheduler_name)
        worker = find_deployment(release, self.worker_name)
        if key is None or scheduler is None:
            raise RuntimeError(
                f"No Dask Helm release {self.release_name!r} in namespace {self.namespace!r}: no Deployment "
                f"labelled release={self.release_name} ending in '-{self.scheduler_name}'. Check "
                f"`helm list -n {self.namespace}` and the scheduler_name argument."
            )
        self._label_key = key
        self._scheduler_deployment = scheduler
        self._worker_deployment = worker or f"{scheduler[: -len(self.scheduler_name)]}{self.worker_name}"
        self.name = f"{self.release_name}.{self.namespace}"
        service = await Service.get(scheduler, namespace=self.namespace, api=self._api)
        nodes: list[str] = []
        if service.raw["spec"].get("type") == "NodePort" and not self.node_host:
            nodes = await list_node_addresses(self._api)
        comm_port, dashboard_port = scheduler_ports(service.raw)
        self.comm_endpoint, self.dashboard_endpoint = await connect_scheduler(
            service,
            port_forward_cluster_ip=self.port_forward_cluster_ip,
            direct_timeout=config.get("direct-connect-timeout"),
            nodes=nodes,
            node_host=self.node_host,
            node_port=self.node_port,
            comm_port=comm_port,
            **({"dashboard_port": dashboard_port} if dashboard_port else {}),
        )
        self.scheduler_comm = rpc(self.comm_endpoint.address)
        await wait_for_scheduler(
            self.scheduler_comm,
            f"{self.comm_endpoint.address} ({self.comm_endpoint.mode})",
            config.get("resource-timeout"),
            f"Helm release {self.release_name!r}",
        )

    def close(self, timeout: float | None = None) -> Any:
        """Disconnect. The release keeps running; remove it with ``helm uninstall``."""
        if self.status == Status.closed:
            return NoOpAwaitable() if self.asynchronous else None
        return self.sync(self._shutdown, callback_timeout=timeout)

    @classmethod
    def from_name(cls, name: str, **kwargs: Any) -> HelmCluster:
        """Attach to ``"release"`` or ``"release.namespace"``."""
        release, _, namespace = name.partition(".")
        if namespace:
            kwargs.setdefault("namespace", namespace)
        return cls(release_name=release, **kwargs)

    def scale(self, n_workers: int, worker_group: str | None = None) -> Any:
        """Set the worker Deployment (or ``<worker>-<worker_group>``) to ``n_workers`` replicas.

        Kubernetes picks which pods go on scale-down, so only scale down an idle cluster.
        """
        n_workers = validate_count(n_workers, "n_workers")
        return self.sync(self._scale, n_workers, worker_group)

    async def _scale(self, n_workers: int, worker_group: str | None = None) -> None:
        name = self._worker_deployment + (f"-{worker_group}" if worker_group else "")
        deployment = Deployment({"metadata": {"name": name}}, namespace=self.namespace, api=self._api)
        if not await deployment.exists():
            raise ValueError(f"worker_group={worker_group!r}: Deployment {name!r} does not exist in {self.namespace!r}")
        await deployment.scale(n_workers)

    def adapt(self, *args: Any, **kwargs: Any) -> Any:
        """Not supported; see ``ADAPT_REFUSAL``."""
        raise NotImplementedError(ADAPT_REFUSAL)

    def get_logs(self) -> Any:
        """Logs of every pod of the release, keyed by pod name."""
        return self.sync(self._get_pod_logs)

    logs = get_logs

    async def _get_pod_logs(self) -> Logs:
        return await pod_logs(self._api, self.namespace, {self._label_key: self.release_name})

    @property
    def dashboard_link(self) -> str:
        if self.dashboard_endpoint is None:
            return ""
        return format_dashboard_link(self.dashboard_endpoint.host, self.dashboard_endpoint.port)


async def discover() -> AsyncIterator[tuple[str, type[HelmCluster]]]:
    """dask-ctl discovery: ``("release.namespace", HelmCluster)`` for each Dask chart release."""
    with contextlib.suppress(Exception):
        api = await resolve_api(None)
        async for pod in api.async_get(Pod, namespace="all", label_selector={"app": "dask", "component": "scheduler"}):
            release = pod.labels.get("release") or pod.labels.get("app.kubernetes.io/instance")
            if release:
                yield f"{release}.{pod.namespace}", HelmCluster
