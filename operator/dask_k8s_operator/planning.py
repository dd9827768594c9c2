"""Pure decisions: what a worker group must do next, cluster and job status, autoscaling, idleness.

Inputs are plain data (pod summaries, what the scheduler reported); outputs are plans that the
reconcilers carry out. Everything here is unit-tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dask_k8s_common.contract import FATAL_WAITING_REASONS, IMAGE_PULL_REASONS

from .builders import RETIRING_ANNOTATION, SPEC_HASH_ANNOTATION

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
        retiring=RETIRING_ANNOTATION in annotations,
        spec_hash=annotations.get(SPEC_HASH_ANNOTATION),
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


def workers_lost_message(pods: Iterable[PodSummary], desired: int, ready: int) -> str | None:
    """What a worker group's status says while pods lost with their node are being replaced
    (None once ``ready`` reaches ``desired``, or if no pod was lost), e.g. ``2 worker pod(s)
    were lost with node n2 (NotReady); replacing them``."""
    if ready >= desired:
        return None
    pods = list(pods)
    why = {pod.node: NODE_LOSS_REASONS.get(pod.disruption or "") for pod in pods}
    parts = [f"{len(names)} worker pod(s){_LOST}{node} ({why[node]})"
             for node, names in lost_with_nodes(pods).items()]
    return "; ".join(parts) + "; replacing them" if parts else None


def is_workers_lost(message: str | None) -> bool:
    """Whether a worker group's status message is one of ``workers_lost_message``."""
    return bool(message) and _LOST in message and message.endswith("; replacing them")


# ---------------------------------------------------------------------------------------------
# worker groups
# ---------------------------------------------------------------------------------------------


@dataclass
class WorkerGroupPlan:
    create: int = 0
    # pods connected to the scheduler: retired through it, then deleted
    retire: list[str] = field(default_factory=list)
    # pods holding no data (not connected, finished): deleted directly
    delete: list[str] = field(default_factory=list)
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    retiring_replicas: int = 0
    rolling: bool = False


def _stored_bytes(info: Mapping[str, Any] | None) -> int:
    metrics = (info or {}).get("metrics") or {}
    return int(metrics.get("managed_bytes") or metrics.get("memory") or 0)


def order_for_removal(
    pods: Iterable[PodSummary], connected: Mapping[str, tuple[str, Mapping[str, Any]]]
) -> list[PodSummary]:
    """Cheapest pods to remove first: not connected (no data; unready before ready), then the
    least data, then the newest."""

    def key(pod: PodSummary) -> tuple:
        if pod.name not in connected:
            return (0, pod.ready, 0, _neg(pod.created))
        return (1, True, _stored_bytes(connected[pod.name][1]), _neg(pod.created))

    return sorted(pods, key=key)


def _neg(timestamp: str) -> tuple:
    # newest first: invert the ordering of ISO timestamps
    return tuple(-ord(ch) for ch in timestamp)


def plan_worker_group(
    desired: int,
    pods: Iterable[PodSummary],
    current_hash: str,
    connected: Mapping[str, tuple[str, Mapping[str, Any]]] | None,
    max_surge: int = 1,
    batch_size: int | None = None,
    in_flight: Collection[str] = (),
) -> WorkerGroupPlan:
    """Decide creations, retirements and deletions for one worker group.

    - finished pods are deleted (and replaced through the count);
    - pods marked as retiring are retired again (the previous attempt may have been cut short),
      unless their retirement is still ``in_flight``;
    - scale-down removes this group's cheapest pods; connected ones go through the scheduler;
    - pods with an outdated spec are replaced one at a time (``max_surge`` extra pods): an old
      worker is retired only once a new one is connected, so capacity never drops below
      ``desired`` during a rollout.

    ``connected`` is None when the scheduler could not be asked; readiness then falls back to the
    pod's Ready condition and nothing is known to hold data.
    """
    pods = list(pods)
    plan = WorkerGroupPlan()
    known = connected if connected is not None else {}

    def is_ready(pod: PodSummary) -> bool:
        return pod.name in known if connected is not None else pod.ready

    def removal(chosen: Iterable[PodSummary]) -> None:
        for pod in chosen:
            if pod.name in known:
                plan.retire.append(pod.name)
            else:
                plan.delete.append(pod.name)

    for pod in pods:
        if pod.deleting:
            continue
        if pod.finished:
            plan.delete.append(pod.name)
        elif pod.retiring and pod.name not in in_flight:
            removal([pod])
    live = [pod for pod in pods if pod.live and pod.name not in in_flight]
    current = [pod for pod in live if pod.spec_hash == current_hash]
    outdated = [pod for pod in live if pod.spec_hash != current_hash]
    ready_current = [pod for pod in current if is_ready(pod)]

    if len(current) >= desired:
        # enough up-to-date pods: everything outdated goes, plus any surplus up-to-date pods
        surplus = order_for_removal(current, known)[: len(current) - desired]
        removal(order_for_removal(outdated, known))
        removal(surplus)
    elif outdated:
        plan.rolling = True
        excess = max(0, len(ready_current) + len(outdated) - desired)
        removal(order_for_removal(outdated, known)[:excess])
        # a pod keeps its place in the surge until it is gone: retirement runs in the background,
        # so the pods just chosen and those still retiring are counted
        leaving = sum(1 for pod in pods if not (pod.deleting or pod.finished)
                      and (pod.retiring or pod.name in in_flight))
        plan.create = max(0, min(desired - len(current), desired + max_surge - len(live) - leaving))
    else:
        plan.create = desired - len(live)
    if batch_size:
        plan.create = min(plan.create, batch_size)

    removed = set(plan.retire) | set(plan.delete)
    plan.replicas = sum(1 for pod in live if pod.name not in removed)
    plan.ready_replicas = sum(1 for pod in live if pod.name not in removed and is_ready(pod))
    plan.updated_replicas = sum(1 for pod in current if pod.name not in removed)
    in_flight_now = {pod.name for pod in pods if pod.name in in_flight and not pod.deleting}
    plan.retiring_replicas = len(set(plan.retire) | in_flight_now)
    return plan


def fallback_removal(pods: Iterable[PodSummary], count: int) -> list[str]:
    """When the scheduler is unreachable: not-ready pods first, then newest (last in, first out)."""
    ordered = sorted(pods, key=lambda pod: (pod.ready, _neg(pod.created)))
    return [pod.name for pod in ordered[:count]]


# ---------------------------------------------------------------------------------------------
# replica sync between a DaskCluster and its default worker group
# ---------------------------------------------------------------------------------------------


def sync_replicas(cluster: int, group: int, synced: int | None) -> int:
    """The replica count both must have, given the value they last agreed on.

    ``kubectl scale daskcluster`` changes the cluster's count, ``kubectl scale daskworkergroup``
    or an autoscaler changes the group's; whichever moved away from the agreed value wins (the
    cluster if both moved).
    """
    if synced is None:
        return cluster
    if cluster != synced:
        return cluster
    return group


# ---------------------------------------------------------------------------------------------
# cluster status
# ---------------------------------------------------------------------------------------------

#: Waiting reasons of a pod that does not start: fatal ones, and images that cannot be pulled
CRASH_REASONS = FATAL_WAITING_REASONS | IMAGE_PULL_REASONS


@dataclass(frozen=True)
class Phase:
    phase: str
    reason: str
    message: str


def cluster_phase(
    scheduler: PodSummary | None, service_exists: bool, scheduler_answers: bool,
    scheduler_error: str | None = None,
) -> Phase:
    """Running only when the scheduler pod is Ready and the scheduler answers; else why not
    (``scheduler_error``: what was wrong with its answer)."""
    if scheduler is None or scheduler.deleting:
        return Phase("Pending", "SchedulerMissing", "waiting for the scheduler pod to be created")
    if scheduler.phase == "Failed":
        code = f" (exit code {scheduler.last_exit_code})" if scheduler.last_exit_code else ""
        return Phase("Error", "SchedulerFailed", f"scheduler pod {scheduler.name} failed{code}")
    if scheduler.waiting_reason in CRASH_REASONS:
        detail = scheduler.waiting_message or ""
        if scheduler.last_exit_code is not None:
            detail = f"last exit code {scheduler.last_exit_code}. {detail}".strip()
        return Phase(
            "Error",
            scheduler.waiting_reason,
            f"scheduler pod {scheduler.name}: {scheduler.waiting_reason}"
            + (f": {detail}" if detail else ""),
        )
    if scheduler.phase != "Running" or not scheduler.ready:
        reason = scheduler.waiting_reason or "SchedulerStarting"
        return Phase("Pending", reason, f"scheduler pod {scheduler.name} is not ready yet")
    if not service_exists:
        return Phase("Pending", "ServiceMissing", "waiting for the scheduler Service")
    if not scheduler_answers:
        return Phase("Pending", "SchedulerNotAnswering",
                     f"the scheduler is unreachable: {scheduler_error}" if scheduler_error
                     else "the scheduler does not answer yet")
    return Phase("Running", "SchedulerReady", "the scheduler is ready")


# ---------------------------------------------------------------------------------------------
# jobs
# ---------------------------------------------------------------------------------------------

FINAL_JOB_STATES = ("Successful", "Failed")


def job_status_from_runner(current: str | None, runner: PodSummary | None) -> str | None:
    """The next jobStatus given the runner pod (None: no change)."""
    if current in FINAL_JOB_STATES or runner is None:
        return None
    if runner.phase == "Succeeded":
        return "Successful"
    if runner.phase == "Failed":
        return "Failed"
    if runner.phase == "Running" and current != "Running":
        return "Running"
    return None


# ---------------------------------------------------------------------------------------------
# autoscaling
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoscaleDecision:
    replicas: int | None  # None: leave the group as it is
    low_since: float | None
    desired: int
    reason: str


def clamp(value: int, minimum: int, maximum: int) -> int:
    return max(minimum, min(maximum, value))


def autoscale(
    target: int,
    current: int,
    minimum: int,
    maximum: int,
    now: float,
    low_since: float | None,
    last_scale_up: float | None,
    scale_down_delay: float,
    scale_up_cooldown: float,
) -> AutoscaleDecision:
    """Hysteresis: scale up promptly (at most once per cooldown), scale down only after the
    clamped target has stayed below the current count for ``scale_down_delay`` seconds."""
    desired = clamp(target, minimum, maximum)
    if desired > current:
        if last_scale_up is not None and now - last_scale_up < scale_up_cooldown:
            return AutoscaleDecision(None, None, desired, "scale-up cooldown")
        return AutoscaleDecision(desired, None, desired, "scale up")
    if desired < current:
        if low_since is None:
            return AutoscaleDecision(None, now, desired, "target dropped, waiting")
        if now - low_since < scale_down_delay:
            return AutoscaleDecision(None, low_since, desired, "target low, waiting")
        return AutoscaleDecision(desired, None, desired, "scale down")
    return AutoscaleDecision(None, None, desired, "steady")


def group_target(cluster_target: int, other_groups_replicas: int) -> int:
    """The scheduler's adaptive target counts every worker; the scaled group gets the rest."""
    return max(0, cluster_target - other_groups_replicas)


# ---------------------------------------------------------------------------------------------
# idle timeout
# ---------------------------------------------------------------------------------------------


def idle_expired(idle_since: float | None, now: float, idle_timeout: int) -> bool:
    """True when the scheduler has been idle (no tasks at all) for longer than ``idle_timeout``."""
    if not idle_timeout or idle_since is None:
        return False
    return now - idle_since > idle_timeout
