"""dask-ctl discovery: the DaskClusters that ``KubeCluster.from_name`` can attach to."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from .auth import current_namespace, resolve_api
from .resources import DaskCluster


async def discover() -> AsyncIterator[tuple[str, type]]:
    """Yield ``(name, KubeCluster)`` for each DaskCluster in the current namespace.

    Only the current namespace is listed, because ``from_name`` resolves names there.
    """
    from .kubecluster import KubeCluster

    with contextlib.suppress(Exception):
        api = await resolve_api(None)
        async for cluster in api.async_get(DaskCluster, namespace=current_namespace(api)):
            yield cluster.name, KubeCluster
