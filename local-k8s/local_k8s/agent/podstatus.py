"""What the node reports about a pod: container states and the pod status built from them.
Pure data and functions; the runner feeds them and patches the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import settings
from .node import now


@dataclass
class ContainerState:
    """One container as the node sees it; `state` is the Kubernetes one-key state dict."""

    name: str
    image: str
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict[str, Any] = field(default_factory=dict)
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    pid: int | None = None
    image_id: str = ""

    def waiting(self, reason: str, message: str = "") -> None:
        self.state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        self.ready = False

    def running(self, pid: int) -> None:
        self.state = {"running": {"startedAt": now()}}
        self.pid = pid
        self.started = True

    def terminated(self, exit_code: int, reason: str, message: str = "") -> None:
        started = self.state.get("running", {}).get("startedAt", now())
        self.state = {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": started,
                                     "finishedAt": now(), **({"message": message} if message else {})}}
        self.pid = None
        self.ready = False
        self.started = False

    def restarting(self) -> None:
        """Keep the finished run as lastState before the next one."""
        self.last_state = self.state
        self.restart_count += 1

    @property
    def is_running(self) -> bool:
        return "running" in self.state

    @property
    def exit_code(self) -> int | None:
        return self.state.get("terminated", {}).get("exitCode")

    def to_status(self, pod_uid: str) -> dict[str, Any]:
        status: dict[str, Any] = {
            "name": self.name, "image": self.image, "imageID": self.image_id or f"local-k8s://{self.image}",
            "ready": self.ready, "started": self.started, "restartCount": self.restart_count,
            "state": self.state, "lastState": self.last_state,
        }
        if self.pid:
            status["containerID"] = f"process://{pod_uid}/{self.name}/{self.restart_count}"
        return status


def phase(init: list[ContainerState], main: list[ContainerState], will_restart: bool, initialized: bool) -> str:
    """Pending until every main container has run; Succeeded/Failed once all have ended for good."""
    if not initialized:
        if any(c.exit_code not in (None, 0) for c in init) and not will_restart:
            return "Failed"
        return "Pending"
    if all("terminated" in c.state for c in main) and not will_restart:
        return "Succeeded" if all(c.exit_code == 0 for c in main) else "Failed"
    if any(c.is_running or c.restart_count or "terminated" in c.state for c in main):
        return "Running"
    return "Pending"


def qos_class(pod: dict[str, Any]) -> str:
    containers = pod["spec"].get("containers") or []
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(k) and (r.get("requests") or {}).get(k, r["limits"][k]) == r["limits"][k]
        for r in resources for k in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def pod_status(pod: dict[str, Any], *, ip: str | None, start_time: str, init: list[ContainerState],
               main: list[ContainerState], initialized: bool, will_restart: bool,
               sandbox_ready: bool, transitions: dict[str, str]) -> dict[str, Any]:
    """The pod's full status. `transitions` remembers when each condition last changed and is
    updated in place, so lastTransitionTime only moves when the status does."""
    uid = pod["metadata"]["uid"]
    current_phase = phase(init, main, will_restart, initialized)
    ready = initialized and bool(main) and all(c.ready for c in main) and current_phase == "Running"

    def condition(kind: str, true: bool, reason: str = "") -> dict[str, str]:
        status = "True" if true else "False"
        key = f"{kind}={status}"
        if key not in transitions:
            transitions.pop(f"{kind}={'False' if true else 'True'}", None)
            transitions[key] = now()
        result = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": transitions[key]}
        if reason and not true:
            result["reason"] = reason
        return result

    not_ready = [c.name for c in main if not c.ready]
    reason = "PodCompleted" if current_phase in ("Succeeded", "Failed") else "ContainersNotReady"
    status: dict[str, Any] = {
        "phase": current_phase,
        "hostIP": settings.NODE_IP, "hostIPs": [{"ip": settings.NODE_IP}],
        "startTime": start_time,
        "qosClass": qos_class(pod),
        "conditions": [
            condition("PodReadyToStartContainers", sandbox_ready),
            condition("Initialized", initialized, "ContainersNotInitialized"),
            condition("Ready", ready, reason),
            condition("ContainersReady", ready, reason),
            condition("PodScheduled", True),
        ],
        "containerStatuses": [c.to_status(uid) for c in main],
    }
    if not ready and not_ready and current_phase == "Running":
        status["conditions"][2]["message"] = f"containers with unready status: [{' '.join(not_ready)}]"
    if init:
        status["initContainerStatuses"] = [c.to_status(uid) for c in init]
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return status
