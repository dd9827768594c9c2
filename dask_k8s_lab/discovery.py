"""dask-ctl discovery: the DaskClusters that ``KubeCluster.from_name`` can attach to."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from .auth import current_namespace, resolve_api
from dask_k8s_common.resources import DaskCluster


async def discover(namespace: str | None = None) -> AsyncIterator[tuple[str, type]]:
    """Yield ``(name, KubeCluster)`` for each DaskCluster in ``namespace`` (default: the current
    one, which is where ``from_name`` resolves names)."""
    from .kubecluster import KubeCluster

    with contextlib.suppress(Exception):
        api = await resolve_api(None)
        async for cluster in api.async_get(DaskCluster, namespace=namespace or current_namespace(api)):
            yield cluster.name, KubeCluster
