"""The nodes of a local cluster: names, zones, labels, taints, kubelet ports and pod ranges.

`up --nodes N` plans them and writes `nodes.json` in the state folder; each node agent reads
its own entry, and `local-k8s node ...` adds, stops and starts them. Pure apart from load/save.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import settings

ZONES = ("local-a", "local-b", "local-c")
# Every node's pods get their own part of the pod range, so node agents never hand out the same
# address; all of them sit on the one bridge, as pods of several nodes share one flat network.
POD_SUBNET_PREFIX = 19
MAX_NODES = 2 ** (POD_SUBNET_PREFIX - settings.POD_PREFIX_LEN)
# A node label (and pod annotation) for hollow pods: they run no process (agent/hollow.py).
HOLLOW = "local-k8s.dask.org/hollow"
# A hollow node holds many more pods than a real one: they cost the machine almost nothing.
HOLLOW_NODE_PODS = 10000
_TAINT = re.compile(r"(?P<key>[A-Za-z0-9./_-]+)(=(?P<value>[A-Za-z0-9._-]*))?:(?P<effect>NoSchedule|PreferNoSchedule|NoExecute)")


@dataclass(frozen=True)
class NodeConfig:
    name: str
    index: int
    zone: str
    kubelet_port: int
    pod_cidr: str
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)

    @property
    def runs_cluster_services(self) -> bool:
        """The first node's agent also plays kube-scheduler and kube-proxy for the whole
        cluster (pods of every node share this machine's network, so one proxy serves all)."""
        return self.index == 0

    @property
    def hollow(self) -> bool:
        return self.labels.get(HOLLOW, "").strip().lower() == "true"

    @property
    def component(self) -> str:
        """Its process's name in the state folder's pids/ and logs/."""
        return "node-agent" if self.index == 0 else f"node-agent-{self.name}"

    def all_labels(self) -> dict[str, str]:
        return {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/region": "local", "topology.kubernetes.io/zone": self.zone,
                **self.labels}


def parse_taint(text: str) -> dict[str, str]:
    """`key[=value]:Effect`, as `kubectl taint` writes it."""
    match = _TAINT.fullmatch(text.strip())
    if not match:
        raise ValueError(f"taint {text!r} is not key[=value]:Effect with Effect one of NoSchedule, "
                         "PreferNoSchedule, NoExecute (e.g. dedicated=gpu:NoSchedule)")
    taint = {"key": match.group("key"), "effect": match.group("effect")}
    if match.group("value"):
        taint["value"] = match.group("value")
    return taint


def parse_label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"label {text!r} is not key=value")
    return key, value


def node_name(index: int) -> str:
    return settings.NODE_NAME if index == 0 else f"{settings.NODE_NAME}-{index + 1}"


def pod_cidr(index: int) -> str:
    subnets = ipaddress.ip_network(settings.POD_CIDR).subnets(new_prefix=POD_SUBNET_PREFIX)
    return str(list(subnets)[index])


def new_node(index: int, name: str | None = None, zone: str | None = None, labels: dict[str, str] | None = None,
             taints: list[dict[str, str]] | None = None) -> NodeConfig:
    if not 0 <= index < MAX_NODES:
        raise ValueError(f"at most {MAX_NODES} nodes (the pod range is split between them)")
    return NodeConfig(name=name or node_name(index), index=index, zone=zone or ZONES[index % len(ZONES)],
                      kubelet_port=settings.Ports().kubelet + index, pod_cidr=pod_cidr(index),
                      labels=dict(labels or {}), taints=list(taints or []))


def plan(count: int, taints: dict[str, list[dict[str, str]]] | None = None) -> list[NodeConfig]:
    """`count` nodes spread over the zones; `taints` maps node names to their taints."""
    if count < 1:
        raise ValueError("--nodes must be at least 1")
    taints = taints or {}
    nodes = [new_node(i) for i in range(count)]
    unknown = set(taints) - {n.name for n in nodes}
    if unknown:
        raise ValueError(f"--taint names unknown node(s) {', '.join(sorted(unknown))}; the nodes are "
                         + ", ".join(n.name for n in nodes))
    return [NodeConfig(**{**asdict(n), "taints": taints.get(n.name, [])}) for n in nodes]


def free_index(nodes: list[NodeConfig]) -> int:
    used = {n.index for n in nodes}
    return next(i for i in range(MAX_NODES + 1) if i not in used)


def load(path: Path) -> list[NodeConfig]:
    try:
        return [NodeConfig(**item) for item in json.loads(path.read_text())]
    except FileNotFoundError:
        return [new_node(0)]


def save(path: Path, nodes: list[NodeConfig]) -> None:
    path.write_text(json.dumps([asdict(n) for n in sorted(nodes, key=lambda n: n.index)], indent=1))
