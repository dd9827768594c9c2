"""DaskCluster: its scheduler pod and Service, its default worker group, its status and idleness."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from kr8s import ServerError
from kr8s.asyncio.objects import Pod, Service

from dask_k8s_common.contract import (
    DASHBOARD_PORT_NAME,
    default_worker_group_name,
    scheduler_name,
)
from dask_k8s_common.resources import DaskCluster, DaskWorkerGroup

from .. import builders, events, kube, planning, scheduler_api, store
from ..kube import Obj
from .children import create_child, ensure, found, report_legacy_command
from .pacing import FAST, GONE, RESYNC
from .status import iso, set_status

logger = logging.getLogger(__name__)


async def reconcile_cluster(namespace: str, name: str) -> float:
    cluster = await kube.fetch_live(DaskCluster, name, namespace)
    if cluster is None:
        return GONE
    body = cluster.raw
    status = body.get("status") or {}
    if not status.get("phase"):
        await set_status(cluster, {"phase": "Created", "reason": "Accepted",
                                   "message": "the operator accepted the cluster"})
        await events.post(body, "Created", "DaskCluster accepted; creating its components")

    # The scheduler pod, its Service and the default worker group do not depend on each other, so
    # they are made together: the workers start while the scheduler starts (they retry until it
    # answers), as bare `dask scheduler` and `dask worker` processes would.
    pod, service, group = await asyncio.gather(
        _sync_scheduler_pod(cluster), _sync_scheduler_service(cluster), _sync_default_group(cluster))
    if pod is None or service is None:
        return RESYNC

    scheduler = planning.summarize_pod(pod.raw)
    answers = status.get("phase") == "Running" and scheduler.ready
    error = None
    unexpected: Exception | None = None  # reported once the status says it too
    if not answers and scheduler.ready:
        url = scheduler_api.api_url(service.raw, scheduler.ip)
        if url:
            try:
                await scheduler_api.workers(url)
                answers = True
            except scheduler_api.SchedulerUnreachable as exc:
                error = str(exc)
                if exc.answered:  # (a refused connection is normal for a moment at start)
                    unexpected = exc
    phase = planning.cluster_phase(scheduler, True, answers, error)
    group_status = (group.raw.get("status") or {}) if group is not None else {}
    connected_workers = sum(
        int((g.get("status") or {}).get("readyReplicas") or 0)
        for g in store.items("daskworkergroups", namespace)
        if g.get("spec", {}).get("cluster") == name)
    update = {
        "phase": phase.phase,
        "reason": phase.reason,
        "message": phase.message,
        "replicas": group_status.get("replicas", 0),
        "readyReplicas": group_status.get("readyReplicas", 0),
        "workers": max(connected_workers, group_status.get("readyReplicas", 0)),
        "selector": builders.worker_group_selector(name, default_worker_group_name(name)),
        "schedulerAddress": builders.scheduler_address(
            name, namespace, body["spec"]["scheduler"].get("service")),
        "observedGeneration": body["metadata"].get("generation", 0),
    }
    if phase.phase == "Running" and planning.is_workers_lost(group_status.get("message")):
        # the default group's workers are the cluster's: its status says what became of them
        update["message"] = f"{phase.message}; {group_status['message']}"
    dashboard = [p for p in service.raw["spec"].get("ports", [])
                 if p.get("name") == DASHBOARD_PORT_NAME]
    if dashboard:
        update["dashboardAddress"] = (
            f"http://{scheduler_name(name)}.{namespace}.svc.{builders.cluster_domain()}"
            f":{dashboard[0]['port']}"
        )
    previous = events.phase_told(body, (cluster.raw.get("status") or {}).get("phase"))
    await set_status(cluster, update)
    if unexpected is not None:
        await _report_unreachable(body, unexpected, "the scheduler's pod is ready but its API "
                                                    "does not answer as expected")
    if phase.phase != previous and previous is not None:
        # (Created -> Pending only repeats the Created event: logged, not recorded)
        if await events.post(body, phase.reason, f"{previous} -> {phase.phase}: {phase.message}",
                             warning=phase.phase == "Error",
                             routine=previous == "Created" and phase.phase == "Pending"):
            events.tell_phase(body, phase.phase)

    wait = RESYNC if phase.phase == "Running" else FAST
    if phase.phase == "Running" and body["spec"].get("idleTimeout"):
        wait = min(wait, await _check_idle(cluster, service, scheduler))
    return wait


async def _report_unreachable(cluster: dict[str, Any], exc: Exception, doing: str) -> None:
    """A warning Event on the cluster that says why its scheduler counts as unreachable."""
    await events.post(cluster, "SchedulerUnreachable", f"{doing}: {exc}", warning=True)


async def _sync_scheduler_pod(cluster: Obj[DaskCluster]) -> Obj[Pod] | None:
    """The scheduler pod, created if missing and replaced when its spec changed (None: it could
    not be created)."""
    body = cluster.raw
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    desired_pod = builders.build_scheduler_pod(body)
    pod = await kube.fetch(Pod, scheduler_name(name), namespace)
    if pod is not None and not pod.raw["metadata"].get("deletionTimestamp"):
        await found(cluster, pod)
        have = (pod.raw["metadata"].get("annotations") or {}).get(builders.SPEC_HASH_ANNOTATION)
        want = desired_pod["metadata"]["annotations"][builders.SPEC_HASH_ANNOTATION]
        if have != want:
            await events.post(body, "SchedulerSpecChanged",
                              f"scheduler spec changed; replacing pod {pod.name}")
            await kube.delete(pod)
            pod = await kube.fetch(Pod, scheduler_name(name), namespace)
    elif pod is not None:
        await _report_scheduler_lost(body, pod.raw)
    if pod is None:
        pod = await create_child(cluster, Pod, desired_pod, "scheduler pod", "SchedulerCreated")
        if pod is not None:
            await report_legacy_command(body, desired_pod)
    return pod


async def _report_scheduler_lost(cluster: dict[str, Any], pod: dict[str, Any]) -> None:
    """A warning when the scheduler pod is being evicted because its node was lost (it is made
    again once the pod is gone)."""
    summary = planning.summarize_pod(pod)
    for node in planning.lost_with_nodes([summary]):
        await events.post(cluster, "SchedulerLost",
                          f"the scheduler pod {summary.name} was lost with node {node} "
                          f"({planning.NODE_LOSS_REASONS[summary.disruption]}); it is made "
                          "again once the pod is gone", warning=True)


async def _sync_scheduler_service(cluster: Obj[DaskCluster]) -> Obj[Service] | None:
    """The scheduler Service, created if missing and kept in step with the cluster's spec (None:
    it could not be created)."""
    body = cluster.raw
    desired_service = builders.build_scheduler_service(body)
    service, created = await ensure(cluster, Service, desired_service, "scheduler service",
                                    "ServiceCreated")
    if service is None or created:
        return service
    drift = builders.service_drift(desired_service, service.raw)
    if drift:
        await kube.patch(service, {"spec": drift})
        await events.post(body, "ServiceUpdated", f"updated {', '.join(drift)} of the service")
    return service


async def _sync_default_group(cluster: Obj[DaskCluster]) -> Obj[DaskWorkerGroup] | None:
    body = cluster.raw
    desired = builders.build_default_worker_group(body)
    group, created = await ensure(cluster, DaskWorkerGroup, desired, "worker group",
                                  "WorkerGroupCreated")
    if group is None or created or group.raw["metadata"].get("deletionTimestamp"):
        return group
    if default_group_changes(body, group.raw) == ([], None, False):
        return group
    # Written with resourceVersion preconditions: a copy from the store that is a moment behind
    # (a stale replica count would undo a scale) fails them, and then the change is decided
    # again on fresh reads. The store holds what our own writes returned, so that is rare.
    for fresh in (False, True):
        if fresh:
            cluster, group = await asyncio.gather(
                kube.fetch(DaskCluster, cluster.name, cluster.namespace, cached=False),
                kube.fetch(DaskWorkerGroup, group.name, group.namespace, cached=False))
            if cluster is None or group is None:
                return group
        try:
            return await _write_default_group(cluster, group)
        except ServerError as exc:
            if kube.status_code(exc) not in (409, 422):
                raise
    # changed under our feet again: the watch event for that change reconciles again
    logger.info("default group of %s/%s changed concurrently; retrying", cluster.namespace,
                cluster.name)
    return group


async def _write_default_group(cluster: Obj[DaskCluster], group: Obj[DaskWorkerGroup]
                               ) -> Obj[DaskWorkerGroup]:
    """Bring the default group in step with its cluster's ``spec.worker`` (and the cluster's
    replica count with a group scaled directly), each write conditional on the resourceVersion
    the decision was made on."""
    ops, cluster_replicas, spec_changed = default_group_changes(cluster.raw, group.raw)
    if spec_changed:
        await events.post(cluster.raw, "WorkerSpecChanged",
                          f"worker spec changed; rolling the workers of {group.name}")
    if cluster_replicas is not None:
        # the group was scaled directly (kubectl scale daskworkergroup, an autoscaler); the
        # cluster is written first so that an interruption cannot make the old count win
        kube.remember(cluster.endpoint, await kube.patch(cluster, {
            "metadata": {"resourceVersion": cluster.raw["metadata"]["resourceVersion"]},
            "spec": {"worker": {"replicas": cluster_replicas}}}))
    if ops:
        rv = group.raw["metadata"]["resourceVersion"]
        answer = await kube.patch(group, [{"op": "test", "path": "/metadata/resourceVersion",
                                           "value": rv}, *ops], type="json")
        kube.remember(group.endpoint, answer)
        group = Obj(group.cls, answer)
    return group


def default_group_changes(cluster: dict[str, Any], group: dict[str, Any]
                          ) -> tuple[list[dict[str, Any]], int | None, bool]:
    """What keeps the default group in step with ``spec.worker`` of its cluster.

    Returns (JSON-patch ops for the group, new cluster replica count or None, whether the worker
    spec itself changed).
    """
    cluster_worker = cluster["spec"]["worker"]
    group_worker = group["spec"]["worker"]
    annotations = group["metadata"].get("annotations") or {}
    synced_raw = annotations.get(builders.SYNCED_REPLICAS_ANNOTATION)
    synced = int(synced_raw) if synced_raw is not None else None
    replicas = planning.sync_replicas(
        int(cluster_worker.get("replicas", 1)), int(group_worker.get("replicas", 1)), synced)
    ops: list[dict[str, Any]] = []
    new_worker = {**builders.worker_spec_without_replicas(cluster_worker), "replicas": replicas}
    spec_changed = builders.worker_spec_without_replicas(cluster_worker) != (
        builders.worker_spec_without_replicas(group_worker))
    if new_worker != group_worker:
        ops.append({"op": "replace", "path": "/spec/worker", "value": new_worker})
    if synced != replicas:
        if annotations:
            key = builders.SYNCED_REPLICAS_ANNOTATION.replace("/", "~1")
            ops.append({"op": "add", "path": f"/metadata/annotations/{key}",
                        "value": str(replicas)})
        else:
            ops.append({"op": "add", "path": "/metadata/annotations",
                        "value": {builders.SYNCED_REPLICAS_ANNOTATION: str(replicas)}})
    cluster_replicas = replicas if int(cluster_worker.get("replicas", 1)) != replicas else None
    return ops, cluster_replicas, spec_changed


async def _check_idle(cluster: Obj[DaskCluster], service: Obj[Service], scheduler: planning.PodSummary
                      ) -> float:
    body = cluster.raw
    url = scheduler_api.api_url(service.raw, scheduler.ip)
    if url is None:
        return RESYNC
    try:
        idle_since = await scheduler_api.idle_since(url)
    except scheduler_api.SchedulerUnreachable as exc:
        await _report_unreachable(body, exc, "idle timeout not checked")
        return RESYNC
    timeout = int(body["spec"]["idleTimeout"])
    await set_status(cluster, {"idleSince": iso(idle_since) if idle_since else None})
    if planning.idle_expired(idle_since, time.time(), timeout):
        await events.post(body, "IdleTimeout",
                          f"idle for more than {timeout}s (since {iso(idle_since)}); deleting")
        await kube.delete(cluster)
        return GONE
    return min(RESYNC, max(1.0, timeout / 4))
