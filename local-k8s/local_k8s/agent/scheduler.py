"""Binding pods to nodes, as kube-scheduler would, with the checks that matter here: taints and
tolerations, nodeSelector and required node affinity, and resource requests against what each
node can allocate; among the nodes that fit, pods of one owner spread, then the least loaded
node wins. Runs in the first node's agent for the whole cluster.

As in kube-scheduler, the choice is made one pod at a time on a cache of what each node holds
(``NodeLoad``, kept as pods come and go, so a choice costs the same at 20 pods as at 2,000) and the
pod counts as placed at once; the binding itself (a request to the API server) runs beside the
next choices, a bounded number at a time (``BIND_CONCURRENCY``)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import events
from .containerspec import parse_quantity
from .kube import ApiError, Kube
from .node import now

log = logging.getLogger(__name__)
SCHEDULER_NAME = "default-scheduler"
# kube-scheduler scores a container without requests as if it asked for this much.
NON_ZERO_REQUESTS = {"cpu": 0.1, "memory": 200 * 2**20}
# Bindings in flight at once (kube-scheduler binds asynchronously too): one at a time, a
# request and an Event each, bound ~5 pods/s on a loaded machine.
BIND_CONCURRENCY = 16


def pod_requests(pod: Mapping[str, Any], non_zero: bool = False) -> dict[str, float]:
    """Effective requests: the larger of the sum over containers and any one init container.
    With `non_zero`, a container without a request counts kube-scheduler's default for scoring."""
    spec = pod.get("spec", {})

    def requests(container: Mapping[str, Any]) -> dict[str, float]:
        res = container.get("resources") or {}
        # A limit without a request implies a request of the same size.
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        found = {k: parse_quantity(v) for k, v in merged.items() if k in ("cpu", "memory")}
        return {**NON_ZERO_REQUESTS, **found} if non_zero else found

    total: dict[str, float] = {}
    for c in spec.get("containers") or []:
        for k, v in requests(c).items():
            total[k] = total.get(k, 0) + v
    for c in spec.get("initContainers") or []:
        for k, v in requests(c).items():
            total[k] = max(total.get(k, 0), v)
    return total


@dataclass
class NodeView:
    """What scheduling needs of a Node."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    allocatable: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    unschedulable: bool = False

    @classmethod
    def of(cls, node: Mapping[str, Any]) -> NodeView:
        spec, status = node.get("spec") or {}, node.get("status") or {}
        return cls(node["metadata"]["name"], dict(node["metadata"].get("labels") or {}),
                   dict(status.get("allocatable") or {}), list(spec.get("taints") or []),
                   bool(spec.get("unschedulable")))


def _add(total: dict[str, float], amounts: Mapping[str, float], sign: int) -> None:
    for k, v in amounts.items():
        total[k] = total.get(k, 0) + sign * v


@dataclass
class NodeLoad:
    """What the pods on one node ask for, summed: what fitting and scoring need of them."""

    requested: dict[str, float] = field(default_factory=dict)
    scored: dict[str, float] = field(default_factory=dict)  # with kube-scheduler's non-zero defaults
    owners: Counter = field(default_factory=Counter)

    @classmethod
    def of(cls, pods: Iterable[Mapping[str, Any]]) -> NodeLoad:
        load = cls()
        for pod in pods:
            load.add(pod)
        return load

    def add(self, pod: Mapping[str, Any], sign: int = 1) -> None:
        """Count ``pod`` on this node (``sign=-1``: no longer)."""
        _add(self.requested, pod_requests(pod), sign)
        _add(self.scored, pod_requests(pod, non_zero=True), sign)
        mine = owner(pod)
        if mine:
            self.owners[mine] += sign
            if self.owners[mine] <= 0:  # (owners come and go: keep only those with pods here)
                del self.owners[mine]


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if not t.get("key"):
            if t.get("operator") == "Exists":
                return True
            continue
        if t["key"] != taint.get("key"):
            continue
        if t.get("operator") == "Exists" or t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and key in labels and values:
        try:
            left, right = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return left > right if op == "Gt" else left < right
    return False


def selector_matches(pod: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """nodeSelector and requiredDuringScheduling node affinity (terms OR-ed, expressions AND-ed)."""
    spec = pod.get("spec", {})
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    return any(all(_expression_matches(e, labels) for e in term.get("matchExpressions") or []) for term in terms)


def node_problems(pod: Mapping[str, Any], node: NodeView, load: NodeLoad) -> list[str]:
    """Why the pod cannot go on the node (holding ``load``), in kube-scheduler's words (empty
    when it fits)."""
    problems = []
    if node.unschedulable:
        problems.append("node(s) were unschedulable")
    tolerations = pod.get("spec", {}).get("tolerations") or []
    for taint in node.taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            problems.append(f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}")
            break
    if not selector_matches(pod, node.labels):
        problems.append("node(s) didn't match Pod's node affinity/selector")
    for resource, wanted in sorted(pod_requests(pod).items()):
        free = parse_quantity(node.allocatable.get(resource, "0")) - load.requested.get(resource, 0)
        if wanted - free > 1e-9 * max(1.0, wanted):  # (sums kept as pods come and go drift a little)
            problems.append(f"Insufficient {resource}")
    return problems


def unavailable_message(problems: Mapping[str, list[str]]) -> str:
    counts = Counter(p for node_problems in problems.values() for p in node_problems)
    reasons = ", ".join(sorted(f"{n} {p}" for p, n in counts.items()))  # sorted as kube-scheduler does
    return f"0/{len(problems)} nodes are available: {reasons}."


def owner(pod: Mapping[str, Any]) -> str | None:
    refs = pod.get("metadata", {}).get("ownerReferences") or []
    controller = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
    return controller.get("uid") if controller else None


def score(pod: Mapping[str, Any], node: NodeView, load: NodeLoad) -> tuple:
    """Lower is better: fewer pods of the same owner (spreading, as the default topology
    spread constraints do), then the smaller share of the node already requested."""
    mine = owner(pod)
    siblings = load.owners[mine] if mine else 0
    used = dict(load.scored)
    _add(used, pod_requests(pod, non_zero=True), 1)
    share = sum(used.get(r, 0) / max(parse_quantity(node.allocatable.get(r, "0")), 1e-9) for r in ("cpu", "memory"))
    return siblings, round(share, 6), node.name


def choose_node(pod: Mapping[str, Any], nodes: Iterable[NodeView],
                loads: Mapping[str, NodeLoad]) -> tuple[str | None, str | None]:
    """(node name, None) for the best node that fits, or (None, why none fits)."""
    problems: dict[str, list[str]] = {}
    fitting = []
    empty = NodeLoad()
    for node in nodes:
        found = node_problems(pod, node, loads.get(node.name, empty))
        problems[node.name] = found
        if not found:
            fitting.append(node)
    if not problems:
        return None, "0/0 nodes are available: no nodes registered."
    if not fitting:
        return None, unavailable_message(problems)
    best = min(fitting, key=lambda n: score(pod, n, loads.get(n.name, empty)))
    return best.name, None


def unschedulable_reason(pod: Mapping[str, Any], node_labels: Mapping[str, str],
                         allocatable: Mapping[str, str], others: Iterable[Mapping[str, Any]]) -> str | None:
    """For one node: why the pod cannot go there, or None when it fits."""
    node = NodeView("node", dict(node_labels), dict(allocatable))
    found = node_problems(pod, node, NodeLoad.of(others))
    return unavailable_message({node.name: found}) if found else None


def is_active(pod: Mapping[str, Any]) -> bool:
    return pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")


class Scheduler:
    """Binds pending pods that name no node; re-tries the unschedulable when pods or nodes change."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.pending: dict[str, dict] = {}
        self.bound: dict[str, dict] = {}  # uid -> active pod that has a node (or is being bound to one)
        self.loads: dict[str, NodeLoad] = {}  # node -> what its bound pods ask for
        self.nodes: dict[str, NodeView] = {}
        self._wake = asyncio.Event()
        self._binding = asyncio.Semaphore(BIND_CONCURRENCY)

    async def run(self) -> None:
        await asyncio.gather(self._watch_nodes(), self._watch_unbound(), self._watch_bound(), self._bind_loop())

    def _place(self, uid: str, pod: dict) -> None:
        self._unplace(uid)
        self.bound[uid] = pod
        self.loads.setdefault(pod["spec"].get("nodeName", ""), NodeLoad()).add(pod)

    def _unplace(self, uid: str) -> bool:
        pod = self.bound.pop(uid, None)
        if pod is not None:
            self.loads[pod["spec"].get("nodeName", "")].add(pod, -1)
        return pod is not None

    async def _watch_nodes(self) -> None:
        async for kind, node in self.kube.watch("/api/v1/nodes"):
            if kind == "DELETED":
                self.nodes.pop(node["metadata"]["name"], None)
            else:
                self.nodes[node["metadata"]["name"]] = NodeView.of(node)
            self._wake.set()

    async def _watch_unbound(self) -> None:
        async for kind, pod in self.kube.watch("/api/v1/pods", fieldSelector="spec.nodeName="):
            uid = pod["metadata"]["uid"]
            if kind == "DELETED" or pod["metadata"].get("deletionTimestamp"):
                self.pending.pop(uid, None)
            elif pod["spec"].get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME and uid not in self.bound:
                self.pending[uid] = pod
                self._wake.set()

    async def _watch_bound(self) -> None:
        """Pods on nodes count against what the node can allocate; one that goes may make
        room for a pending one."""
        async for kind, pod in self.kube.watch("/api/v1/pods", fieldSelector="spec.nodeName!="):
            uid = pod["metadata"]["uid"]
            if kind == "DELETED" or not is_active(pod):
                if self._unplace(uid):
                    self._wake.set()
            else:
                self._place(uid, pod)

    async def _bind_loop(self) -> None:
        reported: dict[str, str] = {}
        binds: set[asyncio.Task] = set()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=5)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            for uid, pod in sorted(self.pending.items(), key=lambda i: i[1]["metadata"]["creationTimestamp"]):
                target, reason = choose_node(pod, self.nodes.values(), self.loads)
                if target is not None:
                    # counted on the node at once (kube-scheduler's "assume"), bound meanwhile
                    self.pending.pop(uid, None)
                    self._place(uid, {**pod, "spec": {**pod["spec"], "nodeName": target}})
                    await self._binding.acquire()
                    task = asyncio.get_running_loop().create_task(self._bind(uid, pod, target))
                    binds.add(task)
                    task.add_done_callback(binds.discard)
                elif reason and reported.get(uid) != reason:
                    reported[uid] = reason
                    await self._report_unschedulable(pod, reason)
            for uid in list(reported):
                if uid not in self.pending:
                    del reported[uid]

    async def _bind(self, uid: str, pod: dict, node: str) -> None:
        meta = pod["metadata"]
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await self.kube.request("POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", binding)
        except ApiError as e:
            log.info("binding %s/%s failed: %s", meta["namespace"], meta["name"], e)
            if self.bound.get(uid, {}).get("spec", {}).get("nodeName") == node:
                self._unplace(uid)  # not on that node after all: chosen again (unless gone)
                if e.code != 404:
                    self.pending[uid] = pod
                self._wake.set()
            return
        finally:
            self._binding.release()
        await events.emit(self.kube, pod, "Scheduled", f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
                          component="default-scheduler")

    async def _report_unschedulable(self, pod: dict, reason: str) -> None:
        meta = pod["metadata"]
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": reason, "lastTransitionTime": now()}
        try:
            await self.kube.request(
                "PATCH", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                {"status": {"conditions": [condition]}},
                content_type="application/strategic-merge-patch+json")
        except ApiError as e:
            log.info("could not mark %s unschedulable: %s", meta["name"], e)
        await events.emit(self.kube, pod, "FailedScheduling", reason, warning=True,
                          component="default-scheduler")
