"""DaskAutoscaler: poll the scheduler's adaptive target and scale the worker group to it, within
bounds and with hysteresis (``planning.autoscale``)."""

from __future__ import annotations

import time
from typing import Any

from kr8s.asyncio.objects import Pod, Service

from dask_k8s_common.contract import (
    LABEL_CLUSTER,
    default_worker_group_name,
    scheduler_name,
)
from dask_k8s_common.resources import DaskAutoscaler, DaskCluster, DaskWorkerGroup

from .. import builders, events, kube, planning, scheduler_api
from .pacing import GONE, RESYNC
from .status import iso, now_iso, parse_iso, set_status


async def reconcile_autoscaler(namespace: str, name: str) -> float:
    autoscaler = await kube.fetch_live(DaskAutoscaler, name, namespace)
    if autoscaler is None:
        return GONE
    body = autoscaler.raw
    spec = body["spec"]
    interval = float(spec.get("intervalSeconds", 5))
    cluster_name = spec["cluster"]
    cluster = await kube.fetch(DaskCluster, cluster_name, namespace)
    if cluster is None:
        message = f"DaskCluster {cluster_name} not found"
        await set_status(autoscaler, {"message": message})
        await events.post(body, "ClusterNotFound", message, warning=True)
        return max(interval, RESYNC)
    if not builders.is_owned_by(body, cluster.raw):
        refs = body["metadata"].get("ownerReferences") or []
        await kube.patch(autoscaler, {"metadata": {"ownerReferences": [
            *refs, {**builders.owner_reference(cluster.raw), "controller": False}]}})
    group_name = spec.get("workerGroup") or default_worker_group_name(cluster_name)
    group = await kube.fetch(DaskWorkerGroup, group_name, namespace)
    if group is None:
        message = f"DaskWorkerGroup {group_name} not found"
        await set_status(autoscaler, {"message": message, "workerGroup": group_name})
        await events.post(body, "WorkerGroupNotFound", message, warning=True)
        return max(interval, RESYNC)
    url = await _scheduler_url(namespace, cluster_name)
    if url is None or (cluster.raw.get("status") or {}).get("phase") != "Running":
        await set_status(autoscaler, {"message": "waiting for the scheduler",
                                      "workerGroup": group_name})
        return interval
    try:
        cluster_target = await scheduler_api.adaptive_target(url)
    except scheduler_api.SchedulerUnreachable as exc:
        await set_status(autoscaler, {"message": f"scheduler unreachable: {exc}"})
        await events.post(body, "SchedulerUnreachable", f"not scaling: {exc}", warning=True)
        return interval
    # the cluster's groups, as DaskCluster.worker_groups() selects them
    groups = await kube.list_raw(DaskWorkerGroup, namespace, {LABEL_CLUSTER: cluster_name})
    others = sum(int(other["spec"]["worker"].get("replicas", 0)) for other in groups
                 if other["metadata"]["name"] != group_name)
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
        await kube.patch(group, {"spec": {"worker": {"replicas": decision.replicas}}})
        update["currentReplicas"] = decision.replicas
        update["lastScaleTime"] = now_iso()
        await events.post(body, "Autoscaled",
                          f"scaled {group_name} from {current} to {decision.replicas} "
                          f"(scheduler target {cluster_target})")
    await set_status(autoscaler, update)
    return interval


async def _scheduler_url(namespace: str, cluster_name: str) -> str | None:
    service = await kube.fetch(Service, scheduler_name(cluster_name), namespace)
    pod = await kube.fetch(Pod, scheduler_name(cluster_name), namespace)
    pod_ip = (pod.raw.get("status") or {}).get("podIP") if pod else None
    return scheduler_api.api_url(service.raw if service else None, pod_ip)
