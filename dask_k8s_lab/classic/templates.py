"""Worker pod templates of the classic ``KubeCluster``: ``make_pod_spec``, ``clean_pod_template``,
and loading a template from a dict, a YAML file or Dask config.

Templates are plain dicts shaped like a Kubernetes ``Pod`` (``metadata`` and ``spec``); there is
no Kubernetes client library. Pure functions apart from reading a YAML file.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from typing import Any

import dask.config
import yaml

from ..validation import ValidationError

DEFAULT_DEATH_TIMEOUT = "60"
NODE_PURPOSE_LABEL = "k8s.dask.org/node-purpose"
# `apply_default_affinity` values and the `clean_pod_template` spelling they map to
AFFINITY_MODES = {"required": "require", "preferred": "prefer", "none": "ignore"}


def _fail(field: str, problem: str, fix: str) -> ValidationError:
    return ValidationError(f"{field}: {problem}. {fix}")


def _camel(key: str) -> str:
    """``image_pull_policy`` -> ``imagePullPolicy`` (Kubernetes field names are camelCase)."""
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _merge(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Set ``extra``'s fields on ``target``: mappings merge recursively, other values replace."""
    for key, value in extra.items():
        key = _camel(key)
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def default_tolerations(pod_type: str = "worker") -> list[dict[str, str]]:
    """Tolerations for nodes tainted ``k8s.dask.org/dedicated=<pod_type>:NoSchedule`` (and the
    underscore spelling, for providers that refuse a ``/`` in a taint key)."""
    return [
        {"key": key, "operator": "Equal", "value": pod_type, "effect": "NoSchedule"}
        for key in ("k8s.dask.org/dedicated", "k8s.dask.org_dedicated")
    ]


def make_pod_spec(
    image: str,
    labels: Mapping[str, str] | None = None,
    threads_per_worker: int = 1,
    env: Mapping[str, str] | None = None,
    extra_container_config: Mapping[str, Any] | None = None,
    extra_pod_config: Mapping[str, Any] | None = None,
    resources: str | None = None,
    memory_limit: int | float | str | None = None,
    memory_request: int | float | str | None = None,
    cpu_limit: float | str | None = None,
    cpu_request: float | str | None = None,
    gpu_limit: int | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A generic worker Pod template (a dict) from the given parameters.

    The worker runs ``dask worker $(DASK_SCHEDULER_ADDRESS) --nthreads N --death-timeout 60``
    (plus ``--memory-limit`` and ``--resources`` when given); ``memory_limit`` also becomes the
    container's memory limit, ``memory_request``/``cpu_*``/``gpu_limit`` its requests and limits.
    ``extra_container_config``/``extra_pod_config`` are merged into the container / pod spec
    (nested mappings merge; ``snake_case`` keys are accepted for ``camelCase`` fields).

    >>> make_pod_spec(image='ghcr.io/dask/dask:latest', memory_limit='4G', memory_request='4G')
    """
    args = ["dask", "worker", "$(DASK_SCHEDULER_ADDRESS)", "--nthreads", str(threads_per_worker),
            "--death-timeout", DEFAULT_DEATH_TIMEOUT]
    if memory_limit:
        args += ["--memory-limit", str(memory_limit)]
    if resources:
        args += ["--resources", str(resources)]
    limits: dict[str, Any] = {}
    requests: dict[str, Any] = {}
    for target, key, value in ((requests, "cpu", cpu_request), (requests, "memory", memory_request),
                               (limits, "cpu", cpu_limit), (limits, "nvidia.com/gpu", gpu_limit),
                               (limits, "memory", memory_limit)):
        if value:
            target[key] = value
    container: dict[str, Any] = {
        "name": "dask-worker",
        "image": image,
        "args": args,
        "env": [{"name": k, "value": str(v)} for k, v in (env or {}).items()],
        "resources": {"limits": limits, "requests": requests},
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "tolerations": default_tolerations(),
    }
    _merge(container, extra_container_config or {})
    _merge(spec, extra_pod_config or {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": dict(labels or {}), "annotations": dict(annotations or {})},
        "spec": spec,
    }


def validate_pod_template(template: Any, field: str = "pod_template") -> dict[str, Any]:
    """A deep copy of ``template`` if it is a usable Pod template; else a ValidationError naming
    the field. Checked before anything is created."""
    if not isinstance(template, Mapping):
        raise _fail(field, f"expected a Pod template (a dict) or the path of a YAML file, got "
                    f"{type(template).__name__}", "Pass make_pod_spec(...), a dict or a path")
    kind = template.get("kind")
    if kind is not None and kind != "Pod":
        raise _fail(f"{field}.kind", f"is {kind!r}, not 'Pod'",
                    "Give a Pod manifest (kind: Pod) with spec.containers")
    spec = template.get("spec")
    if not isinstance(spec, Mapping):
        raise _fail(f"{field}.spec", "is missing", "A Pod template needs spec.containers")
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise _fail(f"{field}.spec.containers", "is missing or empty",
                    "Give at least one container with an image (the first one runs Dask)")
    for i, container in enumerate(containers):
        if not isinstance(container, Mapping) or not container.get("image"):
            raise _fail(f"{field}.spec.containers[{i}].image", "is missing",
                        "Every container needs an image")
    metadata = template.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise _fail(f"{field}.metadata", "is not a mapping", "Use metadata: {labels: {...}}")
    return copy.deepcopy(dict(template))


def load_pod_template(source: Any, field: str = "pod_template") -> dict[str, Any]:
    """A Pod template from a dict, a YAML file path, or (``source`` None) Dask config
    ``kubernetes.worker-template`` / ``kubernetes.worker-template-path``."""
    if source is None:
        inline = dask.config.get("kubernetes.worker-template", None)
        path = dask.config.get("kubernetes.worker-template-path", None)
        if inline:
            return validate_pod_template(inline, "kubernetes.worker-template")
        if path:
            return load_pod_template(path, "kubernetes.worker-template-path")
        raise _fail(field, "no worker Pod template given",
                    "Pass one (make_pod_spec(...), a dict or a YAML path) or set the Dask config "
                    "kubernetes.worker-template-path")
    if isinstance(source, (str, os.PathLike)):
        path = os.path.expanduser(os.fspath(source))
        try:
            with open(path) as f:
                documents = [d for d in yaml.safe_load_all(f) if d is not None]
        except FileNotFoundError:
            raise _fail(field, f"no file {path!r}", "Give the path of a Pod YAML file") from None
        except yaml.YAMLError as e:
            raise _fail(field, f"{path!r} is not valid YAML ({e})", "Fix the file") from None
        if len(documents) != 1:
            raise _fail(field, f"{path!r} holds {len(documents)} YAML documents",
                        "Give a file with exactly one Pod manifest")
        return validate_pod_template(documents[0], field)
    return validate_pod_template(source, field)


def clean_pod_template(pod_template: Mapping[str, Any], match_node_purpose: str = "prefer",
                       pod_type: str = "worker") -> dict[str, Any]:
    """Normalise a Pod template: a copy with ``metadata.labels`` and the first container's
    ``env`` present, the default tolerations added, and node affinity to
    ``k8s.dask.org/node-purpose=<pod_type>`` per ``match_node_purpose`` (``"prefer"``,
    ``"require"`` or ``"ignore"``)."""
    if isinstance(pod_template, (str, os.PathLike)):
        raise TypeError(f"expected a Pod template dict, got the string {pod_template!r}; pass "
                        "a path to KubeCluster(...) or load it with yaml.safe_load first")
    if match_node_purpose not in ("prefer", "require", "ignore"):
        raise ValueError('match_node_purpose must be one of "ignore", "require" or "prefer", '
                         f"not {match_node_purpose!r}")
    pod = validate_pod_template(pod_template)
    pod.setdefault("metadata", {})
    pod["metadata"].setdefault("labels", {})
    pod["metadata"]["labels"] = dict(pod["metadata"]["labels"] or {})
    spec = pod["spec"]
    spec["containers"][0].setdefault("env", [])
    tolerations = list(spec.get("tolerations") or [])
    spec["tolerations"] = tolerations + [
        t for t in default_tolerations(pod_type) if t not in tolerations]
    if match_node_purpose != "ignore":
        term = {"matchExpressions": [
            {"key": NODE_PURPOSE_LABEL, "operator": "In", "values": [pod_type]}]}
        node = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
        if match_node_purpose == "require":
            required = node.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
            required.setdefault("nodeSelectorTerms", []).append(term)
        else:
            node.setdefault("preferredDuringSchedulingIgnoredDuringExecution", []).append(
                {"weight": 100, "preference": term})
    return pod


def format_name(template: str, **values: str) -> str:
    """A DNS-1123 name from a ``{user}``/``{uuid}``/environment-variable template."""
    text = template.format(**{**os.environ, **values})
    text = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return text[:63].rstrip("-") or "dask"
