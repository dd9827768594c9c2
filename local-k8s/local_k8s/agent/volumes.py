"""Pod volumes as folders: emptyDir, configMap, secret, downwardAPI, projected (with
service-account tokens from the TokenRequest API) and hostPath."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

from .containerspec import field_value
from .kube import ApiError, Kube

log = logging.getLogger(__name__)


class VolumeError(Exception):
    """A volume could not be set up (reported as a FailedMount event)."""


def _write(folder: Path, files: dict[str, bytes], mode: int | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode if mode is not None else 0o644)


def _select(data: dict[str, bytes], items: list[dict] | None) -> dict[str, bytes]:
    if not items:
        return data
    return {item["path"]: data[item["key"]] for item in items if item["key"] in data}


class Volumes:
    def __init__(self, kube: Kube, pod: dict[str, Any], root: Path) -> None:
        self.kube = kube
        self.pod = pod
        self.root = root
        self.namespace = pod["metadata"]["namespace"]
        self.paths: dict[str, Path] = {}

    async def setup(self) -> None:
        for volume in self.pod["spec"].get("volumes") or []:
            self.paths[volume["name"]] = await self._one(volume)

    async def _one(self, volume: dict[str, Any]) -> Path:
        name = volume["name"]
        folder = self.root / name
        if "hostPath" in volume:
            return Path(volume["hostPath"]["path"])
        if "configMap" in volume or "secret" in volume:
            kind = "configMap" if "configMap" in volume else "secret"
            src = volume[kind]
            ref = src.get("name") or src.get("secretName")
            data = await self._data(kind, ref, src.get("optional", False))
            _write(folder, _select(data, src.get("items")), src.get("defaultMode"))
        elif "downwardAPI" in volume:
            _write(folder, self._downward(volume["downwardAPI"]["items"]), volume["downwardAPI"].get("defaultMode"))
        elif "projected" in volume:
            files: dict[str, bytes] = {}
            for source in volume["projected"].get("sources") or []:
                files.update(await self._projected(source))
            _write(folder, files, volume["projected"].get("defaultMode"))
        else:
            # emptyDir, and anything else we cannot provide, becomes an empty folder.
            if "emptyDir" not in volume:
                log.warning("volume %s: type not supported by local-k8s; using an empty folder", name)
            folder.mkdir(parents=True, exist_ok=True)
        return folder

    async def _data(self, kind: str, name: str, optional: bool) -> dict[str, bytes]:
        plural = "configmaps" if kind == "configMap" else "secrets"
        try:
            obj = await self.kube.get(f"/api/v1/namespaces/{self.namespace}/{plural}/{name}")
        except ApiError as e:
            if e.code == 404 and optional:
                return {}
            raise VolumeError(f'{kind} "{name}" not found') from e
        if kind == "secret":
            return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return data

    async def read(self, kind: str, name: str) -> dict[str, str]:
        """A ConfigMap's or Secret's values as text, for environment variables."""
        plural = "configmaps" if kind == "configMap" else "secrets"
        obj = await self.kube.get(f"/api/v1/namespaces/{self.namespace}/{plural}/{name}")
        data = obj.get("data") or {}
        if kind == "secret":
            return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
        return dict(data)

    def _downward(self, items: list[dict]) -> dict[str, bytes]:
        return {item["path"]: field_value(self.pod, item["fieldRef"]["fieldPath"]).encode()
                for item in items if "fieldRef" in item}

    async def _projected(self, source: dict[str, Any]) -> dict[str, bytes]:
        if "serviceAccountToken" in source:
            sat = source["serviceAccountToken"]
            return {sat["path"]: (await self.token(sat.get("audience"), sat.get("expirationSeconds", 3607))).encode()}
        for kind in ("configMap", "secret"):
            if kind in source:
                src = source[kind]
                return _select(await self._data(kind, src["name"], src.get("optional", False)), src.get("items"))
        if "downwardAPI" in source:
            return self._downward(source["downwardAPI"]["items"])
        return {}

    async def token(self, audience: str | None, seconds: int) -> str:
        """A token for the pod's ServiceAccount, bound to the pod, as the kubelet would get."""
        meta = self.pod["metadata"]
        sa = self.pod["spec"].get("serviceAccountName") or "default"
        spec: dict[str, Any] = {"expirationSeconds": seconds,
                                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}}
        if audience:
            spec["audiences"] = [audience]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        try:
            result = await self.kube.request(
                "POST", f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{sa}/token", body)
        except ApiError as e:
            raise VolumeError(f'token for service account "{sa}": {e}') from e
        return result["status"]["token"]

    def mounts(self, container: dict[str, Any]) -> list[dict[str, Any]]:
        """Bind mounts for the launcher: volume folder (or subPath) onto mountPath."""
        result = []
        for mount in container.get("volumeMounts") or []:
            source = self.paths.get(mount["name"])
            if source is None:
                raise VolumeError(f'container "{container["name"]}" mounts unknown volume "{mount["name"]}"')
            if mount.get("subPath"):
                source = source / mount["subPath"]
                if not source.exists():
                    source.mkdir(parents=True)
            result.append({"source": str(source), "target": mount["mountPath"],
                           "read_only": bool(mount.get("readOnly"))})
        return result
