"""Binding pods to the one node, as kube-scheduler would, with the checks that matter here:
nodeSelector and resource requests against what the node can allocate."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from .. import settings
from . import events
from .containerspec import parse_quantity
from .kube import ApiError, Kube
from .node import capacity, now

log = logging.getLogger(__name__)
SCHEDULER_NAME = "default-scheduler"


def pod_requests(pod: Mapping[str, Any]) -> dict[str, float]:
    """Effective requests: the larger of the sum over containers and any one init container."""
    spec = pod.get("spec", {})

    def requests(container: Mapping[str, Any]) -> dict[str, float]:
        res = container.get("resources") or {}
        # A limit without a request implies a request of the same size.
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        return {k: parse_quantity(v) for k, v in merged.items() if k in ("cpu", "memory")}

    total: dict[str, float] = {}
    for c in spec.get("containers") or []:
        for k, v in requests(c).items():
            total[k] = total.get(k, 0) + v
    for c in spec.get("initContainers") or []:
        for k, v in requests(c).items():
            total[k] = max(total.get(k, 0), v)
    return total


def unschedulable_reason(pod: Mapping[str, Any], node_labels: Mapping[str, str],
                         allocatable: Mapping[str, str], others: Iterable[Mapping[str, Any]]) -> str | None:
    """Why the pod cannot go on the node, in kube-scheduler's words, or None when it fits."""
    selector = pod.get("spec", {}).get("nodeSelector") or {}
    problems = []
    if any(node_labels.get(k) != v for k, v in selector.items()):
        problems.append("node(s) didn't match Pod's node affinity/selector")
    used: dict[str, float] = {}
    for other in others:
        for k, v in pod_requests(other).items():
            used[k] = used.get(k, 0) + v
    for resource, wanted in sorted(pod_requests(pod).items()):
        free = parse_quantity(allocatable.get(resource, "0")) - used.get(resource, 0)
        if wanted > free:
            problems.append(f"Insufficient {resource}")
    if not problems:
        return None
    return f"0/1 nodes are available: {', '.join(f'1 {p}' for p in problems)}."


def is_active(pod: Mapping[str, Any]) -> bool:
    return pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")


class Scheduler:
    """Binds pending pods that name no node; re-tries the unschedulable when others go."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.pending: dict[str, dict] = {}
        self.bound: dict[str, dict] = {}
        self.labels = {"kubernetes.io/hostname": settings.NODE_NAME, "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64"}
        self._wake = asyncio.Event()

    async def run(self) -> None:
        await asyncio.gather(self._watch_unbound(), self._bind_loop())

    async def _watch_unbound(self) -> None:
        async for kind, pod in self.kube.watch("/api/v1/pods", fieldSelector="spec.nodeName="):
            uid = pod["metadata"]["uid"]
            if kind == "DELETED" or pod["metadata"].get("deletionTimestamp"):
                self.pending.pop(uid, None)
            elif pod["spec"].get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME:
                self.pending[uid] = pod
                self._wake.set()

    def pod_on_node(self, kind: str, pod: dict) -> None:
        """Fed by the pod manager's watch of this node's pods: their requests count against
        what the node can allocate, and a pod that goes may make room for a pending one."""
        uid = pod["metadata"]["uid"]
        if kind == "DELETED" or not is_active(pod):
            if self.bound.pop(uid, None) is not None:
                self._wake.set()
        else:
            self.bound[uid] = pod

    async def _bind_loop(self) -> None:
        reported: dict[str, str] = {}
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=5)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            for uid, pod in sorted(self.pending.items(), key=lambda i: i[1]["metadata"]["creationTimestamp"]):
                reason = unschedulable_reason(pod, self.labels, capacity(), self.bound.values())
                if reason is None:
                    await self._bind(pod)
                    self.pending.pop(uid, None)
                    self.bound[uid] = pod
                elif reported.get(uid) != reason:
                    reported[uid] = reason
                    await self._report_unschedulable(pod, reason)
            for uid in list(reported):
                if uid not in self.pending:
                    del reported[uid]

    async def _bind(self, pod: dict) -> None:
        meta = pod["metadata"]
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": settings.NODE_NAME}}
        try:
            await self.kube.request("POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", binding)
        except ApiError as e:
            log.info("binding %s/%s failed: %s", meta["namespace"], meta["name"], e)
            return
        await events.emit(self.kube, pod, "Scheduled",
                          f"Successfully assigned {meta['namespace']}/{meta['name']} to {settings.NODE_NAME}",
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
