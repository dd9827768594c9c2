"""The agent's view of the API server: plain JSON requests and list+watch informers over kr8s."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import kr8s
import kr8s.asyncio

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Kube:
    """JSON requests by path, through one kr8s API client (its session, auth and TLS)."""

    def __init__(self, api: kr8s.asyncio.Api) -> None:
        self.api = api

    @classmethod
    async def connect(cls, kubeconfig: str) -> Kube:
        return cls(await kr8s.asyncio.api(kubeconfig=kubeconfig))

    async def request(self, method: str, path: str, body: Any = None, *, params: dict | None = None,
                      content_type: str = "application/json") -> Obj:
        kwargs: dict[str, Any] = {"params": params} if params else {}
        if body is not None:
            kwargs["content"] = json.dumps(body)
            kwargs["headers"] = {"Content-Type": content_type}
        async with self.api.call_api(method, version="", base=path, raise_for_status=False, **kwargs) as r:
            if r.status_code >= 400:
                try:
                    message = r.json().get("message", r.text)
                except ValueError:
                    message = r.text
                raise ApiError(r.status_code, message)
            return r.json() if r.content else {}

    async def get(self, path: str, **params: str) -> Obj:
        return await self.request("GET", path, params=params or None)

    async def merge_patch(self, path: str, patch: Obj) -> Obj:
        return await self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    async def watch(self, path: str, **params: str) -> AsyncIterator[tuple[str, Obj]]:
        """Events for the objects at `path` forever: ADDED for each listed object, then watch
        events; after a broken or expired watch it lists again and reports the differences."""
        known: dict[str, Obj] = {}
        while True:
            try:
                listing = await self.get(path, **params)
            except (ApiError, httpx.HTTPError, OSError) as e:
                log.warning("list %s failed (%s); retrying", path, e)
                await asyncio.sleep(1)
                continue
            current = {o["metadata"]["uid"]: o for o in listing.get("items", [])}
            for uid, obj in known.items():
                if uid not in current:
                    yield "DELETED", obj
            for uid, obj in current.items():
                if known.get(uid, {}).get("metadata", {}).get("resourceVersion") != obj["metadata"]["resourceVersion"]:
                    yield ("MODIFIED" if uid in known else "ADDED"), obj
            known = current
            version = listing["metadata"]["resourceVersion"]
            try:
                async for kind, obj in self._watch_from(path, version, params):
                    if kind == "BOOKMARK":
                        continue
                    uid = obj["metadata"]["uid"]
                    if kind == "DELETED":
                        known.pop(uid, None)
                    else:
                        known[uid] = obj
                    yield kind, obj
            except _Expired:
                continue
            except (httpx.HTTPError, OSError, ApiError, kr8s.ServerError) as e:
                log.info("watch %s ended (%s); listing again", path, e)
                await asyncio.sleep(0.5)

    async def _watch_from(self, path: str, version: str, params: dict) -> AsyncIterator[tuple[str, Obj]]:
        while True:
            query = {**params, "watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true",
                     "timeoutSeconds": "300"}
            async with self.api.call_api("GET", version="", base=path, params=query, stream=True,
                                         timeout=None) as r:
                async for line in r.aiter_lines():
                    if not line:
                        continue
                    event = json.loads(line)
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        if obj.get("code") == 410:
                            raise _Expired()
                        raise ApiError(obj.get("code", 500), obj.get("message", ""))
                    version = obj["metadata"]["resourceVersion"]
                    yield event["type"], obj


class _Expired(Exception):
    """The watch's resourceVersion is too old: list again."""
