"""Talking to a Dask scheduler over its comm port (distributed's ``rpc``).

The operator reaches the scheduler through the Service's ClusterIP (or, for a headless Service,
the scheduler pod's IP), which works both when the operator runs as a pod and when it runs from
a kubeconfig on a machine that routes the cluster's Service network.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from distributed.core import rpc

from .builders import scheduler_comm_port

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0
CALL_TIMEOUT = 10.0
RETIRE_TIMEOUT = 300.0


class SchedulerUnreachable(Exception):
    """The scheduler could not be reached or did not answer in time."""


def comm_address(service: Mapping[str, Any] | None, scheduler_pod_ip: str | None) -> str | None:
    """The address the operator uses for the scheduler, or None if there is none yet."""
    port = scheduler_comm_port((service or {}).get("spec"))
    cluster_ip = ((service or {}).get("spec") or {}).get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        return f"tcp://{cluster_ip}:{port}"
    if scheduler_pod_ip:
        return f"tcp://{scheduler_pod_ip}:{port}"
    return None


async def _call(address: str, method: str, timeout: float, **kwargs: Any) -> Any:
    try:
        async with rpc(address, timeout=CONNECT_TIMEOUT) as scheduler:
            return await asyncio.wait_for(getattr(scheduler, method)(**kwargs), timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # OSError, CommClosedError, TimeoutError, version skew...
        raise SchedulerUnreachable(f"{method} on {address}: {type(exc).__name__}: {exc}") from exc


async def workers(address: str) -> dict[str, dict[str, Any]]:
    """The scheduler's workers: {worker address: identity}."""
    identity = await _call(address, "identity", CALL_TIMEOUT)
    return dict(identity.get("workers") or {})


async def retire_workers(address: str, worker_addresses: list[str]) -> dict[str, Any]:
    """Retire exactly these workers: their data moves to other workers, then they close.

    Returns the workers the scheduler actually retired (a worker holding the only copy of some
    data that nobody can take is left alone by the scheduler).
    """
    return await _call(
        address,
        "retire_workers",
        RETIRE_TIMEOUT,
        workers=list(worker_addresses),
        close_workers=True,
        remove=True,
    )


async def adaptive_target(address: str) -> int:
    return int(await _call(address, "adaptive_target", CALL_TIMEOUT))


async def idle_since(address: str) -> float | None:
    """When the scheduler became idle (wall-clock seconds), or None while it has work."""
    value = await _call(address, "check_idle", CALL_TIMEOUT)
    return None if value is None else float(value)
