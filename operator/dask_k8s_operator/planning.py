"""Pure decisions: what a worker group must do next, cluster and job status, autoscaling, idleness.

Inputs are plain data (pod summaries, what the scheduler reported); outputs are plans that the
reconcilers carry out. Everything here is unit-tested without a cluster. What a planner knows of
a pod is in ``pods``, the worker-group plans in ``workerplans``; both are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

from dask_k8s_common.contract import FATAL_WAITING_REASONS, IMAGE_PULL_REASONS

from .pods import (  # noqa: F401  (re-exported)
    NODE_LOSS_REASONS,
    REPLACED,
    REPLACING,
    PodSummary,
    connected_workers,
    is_workers_lost,
    lost_with_nodes,
    summarize_pod,
    worker_host,
    workers_lost_message,
)
from .workerplans import (  # noqa: F401  (re-exported)
    WorkerGroupPlan,
    fallback_removal,
    order_for_removal,
    plan_worker_group,
    sync_replicas,
    worker_group_message,
)

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
