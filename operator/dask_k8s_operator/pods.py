"""What the planners know of a pod: a summary of its status, which scheduler worker it is, and
whether it was lost with its node."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dask_k8s_common.contract import ANNOTATION_RETIRING, ANNOTATION_SPEC_HASH

# ---------------------------------------------------------------------------------------------
# pods
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodSummary:
    """What the planners need to know about one pod."""

    name: str
    phase: str = "Pending"
    ready: bool = False
    ip: str | None = None
    deleting: bool = False
    retiring: bool = False
    spec_hash: str | None = None
    created: str = ""
    waiting_reason: str | None = None
    waiting_message: str | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    node: str | None = None
    # reason of a DisruptionTarget condition: the pod is being deleted because of a disruption
    disruption: str | None = None

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def live(self) -> bool:
        return not (self.deleting or self.retiring or self.finished)


def summarize_pod(pod: Mapping[str, Any]) -> PodSummary:
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    disruption = next((c.get("reason") or "DisruptionTarget"
                       for c in status.get("conditions") or []
                       if c.get("type") == "DisruptionTarget" and c.get("status") == "True"), None)
    waiting_reason = waiting_message = None
    restarts = 0
    last_exit = None
    for cs in status.get("containerStatuses") or []:
        restarts += int(cs.get("restartCount") or 0)
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting_reason is None:
            waiting_reason, waiting_message = waiting.get("reason"), waiting.get("message")
        terminated = (cs.get("lastState") or {}).get("terminated") or (
            (cs.get("state") or {}).get("terminated")
        )
        if terminated and last_exit is None:
            last_exit = terminated.get("exitCode")
    annotations = meta.get("annotations") or {}
    return PodSummary(
        name=meta.get("name", ""),
        phase=status.get("phase") or "Pending",
        ready=conditions.get("Ready") == "True",
        ip=status.get("podIP"),
        deleting=bool(meta.get("deletionTimestamp")),
        retiring=ANNOTATION_RETIRING in annotations,
        spec_hash=annotations.get(ANNOTATION_SPEC_HASH),
        created=meta.get("creationTimestamp") or "",
        waiting_reason=waiting_reason,
        waiting_message=waiting_message,
        restarts=restarts,
        last_exit_code=last_exit,
        node=(pod.get("spec") or {}).get("nodeName"),
        disruption=disruption,
    )


def worker_host(address: str) -> str:
    """``tcp://10.244.0.5:40123`` -> ``10.244.0.5``."""
    rest = address.split("://", 1)[-1]
    return rest.rsplit(":", 1)[0].strip("[]")


def connected_workers(
    pods: Iterable[PodSummary], scheduler_workers: Mapping[str, Mapping[str, Any]]
) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """Map pod name -> (worker address, worker info) for pods whose worker is on the scheduler.

    Pods are matched by IP, so this works whatever ``DASK_WORKER_NAME`` the user chose.
    """
    by_host: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for address, info in scheduler_workers.items():
        by_host[worker_host(address)] = (address, info)
    return {pod.name: by_host[pod.ip] for pod in pods if pod.ip and pod.ip in by_host}


# ---------------------------------------------------------------------------------------------
# pods lost with their node
# ---------------------------------------------------------------------------------------------

#: DisruptionTarget reasons of a pod deleted because its node went away: the taint-based
#: eviction after the node lifecycle controller tainted a NotReady/unreachable node NoExecute,
#: and the pod garbage collector for pods of a deleted (or out-of-service) node.
NODE_LOSS_REASONS = {"DeletionByTaintManager": "NotReady", "DeletionByPodGC": "node gone"}
_LOST = " were lost with node "


def lost_with_nodes(pods: Iterable[PodSummary]) -> dict[str, list[str]]:
    """Node name -> the pods (sorted) being deleted because that node went away."""
    lost: dict[str, list[str]] = {}
    for pod in pods:
        if pod.node and pod.disruption in NODE_LOSS_REASONS:
            lost.setdefault(pod.node, []).append(pod.name)
    return {node: sorted(names) for node, names in sorted(lost.items())}


REPLACING, REPLACED = "replacing them", "replaced"


def workers_lost_message(pods: Iterable[PodSummary], desired: int, ready: int) -> str | None:
    """What a worker group's status says while it has pods lost with their node, e.g. ``2 worker
    pod(s) were lost with node n2 (NotReady); replacing them`` (``replaced`` once ``ready``
    reaches ``desired``). None if no pod was lost (the lost pods are gone)."""
    pods = list(pods)
    why = {pod.node: NODE_LOSS_REASONS.get(pod.disruption or "") for pod in pods}
    parts = [f"{len(names)} worker pod(s){_LOST}{node} ({why[node]})"
             for node, names in lost_with_nodes(pods).items()]
    if not parts:
        return None
    return "; ".join(parts) + "; " + (REPLACING if ready < desired else REPLACED)


def is_workers_lost(message: str | None) -> bool:
    """Whether a worker group's status message is one of ``workers_lost_message``."""
    return bool(message) and _LOST in message


# ---------------------------------------------------------------------------------------------
# what the store keeps of a pod
# ---------------------------------------------------------------------------------------------

_METADATA = ("name", "namespace", "uid", "resourceVersion", "generation", "labels", "annotations",
             "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
             "ownerReferences")
_STATUS = ("phase", "reason", "message", "podIP", "startTime", "conditions")
_CONTAINER_STATUS = ("name", "ready", "started", "restartCount", "state", "lastState")


def _pick(source: Mapping[str, Any] | None, keys: Iterable[str]) -> dict[str, Any]:
    source = source or {}
    return {key: copy.deepcopy(source[key]) for key in keys if key in source}


def slim_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a pod the operator reads (``summarize_pod``, ownership, annotations, events
    on it): a full pod is ~17 KiB, mostly its spec and managed fields, and the store holds every
    pod of every cluster. A new dict, sharing nothing with ``pod``."""
    status = pod.get("status") or {}
    slim: dict[str, Any] = _pick(pod, ("apiVersion", "kind"))
    slim["metadata"] = _pick(pod.get("metadata"), _METADATA)
    node = (pod.get("spec") or {}).get("nodeName")
    slim["spec"] = {"nodeName": node} if node else {}
    slim["status"] = _pick(status, _STATUS)
    if "containerStatuses" in status:
        slim["status"]["containerStatuses"] = [
            _pick(cs, _CONTAINER_STATUS) for cs in status.get("containerStatuses") or []]
    return slim
