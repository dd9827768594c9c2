"""KubeCluster keyword arguments merged with ``kubernetes.*`` config and validated, before any
API call."""

from __future__ import annotations

import getpass
import os
import uuid
import warnings
from dataclasses import dataclass
from typing import Any

from . import config
from .networking import port_in_use
from .validation import (
    CreateMode,
    ValidationError,
    load_cluster_spec,
    normalize_command,
    normalize_env,
    sanitize_name,
    validate_cluster_name,
    validate_count,
    validate_create_mode,
    validate_image,
    validate_namespace,
    validate_optional_bool,
    validate_port,
    validate_resources,
    validate_service_type,
    validate_timeout,
)


def default_cluster_name(template: str | None = None) -> str:
    """Format the ``kubernetes.name`` template with ``{user}``, ``{uuid}`` and environment vars."""
    template = config.get("name", template)
    try:
        user = getpass.getuser()
    except Exception:
        user = "user"
    values = {**os.environ, "user": sanitize_name(user) or "user", "uuid": uuid.uuid4().hex[:10]}
    try:
        return template.format(**values)
    except (KeyError, IndexError) as e:
        raise ValidationError(
            f"kubernetes.name={template!r} refers to {e}, which is neither {{user}}, {{uuid}} nor an "
            "environment variable. Fix the template or pass name=..."
        ) from None


@dataclass
class KubeClusterOptions:
    name: str
    namespace: str | None
    image: str
    n_workers: int
    resources: dict[str, Any]
    env: list[dict[str, Any]]
    worker_command: list[str]
    port_forward_cluster_ip: bool
    create_mode: CreateMode
    shutdown_on_close: bool | None
    idle_timeout: float | None
    resource_timeout: float
    scheduler_service_type: str
    custom_cluster_spec: dict[str, Any] | None
    scheduler_forward_port: int | None
    jupyter: bool
    direct_connect_timeout: float

    @classmethod
    def resolve(
        cls,
        *,
        name: str | None = None,
        namespace: str | None = None,
        image: str | None = None,
        n_workers: int | None = None,
        resources: dict[str, Any] | None = None,
        env: Any = None,
        worker_command: str | list[str] | None = None,
        port_forward_cluster_ip: bool | None = None,
        create_mode: Any = None,
        shutdown_on_close: bool | None = None,
        idle_timeout: float | None = None,
        resource_timeout: float | None = None,
        scheduler_service_type: str | None = None,
        custom_cluster_spec: Any = None,
        scheduler_forward_port: int | None = None,
        jupyter: bool | None = None,
    ) -> KubeClusterOptions:
        """Merge with config and validate; raises ValidationError naming the argument."""
        spec_arg = config.get("custom-cluster-spec", custom_cluster_spec)
        spec = load_cluster_spec(spec_arg) if spec_arg is not None else None
        if spec is not None:
            spec_name = spec["metadata"]["name"]
            if name is not None and name != spec_name:
                warnings.warn(
                    f"name={name!r} is ignored: custom_cluster_spec names the cluster {spec_name!r}",
                    stacklevel=3,
                )
            name = spec_name
        elif name is None:
            name = default_cluster_name()
        validate_cluster_name(name)

        forward_port = validate_port(config.get("scheduler-forward-port", scheduler_forward_port), "scheduler_forward_port")
        if forward_port is not None and port_in_use(forward_port):
            raise ConnectionError(
                f"scheduler_forward_port={forward_port} is already in use on 127.0.0.1. "
                "Pick a free port or pass None for a random one"
            )
        jupyter_value = config.get("scheduler-jupyter", jupyter)
        pf = validate_optional_bool(config.get("port-forward-cluster-ip", port_forward_cluster_ip), "port_forward_cluster_ip")
        return cls(
            name=name,
            namespace=validate_namespace(config.get("namespace", namespace)),
            image=validate_image(config.get("image", image)),
            n_workers=validate_count(config.get("count.start", n_workers)),
            resources=validate_resources(config.get("resources", resources)),
            env=normalize_env(config.get("env", env)),
            worker_command=normalize_command(config.get("worker-command", worker_command)),
            port_forward_cluster_ip=bool(pf),
            create_mode=validate_create_mode(config.get("create-mode", create_mode)),
            shutdown_on_close=validate_optional_bool(config.get("shutdown-on-close", shutdown_on_close), "shutdown_on_close"),
            idle_timeout=validate_timeout(config.get("idle-timeout", idle_timeout), "idle_timeout", allow_none=True, allow_zero=True),
            resource_timeout=validate_timeout(config.get("resource-timeout", resource_timeout), "resource_timeout"),
            scheduler_service_type=validate_service_type(config.get("scheduler-service-type", scheduler_service_type)),
            custom_cluster_spec=spec,
            scheduler_forward_port=forward_port,
            jupyter=bool(validate_optional_bool(jupyter_value, "jupyter")),
            direct_connect_timeout=validate_timeout(config.get("direct-connect-timeout"), "kubernetes.direct-connect-timeout"),
        )
