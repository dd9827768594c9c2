"""Thin kr8s helpers used by the reconcilers (every Kubernetes call goes through kr8s)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any, Generic, TypeVar

import kr8s.asyncio
from kr8s import ServerError
from kr8s.asyncio.objects import APIObject, Pod

from dask_k8s_common import watching

from . import store
from .counters import BY_KIND, BY_NAMESPACE, REQUESTS, count  # noqa: F401  (read by handlers)

T = TypeVar("T", bound=APIObject)


class Obj(Generic[T]):
    """An object as the reconcilers hold it: its body as a plain dict (``raw``), and the kind,
    endpoint and API version of its kr8s class (``cls``); the same attributes a kr8s object has.

    Not a kr8s object: those keep their body as a python-box ``Box``, and building, copying and
    serialising those for every object read, pod created and status patched was a third of the
    operator's CPU with 40 clusters scaling at once. Requests go through ``Api.call_api``."""

    __slots__ = ("cls", "raw")

    def __init__(self, cls: type[T], raw: dict[str, Any]) -> None:
        self.cls, self.raw = cls, raw

    kind = property(lambda self: self.cls.kind)
    endpoint = property(lambda self: self.cls.endpoint)
    version = property(lambda self: self.cls.version)
    name = property(lambda self: self.raw["metadata"]["name"])
    namespace = property(lambda self: self.raw["metadata"].get("namespace"))

    def __repr__(self) -> str:
        return f"<{self.kind} {self.namespace}/{self.name}>"


_apis: dict[int, kr8s.asyncio.Api] = {}
#: requests of the reconcilers in flight at once. kr8s's client holds at most 100 connections and
#: a request that waits for one longer than its timeout fails (httpx.PoolTimeout): 100 clusters
#: created at once would ask for thousands. Bounded here, they queue instead, and the store's
#: lists and watches (not bounded) always find a connection. 20 is also as many idle
#: connections as httpx keeps open: with more in flight, the surplus was closed after each burst
#: and opened again with a TLS handshake (5% of the operator's CPU at 40 clusters).
MAX_IN_FLIGHT = int(os.environ.get("DASK_K8S_OPERATOR_MAX_IN_FLIGHT", "20"))
#: ... of which this many are kept for status writes and events, and they use no others: those
#: can wait (status writes join others meanwhile), and while 100 clusters scaled they took most
#: slots from the patches and creates someone waits on
BACKGROUND_IN_FLIGHT = max(1, MAX_IN_FLIGHT // 4)
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary())


@contextlib.asynccontextmanager
async def slot(background: bool = False) -> AsyncIterator[None]:
    """Hold one of the request slots (per event loop): of the ``BACKGROUND_IN_FLIGHT`` ones for
    a status write or an event (``background``), else of the others."""
    loop = asyncio.get_running_loop()
    if loop not in _slots:
        _slots[loop] = {True: asyncio.Semaphore(BACKGROUND_IN_FLIGHT),
                        False: asyncio.Semaphore(max(1, MAX_IN_FLIGHT - BACKGROUND_IN_FLIGHT))}
    async with _slots[loop][background]:
        yield


def timeouts() -> watching.Timeouts:
    """Bounds on every Kubernetes call and watch (``--request-timeout``/``--watch-timeout``, or
    DASK_K8S_OPERATOR_REQUEST_TIMEOUT/DASK_K8S_OPERATOR_WATCH_TIMEOUT, in seconds)."""
    return watching.Timeouts(
        request=float(os.environ.get("DASK_K8S_OPERATOR_REQUEST_TIMEOUT") or watching.DEFAULT_REQUEST_TIMEOUT),
        watch=float(os.environ.get("DASK_K8S_OPERATOR_WATCH_TIMEOUT") or watching.DEFAULT_WATCH_TIMEOUT),
    )


async def api() -> kr8s.asyncio.Api:
    """One kr8s client per event loop (``kr8s.asyncio.api()`` checks /version on every call),
    every request bounded by ``timeouts()``."""
    loop = id(asyncio.get_running_loop())
    if loop not in _apis:
        _apis[loop] = await watching.connect(kr8s.asyncio.api, timeouts())
    return _apis[loop]


def status_code(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def api_error_message(exc: BaseException) -> str:
    """The API server's own message (it names the field for validation errors)."""
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            message = response.json().get("message")
            if message:
                return message
        except Exception:
            pass
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def is_rejection(exc: BaseException) -> bool:
    """The API server refused the object itself (4xx other than conflict/throttling): retrying
    the same request will not help. Timeouts, connection errors and 5xx are transient."""
    code = status_code(exc)
    return code is not None and 400 <= code < 500 and code not in (408, 409, 429)


async def fetch(cls: type[T], name: str, namespace: str, cached: bool = True) -> Obj[T] | None:
    """One object, or None if it does not exist.

    From the watch-fed store when it has the object (``cached``), else a single GET.
    """
    if cached and store.fresh(cls.endpoint, namespace):
        body = store.get(cls.endpoint, namespace, name)
        if body is not None:
            return Obj(cls, body)
    count("get", cls.endpoint, namespace)
    try:
        return Obj(cls, await _call("GET", cls.version, f"{cls.endpoint}/{name}", namespace))
    except ServerError as exc:
        if status_code(exc) == 404:
            return None
        raise


async def fetch_live(cls: type[T], name: str, namespace: str) -> Obj[T] | None:
    """``fetch``, but None also for an object being deleted (nothing more to reconcile)."""
    obj = await fetch(cls, name, namespace)
    return None if obj is None or obj.raw["metadata"].get("deletionTimestamp") else obj


def ref(cls: type[T], name: str, namespace: str) -> Obj[T]:
    """An existing object known only by name (for patch/delete)."""
    return Obj(cls, {"metadata": {"name": name, "namespace": namespace}})


async def _call(method: str, version: str, url: str, namespace: str | None,
                background: bool = False, **kwargs: Any) -> dict[str, Any]:
    """One request through kr8s's ``Api.call_api`` with a plain JSON body and answer (see
    ``Obj``); ``background``: see ``slot``."""
    client = await api()
    async with slot(background), client.call_api(method, version=version, url=url,
                                                 namespace=namespace, **kwargs) as response:
        return response.json()


async def post(cls: type[APIObject], manifest: Mapping[str, Any], background: bool = False
               ) -> dict[str, Any]:
    """Create ``manifest``; the created object as the API server returns it."""
    namespace = manifest["metadata"].get("namespace")
    count("create", cls.endpoint, namespace)
    body = {"apiVersion": cls.version, "kind": cls.kind, **manifest}
    return await _call("POST", cls.version, cls.endpoint, namespace, background=background,
                       content=json.dumps(body))


async def create_raw(cls: type[APIObject], manifest: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create ``manifest``; if it already exists the existing object. -> (body, created)."""
    try:
        return await post(cls, manifest), True
    except ServerError as exc:
        if status_code(exc) != 409:
            raise
    existing = await fetch(cls, manifest["metadata"]["name"], manifest["metadata"]["namespace"])
    if existing is None:  # deleted in between; the next reconcile creates it again
        raise RuntimeError(f"{cls.kind} {manifest['metadata']['name']} vanished while creating")
    return existing.raw, False


async def create(cls: type[T], manifest: Mapping[str, Any]) -> tuple[Obj[T], bool]:
    """``create_raw``, as an ``Obj``. -> (obj, created)."""
    body, created = await create_raw(cls, manifest)
    return Obj(cls, body), created


async def delete(obj: Obj, propagation_policy: str = "Background") -> bool:
    """Delete ``obj``; False if it was gone already."""
    count("delete", obj.endpoint, obj.namespace)
    try:
        await _call("DELETE", obj.version, f"{obj.endpoint}/{obj.name}", obj.namespace,
                    content=json.dumps({"propagationPolicy": propagation_policy}))
        return True
    except ServerError as exc:
        if status_code(exc) == 404:
            return False
        raise


async def list_raw(kind: str | type[APIObject], namespace: str, selector: Mapping[str, str]
                   ) -> list[dict[str, Any]]:
    """The objects matching ``selector``, listed in pages; of pods only what the store keeps
    (``store.slim_pod``), so a list of thousands of pods is never held in full."""
    client = await api()
    plural = kind if isinstance(kind, str) else kind.endpoint
    count("list", plural, namespace)
    selector_text = ",".join(f"{k}={v}" for k, v in selector.items()) or None
    async with slot():
        items, _ = await watching.list_objects(client, kind, namespace, selector_text, timeouts(),
                                        store.slimmer(plural))
    return items


async def list_pods(namespace: str, selector: Mapping[str, str], live: bool = False
                    ) -> list[dict[str, Any]]:
    """The pods matching ``selector`` (slim: ``store.slim_pod``; read them, never change them):
    from the store while its label-selected watch is up, else (or ``live``: before removing
    pods, where a stale count would remove too many) a LIST."""
    if not live and store.fresh("pods", namespace):
        return store.select("pods", namespace, selector)
    return await list_raw(Pod, namespace, selector)


async def patch(obj: Obj, patch: Any, subresource: str | None = None,
                type: str | None = None, background: bool = False) -> dict[str, Any]:
    """A merge patch of ``obj`` (``type="json"``: a JSON patch), as ``APIObject.patch`` sends it;
    the object as the API server returns it (``obj.raw`` is left as it was, see ``_call``)."""
    count("patch", obj.endpoint + (f"/{subresource}" if subresource else ""), obj.namespace)
    content_type = "application/json-patch+json" if type == "json" else "application/merge-patch+json"
    url = f"{obj.endpoint}/{obj.name}" + (f"/{subresource}" if subresource else "")
    return await _call("PATCH", obj.version, url, obj.namespace, background=background,
                       content=json.dumps(patch), headers={"Content-Type": content_type})


async def patch_status(obj: Obj, status: Mapping[str, Any]) -> None:
    answer = await patch(obj, {"status": dict(status)}, subresource="status", background=True)
    store.update_status(obj.endpoint, obj.namespace, obj.name, status)
    remember(obj.endpoint, answer)


def remember(plural: str, answer: Any) -> None:
    """Refresh the store with an object the API server returned from a write: its
    resourceVersion is then current, so the next write's precondition holds without reading it
    again (``store.refresh``: an older body never replaces a newer one, nor revives one gone)."""
    if isinstance(answer, dict) and (answer.get("metadata") or {}).get("resourceVersion"):
        store.refresh(plural, answer)


def status_changed(current: Mapping[str, Any] | None, update: Mapping[str, Any]) -> bool:
    current = current or {}
    return any(current.get(key) != value for key, value in update.items())
