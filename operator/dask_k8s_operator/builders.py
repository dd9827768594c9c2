"""Pure builders: a custom resource (as a dict) in, child manifests (as dicts) out.

Nothing here talks to Kubernetes. The reconcilers in ``reconcile/`` call these and send the
results through kr8s. The children's labels and annotations follow the precedence described in
``metadata`` (``top-level <= subresource <= base``).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
from collections.abc import Mapping
from typing import Any

from dask_k8s_common import legacy_commands
from dask_k8s_common.contract import (
    API_VERSION,
    COMPONENT_JOB_RUNNER,
    COMPONENT_SCHEDULER,
    COMPONENT_WORKER,
    COMPONENT_WORKER_GROUP,
    DASHBOARD_PORT,
    DASHBOARD_PORT_NAME,
    LABEL_CLUSTER,
    LABEL_COMPONENT,
    LABEL_WORKER_GROUP,
    SCHEDULER_PORT,
    SCHEDULER_PORT_NAME,
    default_worker_group_name,
    job_runner_name,
    scheduler_name,
)

from .metadata import (  # noqa: F401  (re-exported: tests and users import them from here)
    IGNORED_ANNOTATION_PREFIXES,
    MESH_OPT_OUT_ANNOTATION,
    MESH_OPT_OUT_ENV,
    MESH_OPT_OUT_LABEL,
    RETIRING_ANNOTATION,
    SPEC_HASH_ANNOTATION,
    SYNCED_REPLICAS_ANNOTATION,
    apply_mesh_choice,
    is_owned_by,
    merge_metadata,
    mesh_opt_out_default,
    owner_reference,
    spec_hash,
)

WORKER_NAME_ENV = "DASK_WORKER_NAME"
SCHEDULER_ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
# The operator talks to schedulers only through their HTTP JSON API (``scheduler_api``), which
# distributed leaves off by default. Setting the routes replaces distributed's default list, so
# this is that list (distributed 2026.8) plus the API. A value the user set is left as it is.
SCHEDULER_HTTP_ROUTES_ENV = "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES"
SCHEDULER_HTTP_ROUTES = (
    "distributed.http.scheduler.prometheus",
    "distributed.http.scheduler.info",
    "distributed.http.scheduler.json",
    "distributed.http.health",
    "distributed.http.proxy",
    "distributed.http.statics",
    "distributed.http.scheduler.api",
)


def cluster_domain() -> str:
    return os.environ.get("DASK_K8S_OPERATOR_CLUSTER_DOMAIN", "cluster.local")


# ---------------------------------------------------------------------------------------------
# scheduler
# ---------------------------------------------------------------------------------------------


def scheduler_comm_port(service_spec: Mapping[str, Any] | None) -> int:
    """The Service port that carries Dask comms: the one named ``tcp-comm``, else 8786."""
    for port in (service_spec or {}).get("ports") or []:
        if port.get("name") == SCHEDULER_PORT_NAME:
            return int(port["port"])
    return SCHEDULER_PORT


def scheduler_dashboard_port(service_spec: Mapping[str, Any] | None) -> int:
    """The Service port of the scheduler's HTTP server: the one named ``http-dashboard``, else
    8787."""
    for port in (service_spec or {}).get("ports") or []:
        if port.get("name") == DASHBOARD_PORT_NAME:
            return int(port["port"])
    return DASHBOARD_PORT


def scheduler_address(cluster_name: str, namespace: str, service_spec: Mapping | None) -> str:
    """The in-cluster address workers and job runners use to reach the scheduler."""
    host = f"{scheduler_name(cluster_name)}.{namespace}.svc.{cluster_domain()}"
    return f"tcp://{host}:{scheduler_comm_port(service_spec)}"


def scheduler_labels(cluster_name: str) -> dict[str, str]:
    return {LABEL_CLUSTER: cluster_name, LABEL_COMPONENT: COMPONENT_SCHEDULER}


def build_scheduler_pod(cluster: Mapping[str, Any]) -> dict[str, Any]:
    name = cluster["metadata"]["name"]
    scheduler = cluster["spec"]["scheduler"]
    meta = merge_metadata(cluster["metadata"], scheduler.get("metadata"), scheduler_labels(name))
    meta["annotations"][SPEC_HASH_ANNOTATION] = spec_hash(scheduler["spec"])
    apply_mesh_choice(meta)
    spec = copy.deepcopy(scheduler["spec"])
    spec.setdefault("restartPolicy", "Always")
    # dask reads the value with ast.literal_eval; a JSON list of strings is such a literal
    _inject_env(spec.get("containers", []),
                {SCHEDULER_HTTP_ROUTES_ENV: json.dumps(list(SCHEDULER_HTTP_ROUTES))})
    return _with_modern_commands({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": scheduler_name(name),
            "namespace": cluster["metadata"]["namespace"],
            **meta,
            "ownerReferences": [owner_reference(cluster)],
        },
        "spec": spec,
    })


def build_scheduler_service(cluster: Mapping[str, Any]) -> dict[str, Any]:
    """The scheduler Service; a missing selector or missing ports are filled in."""
    name = cluster["metadata"]["name"]
    scheduler = cluster["spec"]["scheduler"]
    meta = merge_metadata(cluster["metadata"], scheduler.get("metadata"), scheduler_labels(name))
    spec = copy.deepcopy(scheduler.get("service") or {})
    if not spec.get("selector"):
        spec["selector"] = scheduler_labels(name)
    if not spec.get("ports"):
        spec["ports"] = [
            {"name": SCHEDULER_PORT_NAME, "protocol": "TCP", "port": SCHEDULER_PORT,
             "targetPort": SCHEDULER_PORT},
            {"name": DASHBOARD_PORT_NAME, "protocol": "TCP", "port": DASHBOARD_PORT,
             "targetPort": DASHBOARD_PORT},
        ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": scheduler_name(name),
            "namespace": cluster["metadata"]["namespace"],
            **meta,
            "ownerReferences": [owner_reference(cluster)],
        },
        "spec": spec,
    }


def service_drift(desired: Mapping[str, Any], existing: Mapping[str, Any]) -> dict[str, Any]:
    """The Service spec fields (type, ports, selector) that differ and must be patched."""
    patch = {}
    for field in ("type", "selector"):
        want = desired["spec"].get(field)
        if want is not None and want != existing.get("spec", {}).get(field):
            patch[field] = want

    def port_key(port: Mapping[str, Any]) -> tuple:
        return (port.get("name"), int(port["port"]), str(port.get("targetPort", port["port"])))

    want_ports = sorted(port_key(p) for p in desired["spec"].get("ports", []))
    have_ports = sorted(port_key(p) for p in existing.get("spec", {}).get("ports", []))
    if want_ports != have_ports:
        patch["ports"] = desired["spec"]["ports"]
    return patch


# ---------------------------------------------------------------------------------------------
# worker groups and workers
# ---------------------------------------------------------------------------------------------


def build_default_worker_group(cluster: Mapping[str, Any]) -> dict[str, Any]:
    name = cluster["metadata"]["name"]
    worker = copy.deepcopy(cluster["spec"]["worker"])
    worker.setdefault("replicas", 1)
    meta = merge_metadata(
        cluster["metadata"],
        worker.get("metadata"),
        {LABEL_CLUSTER: name, LABEL_COMPONENT: COMPONENT_WORKER_GROUP},
    )
    meta["annotations"][SYNCED_REPLICAS_ANNOTATION] = str(worker["replicas"])
    return {
        "apiVersion": API_VERSION,
        "kind": "DaskWorkerGroup",
        "metadata": {
            "name": default_worker_group_name(name),
            "namespace": cluster["metadata"]["namespace"],
            **meta,
            "ownerReferences": [owner_reference(cluster)],
        },
        "spec": {"cluster": name, "worker": worker},
    }


def worker_spec_without_replicas(worker: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in worker.items() if key != "replicas"}


def worker_pod_hash(group: Mapping[str, Any]) -> str:
    """Digest of what a worker pod is built from (everything but the replica count)."""
    return spec_hash(group["spec"]["worker"]["spec"])


def new_worker_pod_name(group_name: str) -> str:
    return f"{group_name}-worker-{secrets.token_hex(5)}"


def _inject_env(containers: list[dict[str, Any]], values: Mapping[str, str]) -> None:
    for container in containers:
        env = container.setdefault("env", [])
        defined = {item.get("name") for item in env}
        for key, value in values.items():
            if key not in defined:
                env.append({"name": key, "value": value})


def build_worker_pod(
    group: Mapping[str, Any], pod_name: str, service_spec: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One worker pod of a DaskWorkerGroup, named ``pod_name``.

    ``DASK_WORKER_NAME`` (the pod name) and ``DASK_SCHEDULER_ADDRESS`` are added to every
    container unless the user set them. A retired worker exits with status 0, so the restart
    policy defaults to ``OnFailure``: the kubelet does not bring a retired worker back.
    """
    group_name = group["metadata"]["name"]
    namespace = group["metadata"]["namespace"]
    cluster_name = group["spec"]["cluster"]
    worker = group["spec"]["worker"]
    meta = merge_metadata(
        group["metadata"],
        worker.get("metadata"),
        {
            LABEL_CLUSTER: cluster_name,
            LABEL_COMPONENT: COMPONENT_WORKER,
            LABEL_WORKER_GROUP: group_name,
        },
    )
    meta["annotations"][SPEC_HASH_ANNOTATION] = worker_pod_hash(group)
    apply_mesh_choice(meta)
    spec = copy.deepcopy(worker["spec"])
    spec.setdefault("restartPolicy", "OnFailure")
    _inject_env(
        spec.get("containers", []),
        {
            WORKER_NAME_ENV: pod_name,
            SCHEDULER_ADDRESS_ENV: scheduler_address(cluster_name, namespace, service_spec),
        },
    )
    return _with_modern_commands({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "namespace": namespace,
            **meta,
            "ownerReferences": [owner_reference(group)],
        },
        "spec": spec,
    })


def worker_group_selector(cluster_name: str, group_name: str) -> str:
    return (
        f"{LABEL_CLUSTER}={cluster_name},{LABEL_COMPONENT}={COMPONENT_WORKER},"
        f"{LABEL_WORKER_GROUP}={group_name}"
    )


# ---------------------------------------------------------------------------------------------
# jobs
# ---------------------------------------------------------------------------------------------


def build_job_cluster(job: Mapping[str, Any]) -> dict[str, Any]:
    """The DaskCluster of a DaskJob, named like the job and owned by it."""
    cluster = job["spec"]["cluster"]
    meta = merge_metadata(job["metadata"], cluster.get("metadata"), {})
    return {
        "apiVersion": API_VERSION,
        "kind": "DaskCluster",
        "metadata": {
            "name": job["metadata"]["name"],
            "namespace": job["metadata"]["namespace"],
            **meta,
            "ownerReferences": [owner_reference(job)],
        },
        "spec": copy.deepcopy(cluster["spec"]),
    }


def build_job_runner_pod(job: Mapping[str, Any]) -> dict[str, Any]:
    name = job["metadata"]["name"]
    namespace = job["metadata"]["namespace"]
    runner = job["spec"]["job"]
    meta = merge_metadata(
        job["metadata"],
        runner.get("metadata"),
        {LABEL_CLUSTER: name, LABEL_COMPONENT: COMPONENT_JOB_RUNNER},
    )
    apply_mesh_choice(meta)
    spec = copy.deepcopy(runner["spec"])
    spec.setdefault("restartPolicy", "OnFailure")
    service = job["spec"]["cluster"]["spec"]["scheduler"].get("service")
    _inject_env(
        spec.get("containers", []),
        {SCHEDULER_ADDRESS_ENV: scheduler_address(name, namespace, service)},
    )
    return _with_modern_commands({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": job_runner_name(name),
            "namespace": namespace,
            **meta,
            "ownerReferences": [owner_reference(job)],
        },
        "spec": spec,
    })


def _with_modern_commands(pod: dict[str, Any]) -> dict[str, Any]:
    """The removed ``dask-scheduler``/``dask-worker`` scripts run as ``dask scheduler``/``dask
    worker``; the pod's ``rewritten-command`` annotation says so (reconcile turns it into an
    Event)."""
    legacy_commands.modernize_pod(pod)
    return pod
