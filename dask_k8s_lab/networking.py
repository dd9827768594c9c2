"""How the client reaches a scheduler Service: directly when reachable, else a port-forward.

Order of attempts for a Service port: LoadBalancer ingress, then a node address for NodePort,
then the ClusterIP — each confirmed with one short TCP connect (no DNS retry loop) — and finally a
port-forward (:mod:`.portforward`) re-established on the same local port whenever it drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dask_k8s_common.contract import (
    DASHBOARD_PORT,
    DASHBOARD_PORT_NAME,
    SCHEDULER_PORT,
    SCHEDULER_PORT_NAME,
)

from .portforward import WEBSOCKET_ATTEMPTS, PortForwarder

__all__ = [
    "WEBSOCKET_ATTEMPTS",
    "Candidate",
    "Endpoint",
    "PortForwarder",
    "candidate_addresses",
    "connect_scheduler",
    "connect_service_port",
    "find_port",
    "list_node_addresses",
    "node_addresses",
    "port_in_use",
    "resolve_target_port",
    "tcp_reachable",
    "wait_for_scheduler",
]

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
        f"Name the scheduler ports {SCHEDULER_PORT_NAME!r} and {DASHBOARD_PORT_NAME!r}."
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
    comm_port: tuple[str, int] = (SCHEDULER_PORT_NAME, SCHEDULER_PORT),
    dashboard_port: tuple[str, int] = (DASHBOARD_PORT_NAME, DASHBOARD_PORT),
) -> tuple[Endpoint, Endpoint | None]:
    """Endpoints for the scheduler comm and dashboard ports of ``service``.

    The dashboard is forwarded whenever the comm port is, or when ``dashboard_forward_port`` asks
    for a fixed local port; it is None if the Service has no dashboard port.
    """
    how = {"port_forward_cluster_ip": port_forward_cluster_ip, "direct_timeout": direct_timeout,
           "nodes": nodes, "node_host": node_host}
    comm = await connect_service_port(service, comm_port[0], default_port=comm_port[1],
                                      node_port=node_port, **how)
    try:
        find_port(service.raw, dashboard_port[0], dashboard_port[1])
    except LookupError:
        return comm, None
    try:
        dashboard = await connect_service_port(
            service, dashboard_port[0], default_port=dashboard_port[1], local_port=dashboard_forward_port,
            force_forward=comm.forwarder is not None or dashboard_forward_port is not None, **how)
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
