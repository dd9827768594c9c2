"""Pure builders for DaskCluster manifests: ``make_cluster_spec``, ``make_worker_spec``.

The output is plain data usable as ``KubeCluster(custom_cluster_spec=...)``,
``add_worker_group(custom_spec=...)`` or, dumped to YAML, by ``kubectl apply``.
"""

from __future__ import annotations

import copy
from typing import Any

from dask_k8s_common.contract import (
    API_VERSION,
    COMPONENT_SCHEDULER,
    DASHBOARD_PORT,
    DASHBOARD_PORT_NAME,
    LABEL_CLUSTER,
    LABEL_COMPONENT,
    LABEL_WORKER_GROUP,
    SCHEDULER_PORT,
    SCHEDULER_PORT_NAME,
    scheduler_name,
)

from . import config
from .validation import (
    normalize_command,
    normalize_env,
    validate_cluster_name,
    validate_count,
    validate_image,
    validate_resources,
    validate_service_type,
    validate_timeout,
)

COMM_PORT = SCHEDULER_PORT
COMM_PORT_NAME = SCHEDULER_PORT_NAME
#: Port of each worker's own dashboard (only the client's specs set it).
WORKER_DASHBOARD_PORT = 8788
CLUSTER_LABEL = LABEL_CLUSTER
COMPONENT_LABEL = LABEL_COMPONENT
WORKERGROUP_LABEL = LABEL_WORKER_GROUP


def scheduler_service_name(cluster_name: str) -> str:
    return scheduler_name(cluster_name)


def worker_group_name(cluster_name: str, group: str) -> str:
    return f"{cluster_name}-{group}"


def _container(
    name: str,
    image: str,
    args: list[str],
    env: list[dict[str, Any]],
    resources: dict[str, Any],
    ports: list[dict[str, Any]],
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": ports,
    }
    if env:
        container["env"] = copy.deepcopy(env)
    if resources:
        container["resources"] = copy.deepcopy(resources)
    return container


def make_worker_spec(
    image: str | None = None,
    n_workers: int | None = 3,
    resources: dict[str, Any] | None = None,
    env: dict[str, str] | list[dict[str, Any]] | None = None,
    worker_command: str | list[str] | None = None,
    cluster_name: str | None = None,
) -> dict[str, Any]:
    """The ``worker`` section of a DaskCluster or DaskWorkerGroup: ``{"replicas", "spec"}``.

    ``n_workers=None`` leaves ``replicas`` out, so the CRD's default (1) applies. ``cluster_name`` is accepted for compatibility with the documented example and only
    validated; ``add_worker_group`` attaches the group to its cluster.
    """
    if cluster_name is not None:
        validate_cluster_name(cluster_name, "cluster_name")
    image = validate_image(config.get("image", image))
    replicas = {} if n_workers is None else {"replicas": validate_count(n_workers)}
    resources = validate_resources(resources)
    env_list = normalize_env(env)
    command = normalize_command(config.get("worker-command", worker_command))
    args = [*command, "--name", "$(DASK_WORKER_NAME)", "--dashboard", "--dashboard-address", str(WORKER_DASHBOARD_PORT)]
    ports = [{"name": DASHBOARD_PORT_NAME, "containerPort": WORKER_DASHBOARD_PORT, "protocol": "TCP"}]
    return {
        **replicas,
        "spec": {"containers": [_container("worker", image, args, env_list, resources, ports)]},
    }


def make_scheduler_spec(
    cluster_name: str,
    image: str | None = None,
    resources: dict[str, Any] | None = None,
    env: dict[str, str] | list[dict[str, Any]] | None = None,
    scheduler_service_type: str | None = None,
    jupyter: bool = False,
    scheduler_command: str | list[str] | None = None,
) -> dict[str, Any]:
    """The ``scheduler`` section of a DaskCluster: pod ``spec`` and ``service`` spec."""
    validate_cluster_name(cluster_name)
    image = validate_image(config.get("image", image))
    resources = validate_resources(resources)
    env_list = normalize_env(env)
    service_type = validate_service_type(config.get("scheduler-service-type", scheduler_service_type))
    args = [*normalize_command(config.get("scheduler-command", scheduler_command), "scheduler_command"), "--host", "0.0.0.0"]
    if jupyter:
        args.append("--jupyter")
    ports = [
        {"name": COMM_PORT_NAME, "containerPort": COMM_PORT, "protocol": "TCP"},
        {"name": DASHBOARD_PORT_NAME, "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
    ]
    container = _container("scheduler", image, args, env_list, resources, ports)
    container["readinessProbe"] = {
        "httpGet": {"port": DASHBOARD_PORT_NAME, "path": "/health"},
        "initialDelaySeconds": 0,
        "periodSeconds": 1,
        "timeoutSeconds": 5,
    }
    container["livenessProbe"] = {
        "httpGet": {"port": DASHBOARD_PORT_NAME, "path": "/health"},
        "initialDelaySeconds": 15,
        "periodSeconds": 20,
        "timeoutSeconds": 5,
    }
    return {
        "spec": {"containers": [container]},
        "service": {
            "type": service_type,
            "selector": {CLUSTER_LABEL: cluster_name, COMPONENT_LABEL: COMPONENT_SCHEDULER},
            "ports": [
                {"name": COMM_PORT_NAME, "protocol": "TCP", "port": COMM_PORT, "targetPort": COMM_PORT_NAME},
                {"name": DASHBOARD_PORT_NAME, "protocol": "TCP", "port": DASHBOARD_PORT, "targetPort": DASHBOARD_PORT_NAME},
            ],
        },
    }


def make_cluster_spec(
    name: str,
    image: str | None = None,
    n_workers: int | None = None,
    resources: dict[str, Any] | None = None,
    env: dict[str, str] | list[dict[str, Any]] | None = None,
    worker_command: str | list[str] | None = None,
    scheduler_service_type: str | None = None,
    idle_timeout: int | None = None,
    jupyter: bool = False,
) -> dict[str, Any]:
    """A complete DaskCluster manifest; unset arguments come from ``kubernetes.*`` config.

    As in the documented signature, ``n_workers=None`` leaves the default group's size to the
    CRD's default (one worker); ``kubernetes.count.start`` is KubeCluster's, not this function's.
    ``worker_command`` defaults to ``kubernetes.worker-command`` (``dask worker``, the current
    name of the documented ``dask-worker``, which the operator also accepts and rewrites).
    """
    validate_cluster_name(name)
    idle = validate_timeout(config.get("idle-timeout", idle_timeout), "idle_timeout", allow_none=True, allow_zero=True)
    return {
        "apiVersion": API_VERSION,
        "kind": "DaskCluster",
        "metadata": {"name": name},
        "spec": {
            "idleTimeout": int(idle or 0),
            "worker": make_worker_spec(
                image=image, n_workers=n_workers, resources=resources, env=env, worker_command=worker_command
            ),
            "scheduler": make_scheduler_spec(
                cluster_name=name,
                image=image,
                resources=resources,
                env=env,
                scheduler_service_type=scheduler_service_type,
                jupyter=jupyter,
            ),
        },
    }


def make_worker_group(cluster_name: str, group: str, worker_spec: dict[str, Any]) -> dict[str, Any]:
    """A DaskWorkerGroup manifest ``<cluster>-<group>`` around a ``make_worker_spec`` result."""
    return {
        "apiVersion": API_VERSION,
        "kind": "DaskWorkerGroup",
        "metadata": {
            "name": worker_group_name(cluster_name, group),
            "labels": {CLUSTER_LABEL: cluster_name},
        },
        "spec": {"cluster": cluster_name, "worker": copy.deepcopy(worker_spec)},
    }


def derive_worker_spec(
    base: dict[str, Any],
    n_workers: int = 3,
    image: str | None = None,
    resources: dict[str, Any] | None = None,
    env: dict[str, str] | list[dict[str, Any]] | None = None,
    worker_command: str | list[str] | None = None,
) -> dict[str, Any]:
    """A worker section based on an existing one (e.g. the cluster's), with the given overrides.

    Everything not overridden — node selectors, pull secrets, volumes — is kept.
    """
    if not (base.get("spec") or {}).get("containers"):
        return make_worker_spec(image, n_workers, resources, env, worker_command)
    worker = copy.deepcopy(base)
    worker["replicas"] = validate_count(n_workers)
    container = worker["spec"]["containers"][0]
    if image is not None:
        container["image"] = validate_image(image)
    if resources is not None:
        container["resources"] = validate_resources(resources)
    if env is not None:
        container["env"] = normalize_env(env)
    if worker_command is not None:
        container["args"] = make_worker_spec(
            image=container.get("image"), n_workers=0, worker_command=worker_command
        )["spec"]["containers"][0]["args"]
        container.pop("command", None)
    return worker


def autoscaler_name(cluster_name: str, group: str = "default") -> str:
    """The DaskAutoscaler of a group: named like the cluster for the default group."""
    return cluster_name if group == "default" else worker_group_name(cluster_name, group)


def make_autoscaler(
    cluster_name: str,
    minimum: int,
    maximum: int,
    group: str = "default",
    scale_down_delay: float | None = None,
) -> dict[str, Any]:
    """A DaskAutoscaler manifest scaling ``<cluster>-<group>`` between minimum and maximum."""
    spec: dict[str, Any] = {
        "cluster": cluster_name,
        "workerGroup": worker_group_name(cluster_name, group),
        "minimum": minimum,
        "maximum": maximum,
    }
    if scale_down_delay is not None:
        spec["scaleDownDelaySeconds"] = int(scale_down_delay)
    return {
        "apiVersion": API_VERSION,
        "kind": "DaskAutoscaler",
        "metadata": {"name": autoscaler_name(cluster_name, group), "labels": {CLUSTER_LABEL: cluster_name}},
        "spec": spec,
    }
