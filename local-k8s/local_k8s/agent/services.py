"""Services on the node: a user-space proxy from each ClusterIP (and NodePort) to ready
endpoints, and the names pods resolve through their hosts files."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import settings
from .kube import Kube

log = logging.getLogger(__name__)
BUFFER = 256 * 1024


@dataclass
class ServiceView:
    namespace: str
    name: str
    cluster_ip: str | None  # None for headless services
    ports: list[dict]
    type: str = "ClusterIP"
    slices: dict[str, dict] = field(default_factory=dict)  # slice name -> EndpointSlice

    def endpoints(self, port: dict) -> list[tuple[str, int]]:
        """Ready (address, port) pairs for one service port."""
        result = []
        for s in self.slices.values():
            numbers = [p["port"] for p in s.get("ports") or [] if p.get("name", "") == port.get("name", "")
                       and p.get("protocol", "TCP") == "TCP"]
            for ep in s.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready", True):
                    result += [(addr, n) for addr in ep.get("addresses", []) for n in numbers]
        return result

    def ready_addresses(self) -> list[str]:
        return sorted({addr for s in self.slices.values() for ep in s.get("endpoints") or []
                       if (ep.get("conditions") or {}).get("ready", True) for addr in ep.get("addresses", [])})


def hosts_file(services: list[ServiceView], namespace: str, pod_name: str, pod_ip: str) -> str:
    """A pod's /etc/hosts: itself, then every service by its DNS names. Short names
    (`<svc>`) only for the pod's own namespace, as the DNS search path would give."""
    domain = settings.CLUSTER_DOMAIN
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             f"{pod_ip}\t{pod_name}"]
    for svc in sorted(services, key=lambda s: (s.namespace, s.name)):
        names = [f"{svc.name}.{svc.namespace}.svc.{domain}", f"{svc.name}.{svc.namespace}.svc",
                 f"{svc.name}.{svc.namespace}"]
        if svc.namespace == namespace:
            names.append(svc.name)
        addresses = [svc.cluster_ip] if svc.cluster_ip else svc.ready_addresses()
        lines += [f"{addr}\t{' '.join(names)}" for addr in addresses]
    return "\n".join(lines) + "\n"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class ServiceProxy:
    """Keeps one listener per (ClusterIP or node address, port) with ready endpoints."""

    def __init__(self, kube: Kube, on_names_changed: Callable[[], None], listen: bool = True) -> None:
        self.kube = kube
        self.listen = listen  # one agent proxies for all; every agent keeps names for its pods
        self.services: dict[tuple[str, str], ServiceView] = {}
        self.listeners: dict[tuple[str, int], asyncio.Server] = {}
        self.routes: dict[tuple[str, int], tuple[ServiceView, dict]] = {}
        self.on_names_changed = on_names_changed
        self._dirty = asyncio.Event()

    def hosts_for(self, namespace: str, pod_name: str, pod_ip: str) -> str:
        return hosts_file(list(self.services.values()), namespace, pod_name, pod_ip)

    async def run(self) -> None:
        await asyncio.gather(self._watch_services(), self._watch_slices(), self._sync_loop())

    async def _watch_services(self) -> None:
        async for kind, svc in self.kube.watch("/api/v1/services"):
            key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
            if kind == "DELETED":
                self.services.pop(key, None)
            else:
                spec = svc["spec"]
                ip = spec.get("clusterIP")
                old = self.services.get(key)
                view = ServiceView(key[0], key[1], None if ip in (None, "", "None") else ip,
                                   spec.get("ports") or [], spec.get("type", "ClusterIP"),
                                   old.slices if old else {})
                self.services[key] = view
                if self.listen and view.type == "LoadBalancer" and view.cluster_ip and not svc.get("status", {}).get("loadBalancer", {}).get("ingress"):
                    await self._publish_load_balancer(svc, view.cluster_ip)
            self._dirty.set()

    async def _publish_load_balancer(self, svc: dict, ip: str) -> None:
        """There is no cloud load balancer: the ClusterIP, reachable from this machine, serves."""
        meta = svc["metadata"]
        try:
            await self.kube.merge_patch(f"/api/v1/namespaces/{meta['namespace']}/services/{meta['name']}/status",
                                        {"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}})
        except Exception as e:
            log.warning("load balancer status of %s not posted: %s", meta["name"], e)

    async def _watch_slices(self) -> None:
        async for kind, eps in self.kube.watch("/apis/discovery.k8s.io/v1/endpointslices"):
            meta = eps["metadata"]
            svc_name = (meta.get("labels") or {}).get("kubernetes.io/service-name")
            if not svc_name:
                continue
            view = self.services.get((meta["namespace"], svc_name))
            if view is None:
                view = self.services[(meta["namespace"], svc_name)] = ServiceView(meta["namespace"], svc_name, None, [], "Pending")
            if kind == "DELETED":
                view.slices.pop(meta["name"], None)
            else:
                view.slices[meta["name"]] = eps
            self._dirty.set()

    async def _sync_loop(self) -> None:
        names = ""
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.02)
            self._dirty.clear()
            try:
                if self.listen:
                    await self._sync_listeners()
            except Exception:
                log.exception("service proxy sync failed")
            current = repr(sorted((k, v.cluster_ip, v.ready_addresses() if not v.cluster_ip else None)
                                  for k, v in self.services.items() if v.type != "Pending"))
            if current != names:
                names = current
                self.on_names_changed()

    async def _sync_listeners(self) -> None:
        wanted: dict[tuple[str, int], tuple[ServiceView, dict]] = {}
        for view in self.services.values():
            if not view.cluster_ip or view.type == "Pending":
                continue
            for port in view.ports:
                if port.get("protocol", "TCP") != "TCP" or not view.endpoints(port):
                    continue
                wanted[(view.cluster_ip, port["port"])] = (view, port)
                if port.get("nodePort"):
                    wanted[(settings.NODE_IP, port["nodePort"])] = (view, port)
        self.routes = wanted
        for key in [k for k in self.listeners if k not in wanted]:
            self.listeners.pop(key).close()
        for key in wanted:
            if key not in self.listeners:
                ip, port = key
                try:
                    self.listeners[key] = await asyncio.start_server(
                        lambda r, w, key=key: self._connect(key, r, w), ip, port, reuse_address=True)
                except OSError as e:
                    log.warning("cannot listen on %s:%s: %s", ip, port, e)

    async def _connect(self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        route = self.routes.get(key)
        targets = route[0].endpoints(route[1]) if route else []
        random.shuffle(targets)
        for address, port in targets:
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(address, port), 5)
                break
            except (OSError, asyncio.TimeoutError):
                continue
        else:
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()
            writer.close()

    def close(self) -> None:
        for server in self.listeners.values():
            server.close()
