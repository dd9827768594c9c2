"""``KubeCluster``, the operator-backed Dask cluster; see :mod:`.cluster` for how it is made up."""

from __future__ import annotations

import atexit

from .cluster import KubeCluster, reap_clusters
from .errors import (
    SchedulerStartupError,
    operator_missing_message,
    scheduler_failed_message,
)
from .scaling import DEFAULT_ADAPT_MAXIMUM

__all__ = [
    "DEFAULT_ADAPT_MAXIMUM",
    "KubeCluster",
    "SchedulerStartupError",
    "operator_missing_message",
    "scheduler_failed_message",
]

atexit.register(reap_clusters)
