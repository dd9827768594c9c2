"""Talking to a Dask scheduler through its HTTP JSON API (``/api/v1/...`` on the dashboard port).

A tenant chooses the scheduler's image and command, so whatever the scheduler sends is untrusted
data. Distributed's comm protocol unpickles what the peer sends (even with ``deserialize=False``),
so the operator never speaks it: it only makes plain HTTP requests and parses the bodies with
``json``, checking their shape. A scheduler that answers anything else is "unreachable", with a
reason that names what was wrong.

The API route is off by default in distributed; the operator enables it on the schedulers it
creates (see ``builders.SCHEDULER_HTTP_ROUTES``). The operator reaches the scheduler through the
Service's ClusterIP (or, for a headless Service, the scheduler pod's IP), which works both in a pod
and from a machine that routes the cluster's Service network.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import weakref
from collections.abc import Mapping
from typing import Any

import httpx

from dask_k8s_common.contract import DASHBOARD_PORT, DASHBOARD_PORT_NAME

from .builders import scheduler_dashboard_port

CALL_TIMEOUT = 10.0
#: seconds a list of workers may be shared: a group's reconciles come in bursts (a new pod goes
#: through its phases in a second or two) and each asked its scheduler, which cost as much of the
#: operator's loop as an API request (an eighth of it while 100 clusters scaled). Only a reconcile
#: that removes nothing takes a shared answer (see ``workers``).
SHARED_FOR = 1.0
_answers: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}  # base -> (monotonic, workers)
# the scheduler answers retire_workers only once the workers' data has moved
RETIRE_TIMEOUT = 300.0
MAX_BODY_BYTES = 4 * 1024 * 1024  # a scheduler cannot make the operator read more than this
API_ROUTE = "distributed.http.scheduler.api"


class SchedulerUnreachable(Exception):
    """The scheduler could not be reached, or did not answer with the expected JSON.

    ``str(exc)`` says why, in words fit for a Kubernetes Event. ``answered`` tells a scheduler
    that answered something else (an error, not JSON, the wrong shape) from one that could not
    be reached at all (for a moment while it starts, say).
    """

    def __init__(self, message: str, answered: bool = True) -> None:
        super().__init__(message)
        self.answered = answered


def api_url(service: Mapping[str, Any] | None, scheduler_pod_ip: str | None) -> str | None:
    """``http://host:port`` of the scheduler's HTTP server, or None if there is none yet."""
    spec = (service or {}).get("spec") or {}
    cluster_ip = spec.get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        return f"http://{_host(cluster_ip)}:{scheduler_dashboard_port(spec)}"
    if scheduler_pod_ip:
        # a headless Service forwards nothing: use the container port the Service points at
        target = next((p.get("targetPort") for p in spec.get("ports") or []
                       if p.get("name") == DASHBOARD_PORT_NAME), None)
        port = target if isinstance(target, int) else DASHBOARD_PORT
        return f"http://{_host(scheduler_pod_ip)}:{port}"
    return None


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


# One client per event loop, kept: making one costs ~40 ms of CPU (its SSL context), and the
# operator asks its schedulers several times a second while clusters start.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def _client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        # trust_env=False: no proxy or .netrc from the environment; redirects are not followed
        client = _clients[loop] = httpx.AsyncClient(trust_env=False)
    return client


async def _request(base: str, method: str, path: str, timeout: float,
                   body: Mapping[str, Any] | None = None) -> Any:
    """One request; the JSON value of a 200 answer, else SchedulerUnreachable."""
    url = f"{base}/api/v1/{path}"
    try:
        async with _client().stream(method, url, json=body, timeout=timeout) as response:
            raw = bytearray()
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) > MAX_BODY_BYTES:
                    raise SchedulerUnreachable(
                        f"{path}: answer larger than {MAX_BODY_BYTES} bytes")
    except httpx.TimeoutException as exc:
        raise SchedulerUnreachable(f"{path}: no answer within {timeout:.0f}s "
                                   f"({type(exc).__name__})", answered=False) from exc
    except httpx.TransportError as exc:
        raise SchedulerUnreachable(f"{path}: {type(exc).__name__}: {exc}",
                                   answered=False) from exc
    except httpx.HTTPError as exc:
        raise SchedulerUnreachable(f"{path}: {type(exc).__name__}: {exc}") from exc
    if response.status_code == 404:
        raise SchedulerUnreachable(
            f"{path}: HTTP 404, the scheduler's HTTP API is not enabled "
            f"(add {API_ROUTE} to distributed.scheduler.http.routes)")
    if response.status_code != 200:
        raise SchedulerUnreachable(f"{path}: HTTP {response.status_code}: {_excerpt(raw)}")
    try:
        return json.loads(bytes(raw))
    except (ValueError, RecursionError) as exc:
        raise SchedulerUnreachable(f"{path}: the answer is not JSON: {_excerpt(raw)}") from exc


def _excerpt(raw: bytes | bytearray, limit: int = 80) -> str:
    """A printable start of an answer, for the Event (never interpreted)."""
    text = bytes(raw[:limit]).decode("ascii", errors="replace")
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return repr(text + ("..." if len(raw) > limit else ""))


def _unexpected(path: str, what: str) -> SchedulerUnreachable:
    return SchedulerUnreachable(f"{path}: unexpected JSON, {what}")


async def workers(base: str, max_age: float = 0.0) -> dict[str, dict[str, Any]]:
    """The scheduler's workers: {worker address: {"name": name}} (read it, never change it).

    ``max_age`` > 0: an answer got that many seconds ago or less will do (never before removing
    workers: a worker that connected meanwhile must not be deleted as if it held no data)."""
    now = time.monotonic()
    shared = _answers.get(base)
    if max_age > 0 and shared is not None and now - shared[0] <= max_age:
        return shared[1]
    found = await _workers(base)
    if len(_answers) > 4096:  # (schedulers come and go: keep only the recent)
        for key in [k for k, (at, _) in _answers.items() if now - at > SHARED_FOR]:
            del _answers[key]
    _answers[base] = (time.monotonic(), found)
    return found


async def _workers(base: str) -> dict[str, dict[str, Any]]:
    value = await _request(base, "GET", "get_workers", CALL_TIMEOUT)
    listed = value.get("workers") if isinstance(value, dict) else None
    if not isinstance(listed, list):
        raise _unexpected("get_workers", "no list of workers")
    found: dict[str, dict[str, Any]] = {}
    for item in listed:
        address = item.get("address") if isinstance(item, dict) else None
        if not isinstance(address, str):
            raise _unexpected("get_workers", "a worker without an address")
        name = item.get("name")
        found[address] = {"name": name if isinstance(name, (str, int)) else None}
    return found


async def retire_workers(base: str, worker_addresses: list[str]) -> list[str]:
    """Retire exactly these workers: their data moves to other workers first.

    Returns the addresses the scheduler retired (a worker holding the only copy of some data that
    nobody can take is left alone). The scheduler drops them but does not stop their processes:
    the caller deletes their pods.
    """
    value = await _request(base, "POST", "retire_workers", RETIRE_TIMEOUT,
                           {"workers": list(worker_addresses)})
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _unexpected("retire_workers", "not a map of worker addresses")
    return list(value)


async def adaptive_target(base: str) -> int:
    value = await _request(base, "GET", "adaptive_target", CALL_TIMEOUT)
    target = value.get("workers") if isinstance(value, dict) else None
    if not isinstance(target, int) or isinstance(target, bool) or target < 0:
        raise _unexpected("adaptive_target", "no worker count")
    return target


async def idle_since(base: str) -> float | None:
    """When the scheduler became idle (wall-clock seconds), or None while it has work."""
    value = await _request(base, "GET", "check_idle", CALL_TIMEOUT)
    if not isinstance(value, dict) or "idle_since" not in value:
        raise _unexpected("check_idle", "no idle_since")
    since = value["idle_since"]
    if since is None:
        return None
    if isinstance(since, bool) or not isinstance(since, (int, float)) or not math.isfinite(since):
        raise _unexpected("check_idle", "idle_since is not a time")
    return float(since)
