"""The Cluster JSON of the REST API, computed from cached Kubernetes objects (pure functions)."""

from __future__ import annotations

from decimal import Decimal

from jupyter_server.utils import url_path_join

from dask_k8s_lab import ownership, versions
from dask_k8s_lab.quota import quantity as parse_quantity
from dask_k8s_common.contract import (
    CRASH_LOOP_REASON,
    FATAL_IMAGE_REASONS,
    FATAL_WAITING_REASONS,
    IMAGE_PULL_REASONS as PULL_REASONS,
    SCHEDULER_PORT,
)
from dask_k8s_common.contract import DASHBOARD_PORT as DASHBOARD_PORT  # re-exported: importers of model
from dask_k8s_common.resources import (
    COMPONENT_SCHEDULER,
    COMPONENT_WORKER,
    LABEL_COMPONENT,
    LABEL_WORKER_GROUP,
    default_worker_group_name,
    scheduler_name,
)

#: The pod's problem is its image (it may still appear, or never will).
IMAGE_PULL_REASONS = PULL_REASONS | FATAL_IMAGE_REASONS
#: The container cannot be made from its spec (a missing Secret, a bad command...).
CONFIG_ERROR_REASONS = FATAL_WAITING_REASONS - FATAL_IMAGE_REASONS - {CRASH_LOOP_REASON}


def short_group_name(cluster_name: str, group_name: str) -> str:
    """``simple-highmem`` of cluster ``simple`` is shown as ``highmem``."""
    prefix = f"{cluster_name}-"
    return group_name[len(prefix):] if group_name.startswith(prefix) else group_name


def full_group_name(cluster_name: str, group: str) -> str:
    return f"{cluster_name}-{group}"


def worker_container(pod_spec: dict) -> dict:
    containers = (pod_spec or {}).get("containers") or [{}]
    for container in containers:
        if container.get("name") == "worker":
            return container
    return containers[0]


def pod_is_ready(pod: dict) -> bool:
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    if pod.get("status", {}).get("phase") != "Running":
        return False
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def _container_resources(pod: dict) -> tuple[Decimal, int]:
    """Cores and memory bytes a ready worker pod offers (limits, else requests)."""
    cores, memory = Decimal(0), 0
    container = worker_container(pod.get("spec", {}))
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    cpu = limits.get("cpu", requests.get("cpu"))
    mem = limits.get("memory", requests.get("memory"))
    if cpu is not None:
        cores += parse_quantity(cpu)
    if mem is not None:
        memory += int(parse_quantity(mem))
    return cores, memory


def _pod_name(pod: dict) -> str:
    return pod.get("metadata", {}).get("name", "?")


def pod_problem(pod: dict, crash_logs: dict[tuple[str, str], str]) -> str | None:
    """Why this pod is not running as it should, in one sentence, or None."""
    metadata, status = pod.get("metadata", {}), pod.get("status", {})
    if metadata.get("deletionTimestamp"):
        return None
    name = _pod_name(pod)
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            return f"Pod {name} cannot be scheduled: {condition.get('message') or 'no node fits it'}"
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    for container in statuses:
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        reason, message = waiting.get("reason"), waiting.get("message") or ""
        if reason in IMAGE_PULL_REASONS:
            return f"Pod {name} cannot pull image {container.get('image')!r} ({reason}){': ' + message if message else ''}"
        if reason in CONFIG_ERROR_REASONS:
            return f"Pod {name} cannot start container {container.get('name')} ({reason}){': ' + message if message else ''}"
        last = (container.get("lastState") or {}).get("terminated") or {}
        terminated = state.get("terminated") or {}
        crashed = reason == CRASH_LOOP_REASON or (
            container.get("restartCount", 0) > 0 and not container.get("ready") and (last or terminated)
        )
        if crashed:
            exit_code = (last or terminated).get("exitCode")
            text = (
                f"Container {container.get('name')} of pod {name} is crash-looping "
                f"(restarted {container.get('restartCount', 0)} times"
                + (f", last exit code {exit_code}" if exit_code is not None else "")
                + ")"
            )
            tail = crash_logs.get((name, container.get("name", "")))
            if tail:
                text += f"; last log lines:\n{tail}"
            return text
    if status.get("phase") == "Failed":
        return f"Pod {name} failed: {status.get('reason') or ''} {status.get('message') or ''}".strip()
    return None


def cluster_reason(cluster: dict, pods: list[dict], crash_logs: dict) -> str | None:
    """Why a cluster is stuck: the first pod problem (scheduler first), else the operator's word."""
    ordered = sorted(
        pods,
        key=lambda p: (p.get("metadata", {}).get("labels", {}).get(LABEL_COMPONENT) != COMPONENT_SCHEDULER, _pod_name(p)),
    )
    for pod in ordered:
        problem = pod_problem(pod, crash_logs)
        if problem:
            return problem
    status = cluster.get("status") or {}
    if status.get("phase") not in (None, "Running", "Created", "Pending"):
        message = status.get("message") or status.get("reason")
        if message:
            return str(message)
    for condition in status.get("conditions") or []:
        if condition.get("status") == "False" and condition.get("message") and status.get("phase") != "Running":
            return str(condition["message"])
    return None


def dashboard_url(base_url: str, namespace: str, name: str) -> str:
    return url_path_join(base_url, "dask-k8s", "dashboard", namespace, name, "status")


def scheduler_address(namespace: str, name: str) -> str:
    return f"tcp://{scheduler_name(name)}.{namespace}.svc.cluster.local:{SCHEDULER_PORT}"


def cluster_model(
    cluster: dict,
    groups: list[dict],
    autoscalers: list[dict],
    pods: list[dict],
    *,
    base_url: str = "/",
    crash_logs: dict | None = None,
    scheduler_totals: tuple[float, int] | None = None,
) -> dict:
    """The REST API's Cluster JSON for one DaskCluster and the objects that belong to it."""
    metadata = cluster.get("metadata", {})
    name, namespace = metadata.get("name", ""), metadata.get("namespace", "")
    status = cluster.get("status") or {}
    phase = "Terminating" if metadata.get("deletionTimestamp") else (status.get("phase") or "Pending")

    ready_by_group: dict[str, int] = {}
    cores, memory = Decimal(0), 0
    for pod in pods:
        labels = pod.get("metadata", {}).get("labels", {})
        if labels.get(LABEL_COMPONENT) != COMPONENT_WORKER or not pod_is_ready(pod):
            continue
        group = labels.get(LABEL_WORKER_GROUP, "")
        ready_by_group[group] = ready_by_group.get(group, 0) + 1
        pod_cores, pod_memory = _container_resources(pod)
        cores += pod_cores
        memory += pod_memory

    default_group = default_worker_group_name(name)
    group_models = []
    for group in sorted(groups, key=lambda g: (g["metadata"]["name"] != default_group, g["metadata"]["name"])):
        group_name = group["metadata"]["name"]
        worker = (group.get("spec") or {}).get("worker") or {}
        group_models.append(
            {
                "name": short_group_name(name, group_name),
                "requested": int(worker.get("replicas") or 0),
                "ready": ready_by_group.get(group_name, 0),
                "image": worker_container(worker.get("spec") or {}).get("image", ""),
            }
        )
    if not any(g["name"] == "default" for g in group_models):
        # The operator has not made the default group yet: show what the cluster asks for.
        worker = (cluster.get("spec") or {}).get("worker") or {}
        group_models.insert(
            0,
            {
                "name": "default",
                "requested": int(worker.get("replicas") or 0),
                "ready": ready_by_group.get(default_group, 0),
                "image": worker_container(worker.get("spec") or {}).get("image", ""),
            },
        )

    adapt = None
    for autoscaler in autoscalers:
        if autoscaler.get("metadata", {}).get("deletionTimestamp"):
            continue
        spec = autoscaler.get("spec") or {}
        adapt = {"minimum": int(spec.get("minimum") or 0), "maximum": int(spec.get("maximum") or 0)}
        break

    if scheduler_totals is not None:  # what the scheduler reports: threads and memory limits
        cores, memory = Decimal(str(scheduler_totals[0])), int(scheduler_totals[1])

    return {
        "name": name,
        "namespace": namespace,
        "phase": phase,
        "reason": cluster_reason(cluster, pods, crash_logs or {}),
        "worker_groups": group_models,
        "workers_requested": sum(g["requested"] for g in group_models),
        "workers_ready": sum(g["ready"] for g in group_models),
        "cores": float(cores) if cores != cores.to_integral_value() else int(cores),
        "memory": memory,
        "adapt": adapt,
        "dashboard_url": dashboard_url(base_url, namespace, name),
        "scheduler_address": status.get("schedulerAddress") or scheduler_address(namespace, name),
        "created": metadata.get("creationTimestamp"),
        # an owner reference to a Jupyter server's pod: deleted when that server stops
        "stops_with_server": ownership.tied_to_pod(cluster) is not None,
        # the images' Dask versions against this server's (the scheduler itself is never asked)
        "version_skew": versions.cluster_image_skew(cluster, group_models),
    }
