"""When a reconciler wants to look again (its return value), and how fast workers are made."""

from __future__ import annotations

import os

GONE = -1.0  # the object no longer exists: stop reconciling it
RESYNC = float(os.environ.get("DASK_K8S_OPERATOR_RESYNC_SECONDS", "10"))  # all is well
FAST = 1.0  # something is under way
CREATE_CONCURRENCY = 16  # worker pods created at once


def batch_size() -> int | None:
    """At most this many worker pods per reconcile (DASK_K8S_OPERATOR_WORKER_BATCH_SIZE)."""
    value = os.environ.get("DASK_K8S_OPERATOR_WORKER_BATCH_SIZE")
    return int(value) if value else None


def batch_delay() -> float:
    """Seconds between two batches (DASK_K8S_OPERATOR_WORKER_BATCH_DELAY)."""
    return float(os.environ.get("DASK_K8S_OPERATOR_WORKER_BATCH_DELAY") or FAST)


def waiting_delay(previous: float | None) -> float:
    """The next wait of an object that only waits for something outside the operator (workers
    that do not connect): FAST at first, then doubling up to RESYNC; ``previous`` None: it has
    just started waiting (anything changed resets it)."""
    return FAST if previous is None else min(max(previous, FAST) * 2, RESYNC)
