"""The classic ``KubeCluster``'s arguments: Dask config fallbacks (``kubernetes.*``) and
validation, before anything is created. Pure apart from reading Dask config and template files.
"""

from __future__ import annotations

import copy
import uuid
import warnings
from dataclasses import dataclass
from typing import Any

import dask.config
from dask_k8s_common import legacy_commands
from dask_k8s_common.contract import MAX_CLUSTER_NAME, SCHEDULER_SUFFIX

from .. import config as _registered  # noqa: F401  (registers the kubernetes.* defaults)
from ..validation import ValidationError, validate_namespace
from . import manifests
from .templates import (
    AFFINITY_MODES,
    clean_pod_template,
    format_name,
    load_pod_template,
)

DEPLOY_MODES = ("remote", "local")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")


@dataclass
class Options:
    """Every setting of one classic cluster, resolved and checked."""

    name: str
    namespace: str | None
    deploy_mode: str
    worker_template: dict[str, Any] | None
    scheduler_template: dict[str, Any] | None
    env: dict[str, str]
    n_workers: int
    host: str
    port: int
    interface: str | None
    protocol: str | None
    dashboard_address: str
    idle_timeout: str | None
    service_type: str
    wait_timeout: float
    name_resolution_retries: int
    worker_name: str
    client_lease: float | None


def _get(key: str, value: Any) -> Any:
    return dask.config.get(f"kubernetes.{key}") if value is None else value


def _bad(field: str, value: Any, expected: str) -> ValidationError:
    return ValidationError(f"{field}: {value!r} is not valid; expected {expected}")


def _warn_rewrites(template: dict[str, Any] | None, field: str) -> None:
    """Rewrite a removed ``dask-worker``-style program in place, and say so."""
    if template is None:
        return
    rewrites = legacy_commands.modernize_pod(template)
    if rewrites:
        warnings.warn(f"{field}: {legacy_commands.message(rewrites)}", FutureWarning,
                      stacklevel=4)


def resolve(pod_template: Any = None, name: str | None = None, namespace: str | None = None,
            n_workers: int | None = None, host: str | None = None, port: int | None = None,
            env: dict[str, str] | None = None, idle_timeout: str | None = None,
            deploy_mode: str | None = None, interface: str | None = None,
            protocol: str | None = None, dashboard_address: str | None = None,
            scheduler_service_wait_timeout: float | None = None,
            scheduler_service_name_resolution_retries: int | None = None,
            scheduler_pod_template: Any = None, apply_default_affinity: str = "preferred",
            attach: bool = False, security: Any = None) -> Options:
    """The arguments of ``KubeCluster``, with config fallbacks, checked; raises a
    ValidationError naming the argument (or config key) that is wrong."""
    deploy_mode = _get("deploy-mode", deploy_mode)
    if deploy_mode not in DEPLOY_MODES:
        raise _bad("deploy_mode", deploy_mode, "'remote' or 'local'")
    if apply_default_affinity not in AFFINITY_MODES:
        raise _bad("apply_default_affinity", apply_default_affinity,
                   "'required', 'preferred' or 'none'")
    if security is not None and deploy_mode == "remote":
        raise _bad("security", security, "None with deploy_mode='remote' (the scheduler pod "
                   "gets no certificates); use deploy_mode='local' for TLS")
    service_type = dask.config.get("kubernetes.scheduler-service-type")
    if service_type not in SERVICE_TYPES:
        raise _bad("kubernetes.scheduler-service-type", service_type, " or ".join(SERVICE_TYPES))
    affinity = AFFINITY_MODES[apply_default_affinity]
    worker_template = scheduler_template = None
    if not attach:
        raw = load_pod_template(pod_template)
        _warn_rewrites(raw, "pod_template")
        worker_template = clean_pod_template(raw, affinity, "worker")
        if scheduler_pod_template is None:
            scheduler_pod_template = dask.config.get("kubernetes.scheduler-template", None) or None
        # the scheduler runs in a copy of the worker template unless given its own
        scheduler_raw = raw if scheduler_pod_template is None else load_pod_template(
            scheduler_pod_template, "scheduler_pod_template")
        scheduler_template = clean_pod_template(scheduler_raw, affinity, "scheduler")
    env = copy.deepcopy(_get("env", env)) or {}
    if not isinstance(env, dict) or not all(isinstance(k, str) for k in env):
        raise _bad("env", env, "a dict of environment variable names to values")
    count = _get("count.start", n_workers)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise _bad("n_workers", count, "a whole number >= 0")
    retries = _get("scheduler-service-name-resolution-retries",
                   scheduler_service_name_resolution_retries)
    if not isinstance(retries, int) or retries < 1:
        raise _bad("scheduler_service_name_resolution_retries", retries, "an integer >= 1")
    wait = _get("scheduler-service-wait-timeout", scheduler_service_wait_timeout)
    if not isinstance(wait, (int, float)) or wait < 0:
        raise _bad("scheduler_service_wait_timeout", wait, "seconds >= 0 (0: no timeout)")
    if name is None:
        name = format_name(dask.config.get("kubernetes.name"), user=manifests.user(),
                           uuid=uuid.uuid4().hex[:10])
    try:
        name = format_name(name)
    except (KeyError, ValueError) as e:
        raise _bad("name", name, f"a name or a template of {{user}}, {{uuid}} and environment "
                   f"variables ({e!r})") from None
    if len(name) > MAX_CLUSTER_NAME:
        raise _bad("name", name, f"at most {MAX_CLUSTER_NAME} characters (the scheduler Job adds {SCHEDULER_SUFFIX!r})")
    idle = _get("idle-timeout", idle_timeout)
    lease = dask.config.get("kubernetes.client-lease", None)
    if lease is not None and (not isinstance(lease, (int, float)) or lease < 10):
        raise _bad("kubernetes.client-lease", lease, "seconds >= 10, or null")
    return Options(
        name=name,
        namespace=validate_namespace(_get("namespace", namespace)),
        deploy_mode=deploy_mode,
        worker_template=worker_template,
        scheduler_template=scheduler_template,
        env={k: str(v) for k, v in env.items()},
        n_workers=count,
        host=_get("host", host),
        port=int(_get("port", port)),
        interface=_get("interface", interface),
        protocol=_get("protocol", protocol),
        dashboard_address=_get("dashboard_address", dashboard_address),
        idle_timeout=str(idle) if idle else None,
        service_type=service_type,
        wait_timeout=float(wait),
        name_resolution_retries=retries,
        worker_name=dask.config.get("kubernetes.worker-name"),
        client_lease=float(lease) if lease is not None else None,
    )
