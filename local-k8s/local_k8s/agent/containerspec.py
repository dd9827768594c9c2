"""Pure functions that turn a container spec into what to run: image check, environment,
command line with `$(VAR)` expansion. No I/O here, so they are cheap to test."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .. import settings

# Images whose containers run from the project's own Python environment. Matching is by the
# last path element of the repository (registry and tag are ignored), so
# `ghcr.io/dask/dask:2024.1` and `python:3.11` both run here.
RUNNABLE_IMAGE_WORDS = ("dask", "python", "jupyter", "busybox", "debian", "ubuntu", "alpine")

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


class ImageNotAvailable(Exception):
    """The image cannot run on this node (there is no container runtime to pull it)."""


def image_repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def check_image(image: str) -> None:
    repo = image_repository(image).lower()
    if not any(word in repo for word in RUNNABLE_IMAGE_WORDS):
        raise ImageNotAvailable(
            f'image "{image}" is not available on local-k8s: it runs containers from the project\'s '
            f"Python environment, for images whose name contains one of {', '.join(RUNNABLE_IMAGE_WORDS)}"
        )


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` escapes, others stay."""

    def sub(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _VAR.sub(sub, text)


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """The value of a downward-API fieldRef such as `metadata.name` or `status.podIP`."""
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP") or settings.NODE_IP,
        "status.podIP": status.get("podIP"),
    }
    if path in simple:
        return simple[path] or ""
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return (meta.get(match.group(1)) or {}).get(match.group(2), "")
    raise ValueError(f"fieldRef {path!r} is not supported by local-k8s")


def resource_value(container: Mapping[str, Any], resource: str, divisor: str | None) -> str:
    """A downward-API resourceFieldRef, e.g. limits.cpu, in the divisor's units."""
    kind, name = resource.split(".", 1)
    raw = (container.get("resources", {}).get(kind) or {}).get(name)
    if raw is None:
        raw = "0"
    value = parse_quantity(raw)
    div = parse_quantity(divisor) if divisor else 1
    return str(max(1, math.ceil(value / div)) if value else 0)


_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9,
           "T": 1e12, "P": 1e15, "E": 1e18}


def parse_quantity(quantity: str | int | float) -> float:
    """A Kubernetes quantity ("500m", "2Gi", "1e3") as a number of base units."""
    if isinstance(quantity, (int, float)):
        return float(quantity)
    match = re.fullmatch(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)", quantity.strip())
    if not match or match.group(2) not in _SUFFIX:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def build_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    base: Mapping[str, str],
    lookup: Callable[[str, str, str, bool], str | None],
) -> dict[str, str]:
    """The container's environment, in Kubernetes order: base, envFrom, then env (each entry may
    refer to the ones before it). `lookup(kind, name, key, optional)` reads ConfigMap/Secret keys;
    kind is "configMap" or "secret", and key "" asks for all keys as a JSON-free mapping."""
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind in ("configMapRef", "secretRef"):
            ref = source.get(kind)
            if ref:
                values = lookup(kind[:-3], ref["name"], "", ref.get("optional", False)) or {}
                env.update({prefix + k: v for k, v in values.items()})  # type: ignore[union-attr]
    for var in container.get("env") or []:
        name = var["name"]
        if "value" in var:
            env[name] = expand(str(var["value"]), env)
            continue
        source = var.get("valueFrom") or {}
        if "fieldRef" in source:
            env[name] = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            ref = source["resourceFieldRef"]
            env[name] = resource_value(container, ref["resource"], ref.get("divisor"))
        elif "configMapKeyRef" in source or "secretKeyRef" in source:
            kind = "configMap" if "configMapKeyRef" in source else "secret"
            ref = source[f"{kind}KeyRef"]
            value = lookup(kind, ref["name"], ref["key"], ref.get("optional", False))
            if value is not None:
                env[name] = value  # type: ignore[assignment]
        else:
            env[name] = ""
    return env


def command_line(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """command + args after expansion. There is no image to supply an entrypoint, so a container
    with only `args` runs them as the command (as the Dask images' entrypoint does)."""
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    if not argv:
        raise ValueError(
            f'container "{container.get("name")}" has no command or args; local-k8s has no image '
            "entrypoint to fall back on, so give the command explicitly"
        )
    return [expand(str(a), env) for a in argv]
