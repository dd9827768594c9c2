"""Worker-group plans: which pods to create, retire through the scheduler or delete, for a
scale, a rolling update or a replacement; and the replica count a cluster shares with its default
group."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .pods import REPLACING, PodSummary

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


def worker_group_message(*, deferred: bool, lost: str | None, rolling: bool,
                         unreachable: str | None) -> str:
    """A worker group's status message, the most pressing first: removals held back for the
    scheduler, workers lost with their node being replaced, a rolling update, an unreachable
    scheduler (``unreachable``: why), then lost workers already replaced."""
    if deferred:
        return "waiting for the scheduler before removing workers"
    if lost and lost.endswith(REPLACING):
        return lost
    if rolling:
        return "rolling update in progress"
    if unreachable is not None:
        return f"scheduler unreachable ({unreachable}); readiness from pod conditions"
    return lost or ""
