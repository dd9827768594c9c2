"""Host networking of the local cluster: a bridge for pods and one network namespace per pod.
Touches no netfilter rules.

Pods reach each other on the bridge, and reach the host (the API server, ClusterIPs, which the
node agent proxies in user space) through their default route to the bridge address. The whole
service range is one `local` route on the bridge: every ClusterIP is an address of this host
that the agent can listen on, without adding an address per Service (address changes make
browsers on this machine drop their connections), and nothing meant for the service range
ever leaves the machine: an address no Service listens on refuses connections.
"""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
import subprocess
from pathlib import Path

from . import settings

NETNS_ETC = Path("/etc/netns")


def _ip(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], input=stdin, capture_output=True, text=True, check=check)


def setup_host() -> None:
    """Create the pod bridge with its fixed MAC (see settings.BRIDGE_MAC) and the service-range
    route (idempotent); deleting the bridge takes the route away too."""
    if _ip("link", "show", settings.BRIDGE, check=False).returncode != 0:
        _ip("link", "add", settings.BRIDGE, "type", "bridge")
        _no_ipv6(settings.BRIDGE)
        _ip("addr", "add", f"{settings.NODE_IP}/{settings.POD_PREFIX_LEN}", "dev", settings.BRIDGE)
    # set on every start, so a bridge made before this setting existed gets it too
    _ip("link", "set", settings.BRIDGE, "address", settings.BRIDGE_MAC, "up")
    _ip("route", "replace", "local", settings.SERVICE_CIDR, "dev", settings.BRIDGE)


def _no_ipv6(link: str) -> None:
    """No IPv6 link-local address on host-side links: each one would be an address change that
    makes browsers on this machine abort requests (ERR_NETWORK_CHANGED)."""
    path = Path(f"/proc/sys/net/ipv6/conf/{link}/disable_ipv6")
    if path.exists():
        path.write_text("1")


def teardown_host() -> list[str]:
    """Remove every link, namespace, route and /etc/netns folder this project made.

    Returns what was removed, for the caller to report.
    """
    removed = []
    for ns in list_pod_netns():
        _ip("netns", "delete", ns, check=False)
        removed.append(f"netns {ns}")
    for link in _links():
        if link.startswith(settings.NAME_PREFIX):
            _ip("link", "delete", link, check=False)
            removed.append(f"link {link}")
    if _service_route_present():
        _ip("route", "del", "local", settings.SERVICE_CIDR, "table", "local", check=False)
        removed.append(f"route local {settings.SERVICE_CIDR}")
    if NETNS_ETC.exists():
        for path in NETNS_ETC.glob(f"{settings.NAME_PREFIX}-*"):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed


def _service_route_present() -> bool:
    return settings.SERVICE_CIDR in _ip("route", "show", "table", "local", check=False).stdout


def _links() -> list[str]:
    out = _ip("-o", "link", "show", check=False).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def list_pod_netns() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(f"{settings.NAME_PREFIX}-")]


def leftovers() -> list[str]:
    """What of this project is still on the machine's network (empty after `down`)."""
    found = [f"netns {ns}" for ns in list_pod_netns()]
    found += [f"link {link}" for link in _links() if link.startswith(settings.NAME_PREFIX)]
    if _service_route_present():
        found.append(f"route local {settings.SERVICE_CIDR}")
    if NETNS_ETC.exists():
        found += [str(p) for p in NETNS_ETC.glob(f"{settings.NAME_PREFIX}-*")]
    return found


def netns_name(pod_uid: str) -> str:
    return f"{settings.NAME_PREFIX}-{pod_uid[:13]}"


def _host_veth(pod_uid: str) -> str:
    # Link names are at most 15 characters.
    return f"{settings.NAME_PREFIX}h{hashlib.sha1(pod_uid.encode()).hexdigest()[:10]}"


def create_pod_netns(pod_uid: str, ip: str, hosts: str, search: list[str]) -> str:
    """Give a pod its own network namespace wired to the bridge; returns the namespace name."""
    ns = netns_name(pod_uid)
    veth = _host_veth(pod_uid)
    etc = NETNS_ETC / ns
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "hosts").write_text(hosts)
    # No DNS server: names come from the hosts file; a lookup that misses fails at once
    # because nothing listens on the loopback resolver address.
    (etc / "resolv.conf").write_text(f"nameserver 127.0.0.1\nsearch {' '.join(search)}\noptions ndots:5 attempts:1 timeout:1\n")
    _ip("netns", "add", ns)
    _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    _no_ipv6(veth)
    _ip("link", "set", veth, "master", settings.BRIDGE, "up")
    _ip("-n", ns, "-batch", "-", stdin="\n".join([
        f"addr add {ip}/{settings.POD_PREFIX_LEN} dev eth0",
        "link set eth0 up",
        "link set lo up",
        f"route add default via {settings.NODE_IP}",
    ]) + "\n")
    return ns


def delete_pod_netns(pod_uid: str) -> None:
    delete_netns(netns_name(pod_uid))
    _ip("link", "delete", _host_veth(pod_uid), check=False)


def delete_netns(ns: str) -> None:
    """Deleting the namespace also deletes the veth pair whose end is inside it."""
    _ip("netns", "delete", ns, check=False)
    shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)


def update_hosts(pod_uid: str, hosts: str) -> None:
    """Rewrite a pod's hosts file in place (it is bind-mounted, so the inode must stay)."""
    path = NETNS_ETC / netns_name(pod_uid) / "hosts"
    if path.exists() and path.read_text() != hosts:
        with path.open("r+") as f:
            f.seek(0)
            f.write(hosts)
            f.truncate()


class PodIPs:
    """Hands out pod addresses from the pod range, skipping the node's own."""

    def __init__(self, cidr: str = settings.POD_CIDR) -> None:
        net = ipaddress.ip_network(cidr)
        self._free = (str(ip) for ip in net.hosts() if str(ip) != settings.NODE_IP)
        self._returned: list[str] = []
        self._claimed: set[str] = set()

    def take(self) -> str:
        while True:
            try:
                ip = next(self._free)
            except StopIteration:
                ip = self._returned.pop(0)
            if ip not in self._claimed:
                return ip
            self._claimed.discard(ip)

    def claim(self, ip: str) -> None:
        """An address in use already (a pod adopted after the agent restarted)."""
        self._claimed.add(ip)

    def give_back(self, ip: str) -> None:
        # Reused only once the range is used up, so a deleted pod's address is not at once
        # someone else's (a stale client would reach the wrong pod).
        self._returned.append(ip)
