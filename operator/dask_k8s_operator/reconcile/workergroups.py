"""DaskWorkerGroup: its worker pods (scaling, rolling updates, replacing lost or finished pods)
and its status."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kr8s.asyncio.objects import Pod, Service

from dask_k8s_common import legacy_commands
from dask_k8s_common.contract import (
    COMPONENT_WORKER,
    LABEL_CLUSTER,
    LABEL_COMPONENT,
    LABEL_WORKER_GROUP,
    default_worker_group_name,
    scheduler_name,
)
from dask_k8s_common.resources import DaskCluster, DaskWorkerGroup

from .. import builders, events, kube, planning, scheduler_api, store
from ..kube import Obj
from . import retirement
from .children import creation_failed, delete_pods, report_legacy_command
from .pacing import CREATE_CONCURRENCY, FAST, GONE, RESYNC, batch_delay, batch_size, waiting_delay
from .status import set_status

logger = logging.getLogger(__name__)

# (namespace, name) -> (what the group saw, its last wait) of groups that only wait for workers
# to connect: their requeue backs off while nothing changes
WAITING: dict[tuple[str, str], tuple[int, float]] = {}


async def reconcile_worker_group(namespace: str, name: str) -> float:
    group = await kube.fetch_live(DaskWorkerGroup, name, namespace)
    if group is None:
        WAITING.pop((namespace, name), None)
        return GONE
    body = group.raw
    cluster_name = body["spec"]["cluster"]
    cluster = await kube.fetch(DaskCluster, cluster_name, namespace)
    if cluster is None or cluster.raw["metadata"].get("deletionTimestamp"):
        message = f"DaskCluster {cluster_name} not found; waiting for it"
        await set_status(group, {"message": message})
        await events.post(body, "ClusterNotFound", message, warning=True)
        return RESYNC
    if not builders.is_owned_by(body, cluster.raw):
        # adopt, so the group goes when the cluster goes
        refs = body["metadata"].get("ownerReferences") or []
        await kube.patch(group, {"metadata": {"ownerReferences": [
            *refs, {**builders.owner_reference(cluster.raw), "controller": False}]}})
        await events.post(body, "Adopted", f"attached to DaskCluster {cluster_name}")

    service = await kube.fetch(Service, scheduler_name(cluster_name), namespace)
    scheduler_pod = await kube.fetch(Pod, scheduler_name(cluster_name), namespace)
    scheduler_summary = planning.summarize_pod(scheduler_pod.raw) if scheduler_pod else None
    url = None
    if (scheduler_summary is not None and scheduler_summary.phase == "Running"
            and not scheduler_summary.deleting):  # else: unreachable anyway
        url = scheduler_api.api_url(service.raw if service else None, scheduler_summary.ip)

    # the Service may still be on its way (it is made beside the group): the workers' address
    # then comes from the cluster's spec
    service_spec = (service.raw.get("spec") if service is not None
                    else builders.build_scheduler_service(cluster.raw)["spec"])
    selector = {LABEL_CLUSTER: cluster_name, LABEL_COMPONENT: COMPONENT_WORKER, LABEL_WORKER_GROUP: name}
    raw_pods = await kube.list_pods(namespace, selector)
    pods = [planning.summarize_pod(pod) for pod in raw_pods]
    desired = int(body["spec"]["worker"].get("replicas", 1))
    in_flight = retirement.in_flight(namespace, name)
    scheduler_workers = None
    unreachable = "no scheduler address"
    made_early = 0
    if url is not None:
        early = planning.plan_worker_group(desired, pods, builders.worker_pod_hash(body), None,
                                           batch_size=batch_size(), in_flight=in_flight)
        removes = bool(early.retire or early.delete or early.rolling or in_flight)
        answer = asyncio.ensure_future(scheduler_api.workers(
            url, max_age=0.0 if removes else scheduler_api.SHARED_FOR))
        try:
            if early.create and not (early.retire or early.delete or early.rolling):
                # a plain scale-up needs nothing from the scheduler: the pods are made while it
                # answers (a busy scheduler can take seconds), and are in the store at once
                await _create_workers(group, service_spec, early.create, False)
                made_early = early.create
                raw_pods = await kube.list_pods(namespace, selector)
                pods = [planning.summarize_pod(pod) for pod in raw_pods]
            scheduler_workers = await answer
        except scheduler_api.SchedulerUnreachable as exc:
            unreachable = str(exc)
            logger.info("worker group %s/%s: scheduler unreachable: %s", namespace, name, exc)
        finally:
            answer.cancel()
    connected = (planning.connected_workers(pods, scheduler_workers)
                 if scheduler_workers is not None else None)
    plan = planning.plan_worker_group(
        desired, pods, builders.worker_pod_hash(body), connected, batch_size=batch_size(),
        in_flight=in_flight)
    if plan.retire or plan.delete:
        # before removing anything, make sure the count is not a stale read from the store
        fresh = await kube.fetch(DaskWorkerGroup, name, namespace, cached=False)
        if fresh is None or fresh.raw["metadata"].get("deletionTimestamp"):
            return GONE
        if fresh.raw["spec"] != body["spec"]:
            return FAST
        # nor from pods the store still holds although they are gone (or new ones it lacks)
        raw_pods = await kube.list_pods(namespace, selector, live=True)
        pods = [planning.summarize_pod(pod) for pod in raw_pods]
        connected = (planning.connected_workers(pods, scheduler_workers)
                     if scheduler_workers is not None else None)
        plan = planning.plan_worker_group(
            desired, pods, builders.worker_pod_hash(body), connected, batch_size=batch_size(),
            in_flight=in_flight)

    deferred = False
    if connected is None:
        plan.delete, deferred = await retirement.without_scheduler(body, plan.delete, pods)
    else:
        retirement.scheduler_answered(namespace, name)
    await delete_pods(namespace, plan.delete)
    if plan.retire and not in_flight:  # one retirement per group at a time
        by_name = {pod["metadata"]["name"]: pod for pod in raw_pods}
        await retirement.start(group, url, connected or {}, plan.retire, by_name)
    if plan.create:
        await _create_workers(group, service_spec, plan.create, plan.rolling)

    lost = planning.workers_lost_message(pods, desired, plan.ready_replicas)
    update = {
        "replicas": plan.replicas + plan.create,
        "readyReplicas": plan.ready_replicas,
        "updatedReplicas": plan.updated_replicas + plan.create,
        "retiringReplicas": plan.retiring_replicas,
        "selector": builders.worker_group_selector(cluster_name, name),
        "observedGeneration": body["metadata"].get("generation", 0),
        "message": planning.worker_group_message(
            deferred=deferred, lost=lost, rolling=plan.rolling,
            unreachable=unreachable if connected is None else None),
    }
    previous_message = (body.get("status") or {}).get("message")
    await set_status(group, update)
    if lost and update["message"] == lost and lost != previous_message:
        replacing = lost.endswith(planning.REPLACING)
        await _report_to_group_and_cluster(group, cluster, "WorkersLost" if replacing
                                           else "WorkersReplaced", lost, warning=replacing)
    await _report_failing_workers(group, cluster, pods)
    acting = plan.create or made_early or plan.retire or plan.delete or deferred or in_flight
    if (plan.create or made_early) and batch_size():
        return batch_delay()
    if acting or plan.ready_replicas >= desired:
        WAITING.pop((namespace, name), None)
        return FAST if acting else RESYNC
    # only waiting for workers to connect: back off while nothing changes
    seen = hash((tuple(pods), plan.ready_replicas, desired, update["message"]))
    last_seen, last_wait = WAITING.get((namespace, name), (None, None))
    wait = waiting_delay(last_wait if last_seen == seen else None)
    WAITING[(namespace, name)] = (seen, wait)
    return wait


async def _report_to_group_and_cluster(group: Obj[DaskWorkerGroup], cluster: Obj[DaskCluster], reason: str,
                                       message: str, warning: bool = True) -> None:
    """An event on the group, and on the cluster for its default group (so that ``kubectl
    describe daskcluster`` shows it)."""
    await events.post(group.raw, reason, message, warning=warning)
    if group.name == default_worker_group_name(cluster.name):
        await events.post(cluster.raw, reason, message, warning=warning)


async def _report_failing_workers(group: Obj[DaskWorkerGroup], cluster: Obj[DaskCluster],
                                  pods: list[planning.PodSummary]) -> None:
    """Worker pods that cannot start."""
    failing = [pod for pod in pods if pod.live and pod.waiting_reason in planning.CRASH_REASONS]
    if not failing:
        return
    pod = failing[0]
    exit_code = f" (last exit code {pod.last_exit_code})" if pod.last_exit_code is not None else ""
    message = (f"{len(failing)} worker pod(s) cannot start, e.g. {pod.name}: "
               f"{pod.waiting_reason}{exit_code}")
    await _report_to_group_and_cluster(group, cluster, "WorkersFailing", message)


async def _create_workers(group: Obj[DaskWorkerGroup], service_spec: dict[str, Any] | None, count: int,
                          rolling: bool) -> None:
    body = group.raw
    semaphore = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def one() -> str | None:
        manifest = builders.build_worker_pod(
            body, builders.new_worker_pod_name(body["metadata"]["name"]), service_spec)
        async with semaphore:
            try:
                pod, _ = await kube.create_raw(Pod, manifest)
                # counted from the store by the next reconcile, even before its watch event
                store.put("pods", pod)
                return pod["metadata"]["name"]
            except Exception as exc:
                await creation_failed(group, "worker pod", exc)
                return None

    created = [n for n in await asyncio.gather(*(one() for _ in range(count))) if n]
    if created:
        what = "replacement " if rolling else ""
        await events.post(body, "ScalingUp" if not rolling else "RollingUpdate",
                          f"created {len(created)} {what}worker pod(s)")
        # the default group's workers are the cluster's: `kubectl describe daskcluster` says it too
        sample = builders.build_worker_pod(body, created[0], service_spec)
        await report_legacy_command(body, sample)
        cluster_name = body["spec"]["cluster"]
        if legacy_commands.pod_message(sample) and (
                group.name == default_worker_group_name(cluster_name)):
            cluster = await kube.fetch(DaskCluster, cluster_name, body["metadata"]["namespace"])
            if cluster is not None:
                await report_legacy_command(cluster.raw, sample)
