"""Bounded Kubernetes calls and an expiry-safe list+watch, shared by the server extension's
informers and the operator's cache.

kr8s sends every request with no timeout unless its ``Api.timeout`` is set, and its own
``Api.watch`` restarts an expired (410 Gone) watch at the same resourceVersion, which the API
server refuses again at once. Here every request is bounded, a watch ends after ``watch`` seconds
(server side; the client gives up after ``watch`` + ``request`` seconds of silence, which is how
a half-open connection is noticed), and an expired watch is followed by one list. Should that
list give back the very resourceVersion that expired (an idle cluster, or a proxy that expires a
version), the next watch waits (ExpiryBackoff) rather than meet the same 410 in a tight loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import kr8s

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_REQUEST_TIMEOUT = 10.0
DEFAULT_WATCH_TIMEOUT = 60.0
PAGE_SIZE = 250  # objects per LIST page: a list of thousands of pods is never held in full at once


@dataclass(frozen=True)
class Timeouts:
    """``request``: seconds any call may take to connect, send or wait for data;
    ``watch``: seconds one watch request lasts before it is renewed."""

    request: float = DEFAULT_REQUEST_TIMEOUT
    watch: float = DEFAULT_WATCH_TIMEOUT

    def client(self) -> httpx.Timeout:
        """For ``kr8s.asyncio.Api.timeout``: every phase of every request."""
        return httpx.Timeout(self.request)

    def stream(self) -> httpx.Timeout:
        """For a watch: the server ends it after ``watch`` seconds, so a longer silence means
        the connection is gone."""
        return httpx.Timeout(self.request, read=self.watch + self.request)


class WatchExpired(Exception):
    """The API server no longer has the resourceVersion the watch started from (410 Gone);
    ``version`` is the one it was refused at."""

    def __init__(self, message: str, version: str | None = None) -> None:
        super().__init__(message)
        self.version = version


class ExpiryBackoff:
    """When to watch after the list that followed an expiry (pure; one per list+watch loop).

    A list normally returns a newer resourceVersion than the one that expired, and the watch
    starts at once. One that returns the very version that expired would be refused again at
    once: wait ``first`` s, doubling on each such repeat up to ``limit`` (the watch timeout)."""

    def __init__(self, limit: float, first: float = 1.0) -> None:
        self.limit, self.first = limit, min(first, limit)
        self.expired: str | None = None  # the version whose watch was last refused with 410
        self.delay = 0.0

    def expired_at(self, version: str | None) -> None:
        self.expired = version

    def pause(self, listed: str | None) -> float:
        """Seconds to wait before watching from ``listed``, the version a fresh list returned."""
        if self.expired is None or listed != self.expired:
            self.delay = 0.0
        else:
            self.delay = min(self.limit, self.delay * 2 if self.delay else self.first)
        self.expired = None
        return self.delay


class WatchError(Exception):
    """The API server ended a watch with an error event other than 410."""


def is_timeout(error: BaseException | None) -> bool:
    """Whether a failure (or what caused it) is a call that did not answer in time."""
    while error is not None:
        if isinstance(error, (TimeoutError, asyncio.TimeoutError, httpx.TimeoutException)):
            return True
        if type(error).__name__ == "APITimeoutError":  # kr8s's wrapper of httpx's timeouts
            return True
        error = error.__cause__ or error.__context__
    return False


def describe(error: BaseException) -> str:
    """A failure in words, even for exceptions without a message."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def bounded(awaitable: Awaitable[T], timeout: float, what: str) -> T:
    """Await with a deadline, as a TimeoutError that says what did not answer."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"{what}: no answer from the Kubernetes API within {timeout:g} s") from None


async def connect(factory: Callable[[], Awaitable[Any]], timeouts: Timeouts) -> Any:
    """A kr8s client from ``factory`` (e.g. ``kr8s.asyncio.api``) with every request bounded.
    Making the client asks the server for its version before the timeout can be set, so that
    first exchange is bounded here."""
    api = await bounded(factory(), timeouts.request, "connect")
    api.timeout = timeouts.client()
    return api


def _scope(namespace: str | None) -> str:
    return kr8s.ALL if namespace is None else namespace


async def list_objects(api: Any, kind: Any, namespace: str | None, label_selector: Any,
                       timeouts: Timeouts | None = None,
                       each: Callable[[dict], dict] | None = None) -> tuple[list[dict], str | None]:
    """A LIST (``namespace`` None: all namespaces) in pages of ``PAGE_SIZE`` (``limit`` and
    ``continue``: one consistent snapshot), each item passed through ``each`` as its page arrives,
    so only one page is ever held in full. Returns the items and the list's resourceVersion (to
    watch from). ``timeouts`` None: the client's own."""
    bound = {"timeout": timeouts.client()} if timeouts else {}
    items: list[dict] = []
    token = None
    while True:
        params = {"limit": str(PAGE_SIZE), **({"continue": token} if token else {})}
        async with api.async_get_kind(kind, namespace=_scope(namespace), label_selector=label_selector,
                                      params=params, **bound) as (_, response):
            page = response.json()
        items.extend(each(item) if each else item for item in page.get("items") or [])
        meta = page.get("metadata") or {}
        token = meta.get("continue")
        if not token:
            return items, meta.get("resourceVersion")


async def watch(api: Any, kind: Any, namespace: str | None, label_selector: str | None, since: str,
                on_event: Callable[[str, dict], None], timeouts: Timeouts) -> str:
    """Follow one watch request from ``since`` until the server ends it; returns the
    resourceVersion to continue from. Raises WatchExpired on 410 Gone (list again, do not retry
    the same version) and WatchError on any other error event."""
    params = {
        "resourceVersion": since,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(max(1, int(timeouts.watch))),
    }
    async with api.async_get_kind(kind, namespace=_scope(namespace), label_selector=label_selector, params=params,
                                  watch=True, timeout=timeouts.stream()) as (_, response):
        async for line in response.aiter_lines():
            if not line.strip():
                continue
            event = json.loads(line)
            event_type, obj = event.get("type"), event.get("object") or {}
            if event_type == "ERROR":
                if obj.get("code") == 410:
                    raise WatchExpired(obj.get("message") or "resourceVersion too old", since)
                raise WatchError(obj.get("message") or json.dumps(obj))
            since = (obj.get("metadata") or {}).get("resourceVersion") or since
            if event_type in ("ADDED", "MODIFIED", "DELETED"):
                on_event(event_type, obj)
    return since


async def follow(api: Any, kind: Any, namespace: str | None, label_selector: str | None,
                 on_list: Callable[[list[dict]], None], on_event: Callable[[str, dict], None],
                 timeouts: Timeouts) -> None:
    """List, then watch from the list's version, renewing the watch as the server ends it, and
    list again after an expired watch (once; see ExpiryBackoff). Never returns: any error other
    than an expiry is for the caller to report and back off from before calling again."""
    backoff = ExpiryBackoff(limit=timeouts.watch)
    while True:
        objects, version = await list_objects(api, kind, namespace, label_selector, timeouts)
        on_list(objects)
        pause = backoff.pause(version)
        if pause:
            log.info("watch of %s: the list is still at the expired version %s; watching in %g s",
                     kind, version, pause)
            await asyncio.sleep(pause)
        try:
            while True:
                version = await watch(api, kind, namespace, label_selector, version or "0", on_event, timeouts)
        except WatchExpired as e:
            log.info("watch of %s expired at %s (%s); listing again", kind, e.version, e)
            backoff.expired_at(e.version)
