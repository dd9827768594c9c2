"""Pure builders for the classic ``KubeCluster``: scheduler Job, Service, PodDisruptionBudget and
worker pods, from a cleaned Pod template. Nothing here talks to Kubernetes.

Ownership, so that deleting one object removes a whole cluster: the scheduler runs as the only
pod of a Job (``ttlSecondsAfterFinished: 0``), and that pod owns the Service, the PDB and every
worker pod. When the Job ends (the scheduler exits on ``close()`` or ``idle_timeout``, or the
client stopped renewing ``activeDeadlineSeconds``), Kubernetes deletes it, and the garbage
collector removes the rest.
"""

from __future__ import annotations

import copy
import getpass
import json
from collections.abc import Mapping
from typing import Any

import dask.config
from dask_k8s_common.contract import (
    ANNOTATION_PREFIX,
    COMPONENT_SCHEDULER,
    COMPONENT_WORKER,
    DASHBOARD_PORT,
    DASHBOARD_PORT_NAME,
    LABEL_CLUSTER,
    LABEL_COMPONENT,
    SCHEDULER_PORT,
    SCHEDULER_PORT_NAME,
    scheduler_name,
)

# marks classic objects (the operator's label keys are shared, so a selector can tell them apart)
LABEL_CLASSIC = f"{ANNOTATION_PREFIX}classic"
TEMPLATE_ANNOTATION = f"{ANNOTATION_PREFIX}worker-template"


def user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (a container with an arbitrary uid)
        return "user"


def base_labels(cluster_name: str, component: str) -> dict[str, str]:
    return {"app": "dask", LABEL_CLUSTER: cluster_name, LABEL_COMPONENT: component,
            LABEL_CLASSIC: "true"}


def selector(cluster_name: str, component: str | None = None) -> str:
    parts = [f"{LABEL_CLUSTER}={cluster_name}", f"{LABEL_CLASSIC}=true"]
    if component:
        parts.append(f"{LABEL_COMPONENT}={component}")
    return ",".join(parts)


def owner_reference(pod: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"]}


def service_address(cluster_name: str, namespace: str) -> str:
    """Where pods reach the scheduler: the Service's in-cluster name."""
    return f"tcp://{cluster_name}.{namespace}:{SCHEDULER_PORT}"


def _with_env(container: dict[str, Any], values: Mapping[str, str]) -> None:
    """Set env vars on a container, replacing entries of the same name."""
    env = [e for e in container.get("env") or [] if e.get("name") not in values]
    container["env"] = [*env, *({"name": k, "value": str(v)} for k, v in values.items())]


def scheduler_job(template: Mapping[str, Any], cluster_name: str, namespace: str,
                  idle_timeout: str | None, env: Mapping[str, str],
                  worker_template: Mapping[str, Any],
                  lease: float | None = None) -> dict[str, Any]:
    """The scheduler's Job: the template's first container runs ``dask scheduler``.

    The worker template is kept on the Job as JSON (data, for ``from_name`` to scale with).
    With a ``lease``, the Job ends that many seconds after its start unless the client renews
    ``activeDeadlineSeconds`` (``lease_deadline``).
    """
    pod = copy.deepcopy(dict(template))
    labels = {**(pod.get("metadata") or {}).get("labels", {}),
              **base_labels(cluster_name, COMPONENT_SCHEDULER)}
    spec = pod["spec"]
    spec["restartPolicy"] = "Never"
    container = spec["containers"][0]
    args = ["dask", "scheduler", "--port", str(SCHEDULER_PORT),
            "--dashboard-address", f":{DASHBOARD_PORT}"]
    if idle_timeout:
        args += ["--idle-timeout", str(idle_timeout)]
    container.pop("command", None)  # the image's entrypoint, if any, runs args (as in the docs)
    container["args"] = args
    container["ports"] = [
        {"name": SCHEDULER_PORT_NAME, "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
        {"name": DASHBOARD_PORT_NAME, "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
    ]
    container["readinessProbe"] = {"tcpSocket": {"port": SCHEDULER_PORT}, "periodSeconds": 1}
    _with_env(container, env)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": scheduler_name(cluster_name), "namespace": namespace,
                     "labels": base_labels(cluster_name, COMPONENT_SCHEDULER),
                     "annotations": {TEMPLATE_ANNOTATION: json.dumps(worker_template)}},
        "spec": {
            "backoffLimit": 0,  # a crashed scheduler is not restarted: its workers would be lost
            "ttlSecondsAfterFinished": 0,
            **({"activeDeadlineSeconds": lease_deadline(0, lease)} if lease else {}),
            "template": {"metadata": {"labels": labels,
                                      "annotations": (pod.get("metadata") or {}).get(
                                          "annotations") or {}},
                         "spec": spec},
        },
    }


def lease_deadline(elapsed: float, lease: float) -> int:
    """``activeDeadlineSeconds`` that ends the Job ``lease`` seconds from now, ``elapsed``
    seconds after it was created (its start is no earlier, so clock skew cannot shorten it)."""
    return int(elapsed + lease) + 1


def scheduler_service(cluster_name: str, namespace: str, scheduler_pod: Mapping[str, Any],
                      service_type: str) -> dict[str, Any]:
    """From ``kubernetes.scheduler-service-template``, with our name, selector and type."""
    service = copy.deepcopy(dask.config.get("kubernetes.scheduler-service-template"))
    service.setdefault("metadata", {}).update(
        name=cluster_name, namespace=namespace,
        labels=base_labels(cluster_name, COMPONENT_SCHEDULER),
        ownerReferences=[owner_reference(scheduler_pod)])
    spec = service.setdefault("spec", {})
    spec["selector"] = {LABEL_CLUSTER: cluster_name, LABEL_COMPONENT: COMPONENT_SCHEDULER,
                        LABEL_CLASSIC: "true"}
    spec["type"] = service_type
    return service


def scheduler_pdb(cluster_name: str, namespace: str,
                  scheduler_pod: Mapping[str, Any]) -> dict[str, Any]:
    """From ``kubernetes.scheduler-pdb-template``: keep the scheduler pod through voluntary
    disruptions (node drains)."""
    pdb = copy.deepcopy(dask.config.get("kubernetes.scheduler-pdb-template"))
    pdb.setdefault("metadata", {}).update(
        name=cluster_name, namespace=namespace,
        labels=base_labels(cluster_name, COMPONENT_SCHEDULER),
        ownerReferences=[owner_reference(scheduler_pod)])
    pdb.setdefault("spec", {})["selector"] = {"matchLabels": {
        LABEL_CLUSTER: cluster_name, LABEL_COMPONENT: COMPONENT_SCHEDULER, LABEL_CLASSIC: "true"}}
    return pdb


def _has_option(args: list[str], option: str) -> bool:
    return any(a == option or a.startswith(option + "=") for a in args)


def worker_pod(template: Mapping[str, Any], cluster_name: str, namespace: str, pod_name: str,
               worker_name: str, scheduler_address: str, env: Mapping[str, str],
               owner: Mapping[str, Any] | None) -> dict[str, Any]:
    """One worker pod: the template with our labels, ``DASK_SCHEDULER_ADDRESS``, ``--name`` and
    (unless the template sets one) ``--death-timeout 60``, owned by the scheduler pod if any."""
    pod = copy.deepcopy(dict(template))
    meta = pod.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), "user": user(),
                      **base_labels(cluster_name, COMPONENT_WORKER)}
    meta.update(name=pod_name, namespace=namespace)
    meta.pop("generateName", None)
    if owner is not None:
        meta["ownerReferences"] = [owner_reference(owner)]
    spec = pod["spec"]
    spec.setdefault("restartPolicy", "Never")  # a worker that exited is not brought back
    container = spec["containers"][0]
    _with_env(container, {**env, "DASK_SCHEDULER_ADDRESS": scheduler_address})
    field = "command" if container.get("command") and not container.get("args") else "args"
    argv = list(container.get(field) or [])
    if not argv:  # no command at all: run the worker (as the docs' image entrypoint would)
        argv = ["dask", "worker", "$(DASK_SCHEDULER_ADDRESS)"]
    argv += ["--name", worker_name]  # the last --name wins: the scheduler must know this one
    if not _has_option(argv, "--death-timeout"):
        argv += ["--death-timeout", "60"]
    container[field] = argv
    return pod
