"""A container's environment as this node gives it: what the image would set, and the values of
the ConfigMaps and Secrets its `env`/`envFrom` refer to (containerspec.build_env combines them)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .. import settings
from .kube import ApiError

ReadFn = Callable[[str, str], Awaitable[dict[str, str] | None]]  # (kind, name) -> its data


def base_env(pod_dir: Path, hostname: str, bin_dir: Path | None) -> dict[str, str]:
    """What the image would set: its environment's bin folder first on PATH."""
    home = pod_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join([str(bin_dir or settings.python_env_bin()), "/usr/local/sbin", "/usr/local/bin",
                            "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    apiserver_port = str(settings.Ports().apiserver)
    return {
        "PATH": path, "HOME": str(home), "HOSTNAME": hostname, "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        # In-cluster clients go straight to the API server rather than through the
        # `kubernetes` Service's ClusterIP: long watches then skip the user-space proxy.
        "KUBERNETES_SERVICE_HOST": settings.NODE_IP, "KUBERNETES_SERVICE_PORT": apiserver_port,
        "KUBERNETES_SERVICE_PORT_HTTPS": apiserver_port,
    }


def env_refs(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """The (kind, name) of every ConfigMap and Secret a container's environment refers to."""
    refs = set()
    for source in spec.get("envFrom") or []:
        for kind in ("configMap", "secret"):
            if source.get(f"{kind}Ref"):
                refs.add((kind, source[f"{kind}Ref"]["name"]))
    for var in spec.get("env") or []:
        for kind in ("configMap", "secret"):
            ref = (var.get("valueFrom") or {}).get(f"{kind}KeyRef")
            if ref:
                refs.add((kind, ref["name"]))
    return refs


class EnvSources:
    """The ConfigMaps and Secrets a pod's containers take env from: read before a container
    starts (`fetch`), then looked up synchronously while its environment is built (`lookup`)."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], dict[str, str] | None] = {}

    async def fetch(self, spec: dict[str, Any], read: ReadFn) -> None:
        """Read what the container's env refers to (None for one that does not exist)."""
        for kind, name in env_refs(spec):
            try:
                data = await read(kind, name)
            except ApiError as e:
                if e.code != 404:
                    raise LookupError(f'{kind} "{name}": {e}') from e
                data = None
            self.data[(kind, name)] = data

    def lookup(self, kind: str, name: str, key: str, optional: bool):
        """ConfigMap/Secret values for env, from what `fetch` read."""
        data = self.data.get((kind, name))
        if data is None:
            if optional:
                return None if key else {}
            raise LookupError(f'{kind} "{name}" not found')
        if not key:
            return data
        if key not in data:
            if optional:
                return None
            raise LookupError(f'key "{key}" not found in {kind} "{name}"')
        return data[key]
