"""How the client reaches a scheduler Service: directly when reachable, else a kr8s port-forward.

Order of attempts for a Service port: LoadBalancer ingress, then a node address for NodePort,
then the ClusterIP — each confirmed with one short TCP connect (no DNS retry loop) — and finally a
kr8s port-forward that a supervisor re-establishes on the same local port whenever it drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx_ws
from kr8s._exceptions import ConnectionClosedError
from kr8s.asyncio.portforward import PortForward

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A direct address worth trying for a Service port."""

    mode: str  # "load-balancer", "node-port" or "cluster-ip"
    host: str
    port: int


@dataclass
class Endpoint:
    """Where a Service port was reached, and the forwarder keeping it alive if any."""

    mode: str  # a Candidate mode or "port-forward"
    host: str
    port: int
    forwarder: PortForwarder | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"tcp://{self.host}:{self.port}"


def find_port(service: Mapping[str, Any], port_name: str, default_port: int | None = None) -> Mapping[str, Any]:
    """The Service port entry named ``port_name`` (or numbered ``default_port``)."""
    ports = (service.get("spec") or {}).get("ports") or []
    for entry in ports:
        if entry.get("name") == port_name:
            return entry
    for entry in ports:
        if default_port is not None and entry.get("port") == default_port:
            return entry
    name = (service.get("metadata") or {}).get("name")
    raise LookupError(
        f"Service {name!r} has no port named {port_name!r} (ports: {[p.get('name') for p in ports]}). "
        f"Name the scheduler ports 'tcp-comm' and 'http-dashboard'."
    )


def node_addresses(nodes: Sequence[Mapping[str, Any]]) -> list[str]:
    """Node addresses, external ones first."""
    external, internal = [], []
    for node in nodes:
        for addr in (node.get("status") or {}).get("addresses") or []:
            if addr.get("type") == "ExternalIP":
                external.append(addr["address"])
            elif addr.get("type") == "InternalIP":
                internal.append(addr["address"])
    return external + internal


def candidate_addresses(
    service: Mapping[str, Any],
    port_name: str,
    *,
    default_port: int | None = None,
    port_forward_cluster_ip: bool = False,
    nodes: Sequence[str] = (),
    node_host: str | None = None,
    node_port: int | None = None,
) -> list[Candidate]:
    """Direct addresses to try, best first; empty means port-forward straight away."""
    spec = service.get("spec") or {}
    entry = find_port(service, port_name, default_port)
    service_type = spec.get("type", "ClusterIP")
    out: list[Candidate] = []
    if service_type == "LoadBalancer":
        for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            host = ingress.get("hostname") or ingress.get("ip")
            if host:
                out.append(Candidate("load-balancer", host, int(entry["port"])))
    if service_type in ("NodePort", "LoadBalancer"):
        port = node_port or entry.get("nodePort")
        hosts = [node_host] if node_host else list(nodes)
        if port:
            out.extend(Candidate("node-port", host, int(port)) for host in hosts[:3])
    cluster_ip = spec.get("clusterIP")
    if not port_forward_cluster_ip and cluster_ip and cluster_ip != "None":
        out.append(Candidate("cluster-ip", cluster_ip, int(entry["port"])))
    return out


async def tcp_reachable(host: str, port: int, timeout: float) -> bool:
    """One TCP connect attempt; True if something accepted it within ``timeout`` seconds."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


#: Websocket attempts per client connection before it is closed (the client then reconnects).
WEBSOCKET_ATTEMPTS = 6


class _TrackedPortForward(PortForward):
    """kr8s PortForward that remembers its open client connections so they can be dropped, and
    whose websocket retries are bounded and back off (re-selecting a ready pod each time)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.writers: set[asyncio.StreamWriter] = set()
        self.websocket_failures = 0

    @contextlib.asynccontextmanager
    async def _connect_websocket(self):  # type: ignore[override]
        last_error: Exception | None = None
        for attempt in range(WEBSOCKET_ATTEMPTS):
            if self.pod is None:
                self.pod = await self._select_pod()
            pod = self.pod
            opener = pod.api.open_websocket(
                version=pod.version,
                url=f"{pod.endpoint}/{pod.name}/portforward",
                namespace=pod.namespace,
                params={
                    "name": pod.name,
                    "namespace": pod.namespace,
                    "ports": f"{self.remote_port}",
                    "_preload_content": "false",
                },
            )
            async with contextlib.AsyncExitStack() as stack:
                try:  # only a failure to open is retried, not one while the caller uses it
                    websocket = await stack.enter_async_context(opener)
                except httpx_ws.HTTPXWSException as e:
                    self.websocket_failures += 1
                    self.pod = None  # the pod may have been replaced: pick a ready one next time
                    last_error = e
                    await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
                    continue
                yield websocket
                return
        raise ConnectionClosedError(f"no websocket to a ready pod after {WEBSOCKET_ATTEMPTS} attempts") from last_error

    async def _sync_sockets(self, reader, writer) -> None:  # type: ignore[override]
        self.writers.add(writer)
        try:
            await super()._sync_sockets(reader, writer)
        except Exception as e:  # one connection failed (e.g. API server busy); the client retries
            logger.debug("port-forward connection to port %s failed: %r", self.remote_port, e)
            writer.close()
        finally:
            self.writers.discard(writer)


class PortForwarder:
    """A kr8s port-forward to a Service (or Pod) kept alive on one local port.

    A supervisor task checks the local listener every ``check_interval`` seconds and restarts
    the forward on the same port if it stopped serving or its task died, so a client that
    reconnects to the same address finds it again.
    """

    def __init__(
        self,
        resource: Any,
        remote_port: int,
        local_port: int | None = None,
        address: str = "127.0.0.1",
        check_interval: float = 0.5,
    ):
        self.resource = resource
        self.remote_port = remote_port
        self.local_port = local_port or 0
        self.address = address
        self.check_interval = check_interval
        self.restarts = 0
        self._forward: _TrackedPortForward | None = None
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task | None = None
        self._error: BaseException | None = None

    async def start(self, timeout: float = 10) -> int:
        """Start forwarding; return the local port once it is listening."""
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"port-forward:{self.remote_port}")
        ready = asyncio.create_task(self._ready.wait())
        try:
            await asyncio.wait({ready, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if not self._ready.is_set():
            await self.stop()
            raise ConnectionError(
                f"Could not start a port-forward to port {self.remote_port} on local port "
                f"{self.local_port or '(any)'}: {self._error or 'timed out'}"
            )
        return self.local_port

    @property
    def serving(self) -> bool:
        forward = self._forward
        return bool(forward and forward.servers and all(s.is_serving() for s in forward.servers))

    async def _supervise(self) -> None:
        backoff = 0.1
        while not self._closing:
            forward = _TrackedPortForward(
                self.resource, self.remote_port, local_port=self.local_port or "auto", address=self.address
            )
            try:
                async with forward as port:
                    self.local_port = port
                    self._forward = forward
                    self._ready.set()
                    backoff = 0.1
                    while not self._closing and self.serving:
                        self._wake.clear()
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), self.check_interval)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # e.g. the local port is briefly still bound
                self._error = e
                logger.debug("port-forward to %s failed: %s", self.remote_port, e)
            finally:
                self._close_connections(forward)
            if self._closing:
                break
            self.restarts += 1
            logger.info("port-forward on local port %s dropped; re-establishing", self.local_port)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    @staticmethod
    def _close_connections(forward: _TrackedPortForward) -> None:
        for server in list(forward.servers):
            server.close()
        for writer in list(forward.writers):
            writer.close()

    def drop(self) -> None:
        """Break the forward as a network failure would: stop listening, cut connections."""
        if self._forward is not None:
            self._close_connections(self._forward)
        self._wake.set()

    async def stop(self) -> None:
        self._closing = True
        self._wake.set()
        if self._forward is not None:
            self._close_connections(self._forward)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


async def resolve_target_port(service: Any, entry: Mapping[str, Any]) -> int:
    """The container port behind a Service port (``targetPort`` may be a name)."""
    target = entry.get("targetPort", entry.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for pod in await service.ready_pods():
        for container in pod.raw["spec"]["containers"]:
            for port in container.get("ports") or []:
                if port.get("name") == target:
                    return int(port["containerPort"])
    raise LookupError(f"No ready pod of Service {service.name!r} declares a container port named {target!r}")


async def connect_service_port(
    service: Any,
    port_name: str,
    *,
    default_port: int | None = None,
    port_forward_cluster_ip: bool = False,
    direct_timeout: float = 0.5,
    local_port: int | None = None,
    nodes: Sequence[str] = (),
    node_host: str | None = None,
    node_port: int | None = None,
    force_forward: bool = False,
) -> Endpoint:
    """Reach ``port_name`` of a kr8s Service: the first reachable direct address, else a forward."""
    raw = service.raw
    if not force_forward:
        candidates = candidate_addresses(
            raw,
            port_name,
            default_port=default_port,
            port_forward_cluster_ip=port_forward_cluster_ip,
            nodes=nodes,
            node_host=node_host,
            node_port=node_port,
        )
        for candidate in candidates:
            if await tcp_reachable(candidate.host, candidate.port, direct_timeout):
                return Endpoint(candidate.mode, candidate.host, candidate.port)
    entry = find_port(raw, port_name, default_port)
    forwarder = PortForwarder(service, await resolve_target_port(service, entry), local_port=local_port)
    port = await forwarder.start()
    return Endpoint("port-forward", "127.0.0.1", port, forwarder)


async def list_node_addresses(api: Any) -> list[str]:
    """Addresses of the cluster's nodes (empty if the account may not list nodes)."""
    from kr8s.asyncio.objects import Node

    try:
        nodes = [node.raw async for node in api.async_get(Node)]
    except Exception as e:
        logger.debug("cannot list nodes: %s", e)
        return []
    return node_addresses(nodes)


async def connect_scheduler(
    service: Any,
    *,
    port_forward_cluster_ip: bool,
    direct_timeout: float,
    dashboard_forward_port: int | None = None,
    nodes: Sequence[str] = (),
    node_host: str | None = None,
    node_port: int | None = None,
    comm_port: tuple[str, int] = ("tcp-comm", 8786),
    dashboard_port: tuple[str, int] = ("http-dashboard", 8787),
) -> tuple[Endpoint, Endpoint | None]:
    """Endpoints for the scheduler comm and dashboard ports of ``service``.

    The dashboard is forwarded whenever the comm port is, or when ``dashboard_forward_port`` asks
    for a fixed local port; it is None if the Service has no dashboard port.
    """
    comm = await connect_service_port(
        service,
        comm_port[0],
        default_port=comm_port[1],
        port_forward_cluster_ip=port_forward_cluster_ip,
        direct_timeout=direct_timeout,
        nodes=nodes,
        node_host=node_host,
        node_port=node_port,
    )
    try:
        find_port(service.raw, dashboard_port[0], dashboard_port[1])
    except LookupError:
        return comm, None
    try:
        dashboard = await connect_service_port(
            service,
            dashboard_port[0],
            default_port=dashboard_port[1],
            port_forward_cluster_ip=port_forward_cluster_ip,
            direct_timeout=direct_timeout,
            local_port=dashboard_forward_port,
            nodes=nodes,
            node_host=node_host,
            force_forward=comm.forwarder is not None or dashboard_forward_port is not None,
        )
    except BaseException:
        if comm.forwarder is not None:
            await comm.forwarder.stop()
        raise
    return comm, dashboard


async def wait_for_scheduler(comm: Any, address: str, timeout: float, what: str) -> None:
    """Poll ``identity()`` on an rpc until the scheduler answers, or raise a TimeoutError."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await asyncio.wait_for(comm.identity(), 5)
            return
        except Exception as e:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"The scheduler of {what} did not answer at {address} within {timeout:g}s: {e!r}") from None
            await asyncio.sleep(0.1)
