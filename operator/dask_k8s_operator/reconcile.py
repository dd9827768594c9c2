"""Level-based reconcilers: read the world, decide with ``planning``, act through kr8s.

Each reconciler takes (namespace, name), is safe to run any number of times (a restarted
operator simply runs them again and converges), and returns how many seconds until it wants to
look again (``GONE`` once the object no longer exists).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from kr8s import ServerError
from kr8s.asyncio.objects import Pod, Service

from dask_k8s_common import legacy_commands
from dask_k8s_common.resources import (
    LABEL_CLUSTER,
    LABEL_COMPONENT,
    LABEL_WORKER_GROUP,
    COMPONENT_WORKER,
    DaskAutoscaler,
    DaskCluster,
    DaskJob,
    DaskWorkerGroup,
    default_worker_group_name,
    job_runner_name,
    scheduler_name,
)

from . import builders, events, kube, planning, scheduler_api, store

logger = logging.getLogger(__name__)

GONE = -1.0
FALLBACK_GRACE = float(os.environ.get("DASK_K8S_OPERATOR_RETIRE_FALLBACK_SECONDS", "30"))
_unreachable_since: dict[tuple[str, str], float] = {}
RESYNC = float(os.environ.get("DASK_K8S_OPERATOR_RESYNC_SECONDS", "10"))
FAST = 1.0
CREATE_CONCURRENCY = 16


def batch_size() -> int | None:
    value = os.environ.get("DASK_K8S_OPERATOR_WORKER_BATCH_SIZE")
    return int(value) if value else None


def batch_delay() -> float:
    return float(os.environ.get("DASK_K8S_OPERATOR_WORKER_BATCH_DELAY") or FAST)


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.UTC
    ).timestamp()


async def _set_status(obj: Any, update: dict[str, Any]) -> None:
    if kube.status_changed(obj.raw.get("status"), update):
        await kube.patch_status(obj, update)
        obj.raw.setdefault("status", {}).update(update)


async def _scheduler_url(namespace: str, cluster_name: str) -> str | None:
    service = await kube.fetch(Service, scheduler_name(cluster_name), namespace)
    pod = await kube.fetch(Pod, scheduler_name(cluster_name), namespace)
    pod_ip = (pod.raw.get("status") or {}).get("podIP") if pod else None
    return scheduler_api.api_url(service.raw if service else None, pod_ip)


async def _report_unreachable(cluster: dict[str, Any], exc: Exception, doing: str) -> None:
    """A warning Event on the cluster that says why its scheduler counts as unreachable."""
    await events.post(cluster, "SchedulerUnreachable", f"{doing}: {exc}", warning=True)


# ---------------------------------------------------------------------------------------------
# DaskCluster
# ---------------------------------------------------------------------------------------------


async def reconcile_cluster(namespace: str, name: str) -> float:
    cluster = await kube.fetch(DaskCluster, name, namespace)
    if cluster is None or cluster.raw["metadata"].get("deletionTimestamp"):
        return GONE
    body = cluster.raw
    status = body.get("status") or {}
    if not status.get("phase"):
        await _set_status(cluster, {"phase": "Created", "reason": "Accepted",
                                    "message": "the operator accepted the cluster"})
        await events.post(body, "Created", "DaskCluster accepted; creating its components")

    # The scheduler pod, its Service and the default worker group do not depend on each other, so
    # they are made together: the workers start while the scheduler starts (they retry until it
    # answers), as bare `dask scheduler` and `dask worker` processes would.
    pod, service, group = await asyncio.gather(
        _sync_scheduler_pod(cluster), _sync_scheduler_service(cluster), _sync_default_group(cluster))
    if pod is None or service is None:
        return RESYNC

    # status
    scheduler = planning.summarize_pod(pod.raw) if pod is not None else None
    answers = status.get("phase") == "Running" and scheduler is not None and scheduler.ready
    error = None
    if not answers and scheduler is not None and scheduler.ready:
        url = scheduler_api.api_url(service.raw if service else None, scheduler.ip)
        if url:
            try:
                await scheduler_api.workers(url)
                answers = True
            except scheduler_api.SchedulerUnreachable as exc:
                error = str(exc)
                if exc.answered:  # (a refused connection is normal for a moment at start)
                    await _report_unreachable(body, exc, "the scheduler's pod is ready but its "
                                                         "API does not answer as expected")
    phase = planning.cluster_phase(scheduler, service is not None, answers, error)
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
    if service is not None:
        dashboard = [p for p in service.raw["spec"].get("ports", [])
                     if p.get("name") == "http-dashboard"]
        if dashboard:
            update["dashboardAddress"] = (
                f"http://{scheduler_name(name)}.{namespace}.svc.{builders.cluster_domain()}"
                f":{dashboard[0]['port']}"
            )
    previous = (cluster.raw.get("status") or {}).get("phase")
    await _set_status(cluster, update)
    if phase.phase != previous and previous is not None:
        await events.post(body, phase.reason, f"{previous} -> {phase.phase}: {phase.message}",
                          warning=phase.phase == "Error")

    wait = RESYNC if phase.phase == "Running" else FAST
    if phase.phase == "Running" and body["spec"].get("idleTimeout"):
        wait = min(wait, await _check_idle(cluster, service, scheduler))
    return wait


async def _sync_scheduler_pod(cluster: DaskCluster) -> Pod | None:
    """The scheduler pod, created if missing and replaced when its spec changed (None: it could
    not be created)."""
    body = cluster.raw
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    desired_pod = builders.build_scheduler_pod(body)
    pod = await kube.fetch(Pod, scheduler_name(name), namespace)
    if pod is not None and not pod.raw["metadata"].get("deletionTimestamp"):
        have = (pod.raw["metadata"].get("annotations") or {}).get(builders.SPEC_HASH_ANNOTATION)
        want = desired_pod["metadata"]["annotations"][builders.SPEC_HASH_ANNOTATION]
        if have != want:
            await events.post(body, "SchedulerSpecChanged",
                              f"scheduler spec changed; replacing pod {pod.name}")
            await kube.delete(pod)
            pod = await kube.fetch(Pod, scheduler_name(name), namespace)
    if pod is None:
        pod = await _create_child(cluster, Pod, desired_pod, "scheduler pod", "SchedulerCreated")
        if pod is not None:
            await _report_legacy_command(body, desired_pod)
    return pod


async def _sync_scheduler_service(cluster: DaskCluster) -> Service | None:
    """The scheduler Service, created if missing and kept in step with the cluster's spec (None:
    it could not be created)."""
    body = cluster.raw
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    desired_service = builders.build_scheduler_service(body)
    service = await kube.fetch(Service, scheduler_name(name), namespace)
    if service is None:
        return await _create_child(cluster, Service, desired_service, "scheduler service",
                                   "ServiceCreated")
    drift = builders.service_drift(desired_service, service.raw)
    if drift:
        await service.patch({"spec": drift})
        await events.post(body, "ServiceUpdated", f"updated {', '.join(drift)} of the service")
    return service


async def _creation_failed(obj: Any, what: str, exc: Exception) -> None:
    """Report a failed creation: an Error phase if the API server rejected the object, a retry
    (with a warning, but no phase change) if the failure was transient."""
    message = f"could not create the {what}: {kube.api_error_message(exc)}"
    if not kube.is_rejection(exc):
        logger.warning("%s %s/%s: %s; will retry", obj.kind, obj.namespace, obj.name, message)
        await events.post(obj.raw, "CreateRetrying", message, warning=True)
        return
    update = {"message": message}
    if obj.kind == "DaskCluster":
        update.update(phase="Error", reason="CreateFailed")
    await _set_status(obj, update)
    await events.post(obj.raw, "CreateFailed", message, warning=True)


async def _create_child(cluster: DaskCluster, cls: type, manifest: dict[str, Any], what: str,
                        reason: str) -> Any | None:
    """Create one of the cluster's children (an event says so), or report why not and return
    None."""
    try:
        obj, created = await kube.create(cls, manifest)
    except Exception as exc:
        await _creation_failed(cluster, what, exc)
        return None
    if created:
        await events.post(cluster.raw, reason, f"created {what} {obj.name}")
    return obj


async def _report_legacy_command(owner: dict[str, Any], pod: dict[str, Any]) -> None:
    """A Warning event on ``owner`` when its pod's removed ``dask-*`` command was rewritten."""
    message = legacy_commands.pod_message(pod)
    if message:
        await events.post(owner, legacy_commands.REASON, message, warning=True)


async def _sync_default_group(cluster: DaskCluster) -> DaskWorkerGroup | None:
    body = cluster.raw
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    desired = builders.build_default_worker_group(body)
    group = await kube.fetch(DaskWorkerGroup, default_worker_group_name(name), namespace)
    if group is None:
        return await _create_child(cluster, DaskWorkerGroup, desired, "worker group",
                                   "WorkerGroupCreated")
    if group.raw["metadata"].get("deletionTimestamp"):
        return group
    if _default_group_changes(body, group.raw) == ([], None, False):
        return group
    # something to change: decide again on fresh reads (the store may be a moment behind, and a
    # stale replica count would undo a scale), then write with resourceVersion preconditions
    fresh_cluster = await kube.fetch(DaskCluster, name, namespace, cached=False)
    fresh_group = await kube.fetch(DaskWorkerGroup, group.name, namespace, cached=False)
    if fresh_cluster is None or fresh_group is None:
        return fresh_group
    ops, cluster_replicas, spec_changed = _default_group_changes(fresh_cluster.raw,
                                                                 fresh_group.raw)
    if spec_changed:
        await events.post(body, "WorkerSpecChanged",
                          f"worker spec changed; rolling the workers of {group.name}")
    try:
        if cluster_replicas is not None:
            # the group was scaled directly (kubectl scale daskworkergroup, an autoscaler); the
            # cluster is written first so that an interruption cannot make the old count win
            await fresh_cluster.patch({
                "metadata": {"resourceVersion": fresh_cluster.raw["metadata"]["resourceVersion"]},
                "spec": {"worker": {"replicas": cluster_replicas}}})
        if ops:
            rv = fresh_group.raw["metadata"]["resourceVersion"]
            await fresh_group.patch(
                [{"op": "test", "path": "/metadata/resourceVersion", "value": rv}, *ops],
                type="json")
    except ServerError as exc:
        if kube.status_code(exc) not in (409, 422):
            raise
        # changed under our feet: the watch event for that change reconciles again
        logger.info("default group of %s/%s changed concurrently; retrying", namespace, name)
    return fresh_group


def _default_group_changes(cluster: dict[str, Any], group: dict[str, Any]
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


async def _check_idle(cluster: DaskCluster, service: Any, scheduler: Any) -> float:
    body = cluster.raw
    url = scheduler_api.api_url(service.raw if service else None,
                                scheduler.ip if scheduler else None)
    if url is None:
        return RESYNC
    try:
        idle_since = await scheduler_api.idle_since(url)
    except scheduler_api.SchedulerUnreachable as exc:
        await _report_unreachable(body, exc, "idle timeout not checked")
        return RESYNC
    timeout = int(body["spec"]["idleTimeout"])
    await _set_status(cluster, {"idleSince": iso(idle_since) if idle_since else None})
    if planning.idle_expired(idle_since, time.time(), timeout):
        await events.post(body, "IdleTimeout",
                          f"idle for more than {timeout}s (since {iso(idle_since)}); deleting")
        await kube.delete(cluster)
        return GONE
    return min(RESYNC, max(1.0, timeout / 4))


# ---------------------------------------------------------------------------------------------
# DaskWorkerGroup
# ---------------------------------------------------------------------------------------------


async def reconcile_worker_group(namespace: str, name: str) -> float:
    group = await kube.fetch(DaskWorkerGroup, name, namespace)
    if group is None or group.raw["metadata"].get("deletionTimestamp"):
        return GONE
    body = group.raw
    cluster_name = body["spec"]["cluster"]
    cluster = await kube.fetch(DaskCluster, cluster_name, namespace)
    if cluster is None or cluster.raw["metadata"].get("deletionTimestamp"):
        message = f"DaskCluster {cluster_name} not found; waiting for it"
        await _set_status(group, {"message": message})
        await events.post(body, "ClusterNotFound", message, warning=True)
        return RESYNC
    if not builders.is_owned_by(body, cluster.raw):
        # adopt, so the group goes when the cluster goes
        refs = body["metadata"].get("ownerReferences") or []
        await group.patch({"metadata": {"ownerReferences": [
            *refs, {**builders.owner_reference(cluster.raw), "controller": False}]}})
        await events.post(body, "Adopted", f"attached to DaskCluster {cluster_name}")

    service = await kube.fetch(Service, scheduler_name(cluster_name), namespace)
    scheduler_pod = await kube.fetch(Pod, scheduler_name(cluster_name), namespace)
    scheduler_summary = planning.summarize_pod(scheduler_pod.raw) if scheduler_pod else None
    url = None
    if (scheduler_summary is not None and scheduler_summary.phase == "Running"
            and not scheduler_summary.deleting):  # else: unreachable anyway
        url = scheduler_api.api_url(service.raw if service else None, scheduler_summary.ip)

    raw_pods = await kube.list_pods(namespace, {
        LABEL_CLUSTER: cluster_name, LABEL_COMPONENT: COMPONENT_WORKER, LABEL_WORKER_GROUP: name})
    pods = [planning.summarize_pod(pod) for pod in raw_pods]
    scheduler_workers = None
    unreachable = "no scheduler address"
    if url is not None:
        try:
            scheduler_workers = await scheduler_api.workers(url)
        except scheduler_api.SchedulerUnreachable as exc:
            unreachable = str(exc)
            logger.info("worker group %s/%s: scheduler unreachable: %s", namespace, name, exc)
    connected = (planning.connected_workers(pods, scheduler_workers)
                 if scheduler_workers is not None else None)
    desired = int(body["spec"]["worker"].get("replicas", 1))
    in_flight = _retirement_in_flight(namespace, name)
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

    by_name = {pod["metadata"]["name"]: pod for pod in raw_pods}
    deferred = False
    if connected is None:
        # The scheduler cannot tell which workers hold data. Pods that are not ready hold none
        # and go at once; ready ones wait for the scheduler for a while, and only then are
        # deleted without retirement (reported as a warning).
        summaries = {pod.name: pod for pod in pods}
        risky = [n for n in plan.delete
                 if summaries[n].ready and not summaries[n].finished]
        if risky:
            since = _unreachable_since.setdefault((namespace, name), time.monotonic())
            if time.monotonic() - since < FALLBACK_GRACE:
                plan.delete = [n for n in plan.delete if n not in risky]
                deferred = True
            else:
                plan.delete = [n for n in plan.delete if n not in risky]
                await _fallback_delete(body, risky, "scheduler unreachable for "
                                       f"{FALLBACK_GRACE:.0f}s")
    else:
        _unreachable_since.pop((namespace, name), None)
    await _delete_pods(namespace, plan.delete)
    if plan.retire and not in_flight:  # one retirement per group at a time
        await _start_retirement(group, url, connected or {}, plan.retire, by_name)
    if plan.create:
        # the Service may still be on its way (it is made beside the group): the workers' address
        # then comes from the cluster's spec
        service_spec = (service.raw.get("spec") if service is not None
                        else builders.build_scheduler_service(cluster.raw)["spec"])
        await _create_workers(group, service_spec, plan.create, plan.rolling)

    update = {
        "replicas": plan.replicas + plan.create,
        "readyReplicas": plan.ready_replicas,
        "updatedReplicas": plan.updated_replicas + plan.create,
        "retiringReplicas": plan.retiring_replicas,
        "selector": builders.worker_group_selector(cluster_name, name),
        "observedGeneration": body["metadata"].get("generation", 0),
        "message": ("waiting for the scheduler before removing workers" if deferred else
                    "rolling update in progress" if plan.rolling else
                    f"scheduler unreachable ({unreachable}); readiness from pod conditions"
                    if connected is None else ""),
    }
    await _set_status(group, update)
    await _report_failing_workers(group, cluster, pods)
    busy = (plan.create or plan.retire or plan.delete or deferred or in_flight
            or plan.ready_replicas < desired)
    if plan.create and batch_size():
        return batch_delay()
    return FAST if busy else RESYNC


async def _report_failing_workers(group: DaskWorkerGroup, cluster: DaskCluster,
                                  pods: list[planning.PodSummary]) -> None:
    """Worker pods that cannot start: a warning on the group (and on the cluster for its default
    group, so that ``kubectl describe daskcluster`` shows it)."""
    failing = [pod for pod in pods if pod.live and pod.waiting_reason in planning.CRASH_REASONS]
    if not failing:
        return
    pod = failing[0]
    exit_code = f" (last exit code {pod.last_exit_code})" if pod.last_exit_code is not None else ""
    message = (f"{len(failing)} worker pod(s) cannot start, e.g. {pod.name}: "
               f"{pod.waiting_reason}{exit_code}")
    await events.post(group.raw, "WorkersFailing", message, warning=True)
    if group.name == default_worker_group_name(cluster.name):
        await events.post(cluster.raw, "WorkersFailing", message, warning=True)


async def _delete_pods(namespace: str, names: list[str]) -> None:
    pods = [await kube.ref(Pod, name, namespace) for name in names]
    await asyncio.gather(*(kube.delete(pod) for pod in pods))


async def _create_workers(group: DaskWorkerGroup, service_spec: dict[str, Any] | None, count: int,
                          rolling: bool) -> None:
    body = group.raw
    semaphore = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def one() -> str | None:
        manifest = builders.build_worker_pod(
            body, builders.new_worker_pod_name(body["metadata"]["name"]), service_spec)
        async with semaphore:
            try:
                pod, _ = await kube.create(Pod, manifest)
                return pod.name
            except Exception as exc:
                await _creation_failed(group, "worker pod", exc)
                return None

    created = [n for n in await asyncio.gather(*(one() for _ in range(count))) if n]
    if created:
        what = "replacement " if rolling else ""
        await events.post(body, "ScalingUp" if not rolling else "RollingUpdate",
                          f"created {len(created)} {what}worker pod(s)")
        # the default group's workers are the cluster's: `kubectl describe daskcluster` says it too
        sample = builders.build_worker_pod(body, created[0], service_spec)
        await _report_legacy_command(body, sample)
        cluster_name = body["spec"]["cluster"]
        if legacy_commands.pod_message(sample) and (
                group.name == default_worker_group_name(cluster_name)):
            cluster = await kube.fetch(DaskCluster, cluster_name, body["metadata"]["namespace"])
            if cluster is not None:
                await _report_legacy_command(cluster.raw, sample)


@dataclass
class _Retirement:
    pods: frozenset[str]
    task: asyncio.Task


# (namespace, group) -> the retirement running for that group. The scheduler may take minutes
# to move data, so retirement runs beside the reconciles (a scale-up is not held up), and the
# next reconciles leave its pods alone instead of asking the scheduler a second time.
_retirements: dict[tuple[str, str], _Retirement] = {}


def _retirement_in_flight(namespace: str, group: str) -> frozenset[str]:
    """The pods whose retirement is running for this group (empty if none)."""
    retirement = _retirements.get((namespace, group))
    if retirement is None:
        return frozenset()
    if retirement.task.done():
        del _retirements[(namespace, group)]
        return frozenset()
    return retirement.pods


async def _start_retirement(group: DaskWorkerGroup, url: str | None,
                            connected: dict[str, tuple[str, Any]], names: list[str],
                            raw_pods: dict[str, dict]) -> None:
    """Mark these pods as retiring, then retire them in the background (``_retire``).

    The mark lets a restarted operator finish the job instead of counting the pods as live.
    """
    body = group.raw
    namespace = body["metadata"]["namespace"]
    for pod_name in names:
        annotations = raw_pods.get(pod_name, {}).get("metadata", {}).get("annotations") or {}
        if builders.RETIRING_ANNOTATION not in annotations:
            pod = await kube.ref(Pod, pod_name, namespace)
            try:
                await pod.patch({"metadata": {"annotations": {
                    builders.RETIRING_ANNOTATION: now_iso()}}})
            except Exception as exc:
                logger.info("could not mark %s as retiring: %s", pod_name, exc)
    addresses = {connected[n][0]: n for n in names if n in connected}
    await events.post(body, "RetiringWorkers",
                      f"retiring {len(names)} worker(s) through the scheduler: "
                      + ", ".join(sorted(names)))
    key = (namespace, body["metadata"]["name"])
    task = asyncio.get_running_loop().create_task(_retire(body, url, addresses, names))
    retirement = _retirements[key] = _Retirement(frozenset(names), task)
    task.add_done_callback(
        lambda _: _retirements.pop(key) if _retirements.get(key) is retirement else None)


async def _retire(body: dict[str, Any], url: str | None, addresses: dict[str, str],
                  names: list[str]) -> None:
    """Retire the workers through the scheduler, then delete the pods it retired.

    If the scheduler cannot retire them (unreachable, an error, an unexpected answer), the pods
    are deleted without retirement, gracefully (their terminationGracePeriodSeconds is honoured),
    and that is reported as a warning.
    """
    namespace = body["metadata"]["namespace"]
    try:
        if url is None:
            await _fallback_delete(body, names, "no scheduler address")
            return
        try:
            retired = await scheduler_api.retire_workers(url, list(addresses))
        except scheduler_api.SchedulerUnreachable as exc:
            await _fallback_delete(body, names, str(exc))
            return
        done = [addresses[a] for a in retired if a in addresses]
        kept = sorted(set(names) - set(done))
        await _delete_pods(namespace, done)
        if done:
            await events.post(body, "RetiredWorkers",
                              f"retired {len(done)} worker(s), their data moved to other workers")
        if kept:
            await events.post(body, "RetireIncomplete",
                              f"the scheduler did not retire {', '.join(kept)} yet (their data "
                              "could not be moved); will try again", warning=True)
    except asyncio.CancelledError:
        raise
    except Exception:  # the pods stay marked: the next reconcile retires them again
        logger.exception("retirement in %s/%s failed", namespace, body["metadata"]["name"])


async def _fallback_delete(body: dict[str, Any], names: list[str], why: str) -> None:
    """Delete worker pods without retirement. The deletion is graceful: no grace period is
    given, so each pod's terminationGracePeriodSeconds applies (the worker gets SIGTERM and
    time to finish)."""
    message = (f"scheduler unreachable ({why}); deleting {len(names)} worker pod(s) without "
               "retirement, gracefully; data on them may be recomputed")
    logger.warning("worker group %s: %s", body["metadata"]["name"], message)
    await events.post(body, "RetireFallback", message, warning=True)
    await _delete_pods(body["metadata"]["namespace"], names)


# ---------------------------------------------------------------------------------------------
# DaskJob
# ---------------------------------------------------------------------------------------------


async def reconcile_job(namespace: str, name: str) -> float:
    job = await kube.fetch(DaskJob, name, namespace)
    if job is None or job.raw["metadata"].get("deletionTimestamp"):
        return GONE
    body = job.raw
    status = body.get("status") or {}
    state = status.get("jobStatus")
    if state is None:
        await _set_status(job, {"jobStatus": "JobCreated"})
        await events.post(body, "JobCreated", "DaskJob accepted")
        state = "JobCreated"
    if state in planning.FINAL_JOB_STATES:
        cluster = await kube.fetch(DaskCluster, name, namespace)
        if cluster is not None and builders.is_owned_by(cluster.raw, body):
            await kube.delete(cluster)
        return GONE

    cluster = await kube.fetch(DaskCluster, name, namespace)
    if cluster is None:
        try:
            cluster, _ = await kube.create(DaskCluster, builders.build_job_cluster(body))
        except Exception as exc:
            await _creation_failed(job, "DaskCluster", exc)
            return RESYNC
    elif not builders.is_owned_by(cluster.raw, body):
        message = f"a DaskCluster named {name} already exists and does not belong to this job"
        await _set_status(job, {"jobStatus": "Failed", "endTime": now_iso(), "message": message})
        await events.post(body, "ClusterConflict", message, warning=True)
        return GONE
    if state == "JobCreated":  # (also when a lost response hid that the creation succeeded)
        # the runner's name is known now, though it starts only once the scheduler is ready
        await _set_status(job, {"jobStatus": "ClusterCreated", "clusterName": name,
                                "jobRunnerPodName": job_runner_name(name)})
        await events.post(body, "ClusterCreated", f"created DaskCluster {name}")
        state = "ClusterCreated"
    elif not (job.raw.get("status") or {}).get("jobRunnerPodName"):
        await _set_status(job, {"jobRunnerPodName": job_runner_name(name)})  # an older status

    runner = await kube.fetch(Pod, job_runner_name(name), namespace)
    if runner is not None and not builders.is_owned_by(runner.raw, body):
        if runner.raw["metadata"].get("deletionTimestamp"):
            return FAST  # a previous job's runner is still terminating
        message = f"pod {runner.name} exists and does not belong to this job"
        await _set_status(job, {"message": message})
        await events.post(body, "RunnerConflict", message, warning=True)
        return RESYNC
    if runner is None:
        if (cluster.raw.get("status") or {}).get("phase") != "Running":
            return FAST  # start the runner once its scheduler is ready
        try:
            runner, created = await kube.create(Pod, builders.build_job_runner_pod(body))
        except Exception as exc:
            await _creation_failed(job, "runner pod", exc)
            return RESYNC
        if created:
            await events.post(body, "RunnerCreated", f"created runner pod {runner.name}")
        await _report_legacy_command(body, runner.raw)

    summary = planning.summarize_pod(runner.raw)
    new_state = planning.job_status_from_runner(state, summary)
    if new_state == "Running":
        started = (runner.raw.get("status") or {}).get("startTime") or now_iso()
        await _set_status(job, {"jobStatus": "Running", "startTime": started})
        await events.post(body, "Running", f"runner pod {runner.name} is running")
    elif new_state in planning.FINAL_JOB_STATES:
        update = {"jobStatus": new_state, "endTime": now_iso()}
        if not status.get("startTime"):
            update["startTime"] = (runner.raw.get("status") or {}).get("startTime") or now_iso()
        await kube.delete(cluster)
        await _set_status(job, update)
        await events.post(body, "Job" + new_state,
                          f"runner pod {runner.name} finished ({summary.phase}); "
                          f"DaskCluster {name} removed", warning=new_state == "Failed")
        return GONE
    return RESYNC if state == "Running" else FAST


# ---------------------------------------------------------------------------------------------
# DaskAutoscaler
# ---------------------------------------------------------------------------------------------


async def reconcile_autoscaler(namespace: str, name: str) -> float:
    autoscaler = await kube.fetch(DaskAutoscaler, name, namespace)
    if autoscaler is None or autoscaler.raw["metadata"].get("deletionTimestamp"):
        return GONE
    body = autoscaler.raw
    spec = body["spec"]
    interval = float(spec.get("intervalSeconds", 5))
    cluster_name = spec["cluster"]
    cluster = await kube.fetch(DaskCluster, cluster_name, namespace)
    if cluster is None:
        message = f"DaskCluster {cluster_name} not found"
        await _set_status(autoscaler, {"message": message})
        await events.post(body, "ClusterNotFound", message, warning=True)
        return max(interval, RESYNC)
    if not builders.is_owned_by(body, cluster.raw):
        refs = body["metadata"].get("ownerReferences") or []
        await autoscaler.patch({"metadata": {"ownerReferences": [
            *refs, {**builders.owner_reference(cluster.raw), "controller": False}]}})
    group_name = spec.get("workerGroup") or default_worker_group_name(cluster_name)
    group = await kube.fetch(DaskWorkerGroup, group_name, namespace)
    if group is None:
        message = f"DaskWorkerGroup {group_name} not found"
        await _set_status(autoscaler, {"message": message, "workerGroup": group_name})
        await events.post(body, "WorkerGroupNotFound", message, warning=True)
        return max(interval, RESYNC)
    url = await _scheduler_url(namespace, cluster_name)
    if url is None or (cluster.raw.get("status") or {}).get("phase") != "Running":
        await _set_status(autoscaler, {"message": "waiting for the scheduler",
                                       "workerGroup": group_name})
        return interval
    try:
        cluster_target = await scheduler_api.adaptive_target(url)
    except scheduler_api.SchedulerUnreachable as exc:
        await _set_status(autoscaler, {"message": f"scheduler unreachable: {exc}"})
        await events.post(body, "SchedulerUnreachable", f"not scaling: {exc}", warning=True)
        return interval
    others = 0
    for other in await cluster.worker_groups():
        if other.name != group_name:
            others += int(other.raw["spec"]["worker"].get("replicas", 0))
    current = int(group.raw["spec"]["worker"].get("replicas", 0))
    status = body.get("status") or {}
    decision = planning.autoscale(
        target=planning.group_target(cluster_target, others),
        current=current,
        minimum=int(spec["minimum"]),
        maximum=int(spec["maximum"]),
        now=time.time(),
        low_since=parse_iso(status.get("lowSince")),
        last_scale_up=parse_iso(status.get("lastScaleTime")),
        scale_down_delay=float(spec.get("scaleDownDelaySeconds", 60)),
        scale_up_cooldown=float(spec.get("scaleUpCooldownSeconds", 10)),
    )
    update: dict[str, Any] = {
        "workerGroup": group_name,
        "schedulerTarget": cluster_target,
        "desiredReplicas": decision.desired,
        "currentReplicas": current,
        "lowSince": iso(decision.low_since) if decision.low_since else None,
        "message": decision.reason,
    }
    if decision.replicas is not None and decision.replicas != current:
        await group.patch({"spec": {"worker": {"replicas": decision.replicas}}})
        update["currentReplicas"] = decision.replicas
        update["lastScaleTime"] = now_iso()
        await events.post(body, "Autoscaled",
                          f"scaled {group_name} from {current} to {decision.replicas} "
                          f"(scheduler target {cluster_target})")
    await _set_status(autoscaler, update)
    return interval
