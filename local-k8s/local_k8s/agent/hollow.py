"""Hollow pods (the kubemark idea): pods that run no process. The agent reports them through the
steps a kubelet would (sandbox, containers started, ready once their readiness probe would first
pass, without probing anything) and deletes them at once when asked. They let a scale test have
thousands of worker pods on a small machine while the API traffic around them stays real.

A pod is hollow when it carries the annotation ``local-k8s.dask.org/hollow: "true"`` or runs on a
node labelled with the same key (``local-k8s node add --label local-k8s.dask.org/hollow=true``,
best with a taint so that only pods meant for it land there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..nodes import HOLLOW
from .podbase import NodeContext, PodBase

# Per-pod override of how long its containers take to start (seconds, a float).
START_ANNOTATION = f"{HOLLOW}-start-seconds"
# What a process container takes here from "scheduled" to "started" (sandbox, netns, exec).
DEFAULT_START_SECONDS = 0.5


def is_hollow(pod: Mapping[str, Any], on_hollow_node: bool = False) -> bool:
    annotations = pod.get("metadata", {}).get("annotations") or {}
    return on_hollow_node or annotations.get(HOLLOW, "").strip().lower() == "true"


def ready_after(container: Mapping[str, Any]) -> float:
    """Seconds from a container's start until the kubelet would first see it ready, if every probe
    passes on its first try: the startup probe's initial delay, then the readiness probe's."""
    return sum(float((container.get(f"{kind}Probe") or {}).get("initialDelaySeconds", 0))
               for kind in ("startup", "readiness"))


@dataclass(frozen=True)
class Timeline:
    """When, counted from the pod reaching the node, its containers start and turn ready."""

    start: float
    ready: tuple[float, ...]  # per main container, from the pod reaching the node

    @classmethod
    def of(cls, pod: Mapping[str, Any]) -> Timeline:
        raw = (pod["metadata"].get("annotations") or {}).get(START_ANNOTATION)
        try:
            start = max(0.0, float(raw)) if raw is not None else DEFAULT_START_SECONDS
        except ValueError:
            start = DEFAULT_START_SECONDS
        return cls(start, tuple(start + ready_after(c) for c in pod["spec"]["containers"]))

    def steps(self) -> list[float]:
        """The distinct moments the status changes (one status patch each)."""
        return sorted({self.start, *self.ready})


def slim(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The little of a pod its status needs, so that thousands of hollow pods stay small."""
    meta, spec = pod["metadata"], pod["spec"]
    keep = ("name", "image", "resources")
    return {"metadata": {k: meta[k] for k in ("uid", "name", "namespace")},
            "spec": {"containers": [{k: c[k] for k in keep if k in c} for c in spec["containers"]],
                     "initContainers": [{k: c[k] for k in keep if k in c} for c in spec.get("initContainers") or []]}}


class HollowPod(PodBase):
    """A PodRunner's counterpart for a hollow pod: same interface towards the pod manager and the
    kubelet API, no process, no network namespace, no files."""

    # A hollow pod has no logs and no running process (kubectl logs/exec say so), nor folder.
    dir = Path("/nonexistent")
    host_network = False
    kind = "hollow pod"

    def __init__(self, ctx: NodeContext, pod: dict[str, Any]) -> None:
        super().__init__(ctx, pod)
        self.pod = slim(pod)
        self.timeline = Timeline.of(pod)
        status = pod.get("status") or {}
        # Already reported running (the agent restarted): adopt as is, with its address.
        self._adopted = status.get("phase") == "Running" and bool(status.get("podIP"))
        if self._adopted:
            self.ip = status["podIP"]
            self.ctx.ips.claim(self.ip)
            self._ip_taken = True

    async def kill_now(self) -> None:
        self._release_ip()

    # ---- life -----------------------------------------------------------------------------

    async def run(self) -> None:
        life = asyncio.create_task(self._life())
        try:
            await self.deleting.wait()
        finally:
            life.cancel()
            await asyncio.gather(life, return_exceptions=True)
            self._release_ip()
        if not self.gone:
            await self._delete_from_api()

    async def _life(self) -> None:
        if self._adopted:
            return
        self.ip = self.ctx.ips.take()
        self._ip_taken = True
        for state in self.init:  # init containers "ran" in no time
            state.running(0)
            state.terminated(0, "Completed")
        await self._publish(sandbox_ready=True)
        loop = asyncio.get_running_loop()
        began = loop.time()
        for step in self.timeline.steps():
            await asyncio.sleep(max(0.0, began + step - loop.time()))
            for state, ready in zip(self.main, self.timeline.ready):
                if step >= self.timeline.start and not state.is_running:
                    state.running(0)  # pid 0: no process, so no containerID
                if step >= ready:
                    state.ready = True
            await self._publish(sandbox_ready=True)

    def status(self, sandbox_ready: bool) -> dict[str, Any]:
        return self._pod_status(initialized=True, will_restart=False, sandbox_ready=sandbox_ready)

    async def _publish(self, sandbox_ready: bool) -> None:
        await self._post_status(self.status(sandbox_ready))
