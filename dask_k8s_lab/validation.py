"""Client-side validation of every user-facing argument, run before any Kubernetes API call.

Each check raises :class:`ValidationError` (a ``ValueError``) whose message names the argument,
the offending value and the fix.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from dask_k8s_common.contract import (
    API_VERSION,
    CLUSTER_NAME_PATTERN,
    DASHBOARD_PORT_NAME,
    DNS_LABEL_PATTERN,
    MAX_CLUSTER_NAME,
    MAX_DNS_LABEL,
    SCHEDULER_PORT_NAME,
    SCHEDULER_SUFFIX,
)

#: DNS-1123 label, as Kubernetes requires for names used in labels and Services.
DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
#: Cluster names also name a Service, so they must start with a letter (RFC 1035).
CLUSTER_NAME = re.compile(CLUSTER_NAME_PATTERN)
#: The scheduler Service is ``<name>-scheduler`` and must stay a DNS label.
MAX_CLUSTER_NAME_LENGTH = MAX_CLUSTER_NAME
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
RESOURCE_SECTIONS = ("requests", "limits")


class ValidationError(ValueError):
    """An argument is invalid; the message names it and says how to fix it."""


class CreateMode(enum.Enum):
    """What to do when a cluster with the requested name already exists (or does not)."""

    CREATE_OR_CONNECT = "CREATE_OR_CONNECT"
    CREATE_ONLY = "CREATE_ONLY"
    CONNECT_ONLY = "CONNECT_ONLY"


def _fail(argument: str, value: Any, problem: str, fix: str) -> ValidationError:
    return ValidationError(f"{argument}={value!r} {problem}. {fix}")


def validate_cluster_name(name: Any, argument: str = "name") -> str:
    """A DaskCluster name: a DNS label short enough for ``<name>-scheduler``."""
    if not isinstance(name, str) or not name:
        raise _fail(argument, name, "is not a non-empty string", "Pass a name such as 'my-cluster'")
    if len(name) > MAX_CLUSTER_NAME_LENGTH:
        raise _fail(
            argument,
            name,
            f"is {len(name)} characters long, more than the {MAX_CLUSTER_NAME_LENGTH} allowed "
            f"(the scheduler Service '<name>{SCHEDULER_SUFFIX}' must fit in {MAX_DNS_LABEL})",
            "Use a shorter name",
        )
    if not CLUSTER_NAME.match(name):
        suggestion = sanitize_name(name)
        if not suggestion[:1].isalpha():
            suggestion = f"dask-{suggestion}".strip("-")
        raise _fail(
            argument,
            name,
            "is not a valid cluster name",
            "Use only lowercase letters, digits and '-', starting with a letter and ending with a "
            f"letter or digit, e.g. {suggestion[:MAX_CLUSTER_NAME_LENGTH].rstrip('-')!r}",
        )
    return name


def sanitize_name(text: str) -> str:
    """Turn arbitrary text (e.g. a user name) into a DNS-label fragment."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def validate_namespace(namespace: Any) -> str | None:
    if namespace is None:
        return None
    if not isinstance(namespace, str) or len(namespace) > MAX_DNS_LABEL or not DNS_LABEL.match(namespace):
        raise _fail(
            "namespace",
            namespace,
            "is not a valid namespace",
            f"Use a DNS label (lowercase letters, digits and '-', at most {MAX_DNS_LABEL} characters) or None "
            "for the current context's namespace",
        )
    return namespace


def validate_worker_group_name(group: Any, cluster_name: str) -> str:
    """A worker group name; the DaskWorkerGroup is named ``<cluster>-<group>``."""
    if not isinstance(group, str) or not DNS_LABEL.match(group):
        raise _fail(
            "name",
            group,
            "is not a valid worker group name",
            "Use lowercase letters, digits and '-', starting and ending with a letter or digit",
        )
    full = f"{cluster_name}-{group}"
    if len(full) > MAX_DNS_LABEL:
        raise _fail(
            "name",
            group,
            f"makes the DaskWorkerGroup name {full!r} longer than {MAX_DNS_LABEL} characters",
            f"Use a group name of at most {MAX_DNS_LABEL - 1 - len(cluster_name)} characters",
        )
    return group


def validate_image(image: Any, argument: str = "image") -> str:
    if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image):
        raise _fail(argument, image, "is not a container image reference", "Pass e.g. 'ghcr.io/dask/dask:latest'")
    return image


def validate_count(n: Any, argument: str = "n_workers") -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise _fail(argument, n, "is not an integer", "Pass a whole number of workers, e.g. 2")
    if n < 0:
        raise _fail(argument, n, "is negative", "Pass 0 or more workers")
    return n


def validate_resources(resources: Any, argument: str = "resources") -> dict[str, dict[str, Any]]:
    """``{"requests": {...}, "limits": {...}}`` with string/number quantities."""
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise _fail(
            argument,
            resources,
            "is not a mapping",
            'Pass e.g. {"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}}',
        )
    for key, section in resources.items():
        if key not in RESOURCE_SECTIONS:
            hint = f"did you mean {key.rstrip('s') + 's'!r}? " if isinstance(key, str) and key.rstrip("s") in ("request", "limit") else ""
            raise _fail(
                argument,
                dict(resources),
                f"has the key {key!r}",
                f"{hint}Only 'requests' and 'limits' are allowed, each mapping a resource name to a quantity",
            )
        if not isinstance(section, Mapping):
            raise _fail(
                f"{argument}[{key!r}]",
                section,
                "is not a mapping",
                'Map resource names to quantities, e.g. {"memory": "2Gi", "cpu": "500m"}',
            )
        for rname, quantity in section.items():
            if not isinstance(rname, str) or isinstance(quantity, bool) or not isinstance(quantity, (str, int, float)):
                raise _fail(
                    f"{argument}[{key!r}][{rname!r}]",
                    quantity,
                    "is not a resource quantity",
                    "Use a string like '2Gi' or '500m', or a number",
                )
    return {k: dict(v) for k, v in resources.items()}


def normalize_env(env: Any, argument: str = "env") -> list[dict[str, Any]]:
    """Turn a mapping or a list of Kubernetes env entries into a list of env entries."""
    if env is None:
        return []
    if isinstance(env, Mapping):
        out = []
        for key, value in env.items():
            if not isinstance(key, str) or not key:
                raise _fail(argument, dict(env), f"has the invalid variable name {key!r}", "Use non-empty string names")
            out.append({"name": key, "value": str(value)})
        return out
    if isinstance(env, Sequence) and not isinstance(env, (str, bytes)):
        out = []
        for entry in env:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                raise _fail(
                    argument,
                    entry,
                    "is not a Kubernetes env entry",
                    'Each entry needs a "name" and a "value" or "valueFrom", e.g. {"name": "A", "value": "1"}',
                )
            out.append(dict(entry))
        return out
    raise _fail(argument, env, "is neither a mapping nor a list", 'Pass e.g. {"MY_VAR": "1"}')


def normalize_command(command: Any, argument: str = "worker_command") -> list[str]:
    """A command given as a string (split on whitespace) or a list of strings."""
    if isinstance(command, str):
        parts = command.split()
    elif isinstance(command, Sequence) and all(isinstance(p, str) for p in command):
        parts = list(command)
    else:
        parts = []
    if not parts:
        raise _fail(argument, command, "is not a command", "Pass e.g. 'dask worker' or ['dask', 'worker']")
    return parts


def validate_create_mode(mode: Any) -> CreateMode:
    """Accept a :class:`CreateMode` or its name in any case (with '-' or '_')."""
    if isinstance(mode, CreateMode):
        return mode
    if isinstance(mode, str):
        key = mode.strip().upper().replace("-", "_")
        if key in CreateMode.__members__:
            return CreateMode[key]
    raise _fail(
        "create_mode",
        mode,
        "is not a create mode",
        "Use one of " + ", ".join(f"CreateMode.{m}" for m in CreateMode.__members__) + " (or the same names as strings)",
    )


def validate_service_type(service_type: Any) -> str:
    if isinstance(service_type, str):
        for known in SERVICE_TYPES:
            if service_type.lower() == known.lower():
                return known
    raise _fail("scheduler_service_type", service_type, "is not a Service type", "Use one of " + ", ".join(SERVICE_TYPES))


def validate_optional_bool(value: Any, argument: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _fail(argument, value, "is not True, False or None", "Pass a boolean")


def validate_timeout(value: Any, argument: str, *, allow_none: bool = False, allow_zero: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not allow_zero):
        lower = "0 or more" if allow_zero else "more than 0"
        raise _fail(argument, value, "is not a valid number of seconds", f"Pass a number {lower}" + (" or None" if allow_none else ""))
    return value


def validate_port(port: Any, argument: str) -> int | None:
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise _fail(argument, port, "is not a TCP port", "Pass an integer between 1 and 65535, or None for a free port")
    return port


def validate_adapt_bounds(minimum: Any, maximum: Any) -> tuple[int, int]:
    minimum = validate_count(minimum, "minimum")
    maximum = validate_count(maximum, "maximum")
    if minimum > maximum:
        raise ValidationError(f"minimum={minimum} is larger than maximum={maximum}. Pass minimum <= maximum")
    return minimum, maximum


def load_cluster_spec(spec: Any, argument: str = "custom_cluster_spec") -> dict[str, Any]:
    """Load a DaskCluster manifest from a mapping or a YAML file and check its shape."""
    if isinstance(spec, (str, os.PathLike)):
        path = os.fspath(spec)
        if not os.path.isfile(path):
            raise _fail(argument, path, "is not an existing file", "Pass a path to a DaskCluster YAML manifest or a dict")
        with open(path) as f:
            spec = yaml.safe_load(f)
    if not isinstance(spec, Mapping):
        raise _fail(argument, type(spec).__name__, "is not a DaskCluster manifest", "Pass a dict (e.g. from make_cluster_spec) or a YAML path")
    spec = dict(spec)
    if spec.get("kind", "DaskCluster") != "DaskCluster":
        raise _fail(f"{argument}['kind']", spec.get("kind"), "is not 'DaskCluster'", "Pass a DaskCluster manifest")
    spec.setdefault("apiVersion", API_VERSION)
    spec.setdefault("kind", "DaskCluster")
    name = (spec.get("metadata") or {}).get("name")
    validate_cluster_name(name, f"{argument}['metadata']['name']")
    body = spec.get("spec")
    if not isinstance(body, Mapping):
        raise _fail(f"{argument}['spec']", body, "is missing", "Include 'scheduler' and 'worker' sections, as make_cluster_spec does")
    for part in ("scheduler", "worker"):
        pod = (body.get(part) or {}).get("spec") if isinstance(body.get(part), Mapping) else None
        if not isinstance(pod, Mapping) or not pod.get("containers"):
            raise _fail(
                f"{argument}['spec']['{part}']['spec']['containers']",
                None,
                "is missing",
                f"Give the {part} pod spec at least one container",
            )
    service = body["scheduler"].get("service")
    if not isinstance(service, Mapping):
        raise _fail(f"{argument}['spec']['scheduler']['service']", service, "is missing", f"Add a Service spec with ports {SCHEDULER_PORT_NAME!r} and {DASHBOARD_PORT_NAME!r}")
    port_names = {p.get("name") for p in service.get("ports") or [] if isinstance(p, Mapping)}
    if SCHEDULER_PORT_NAME not in port_names:
        raise _fail(
            f"{argument}['spec']['scheduler']['service']['ports']",
            sorted(n for n in port_names if n),
            f"has no port named {SCHEDULER_PORT_NAME!r}",
            f"Name the scheduler comm port {SCHEDULER_PORT_NAME!r} (and the dashboard {DASHBOARD_PORT_NAME!r})",
        )
    replicas = (body["worker"] or {}).get("replicas", 0)
    validate_count(replicas, f"{argument}['spec']['worker']['replicas']")
    return spec
