"""The start and networking protocol that KubeCluster and HelmCluster share."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from distributed.core import Status
from distributed.deploy.cluster import Cluster

from .networking import Endpoint


class KubernetesCluster(Cluster):
    """A ``distributed`` Cluster whose scheduler lives in Kubernetes.

    It starts exactly once, however it is started: by the sync constructor, ``await cluster`` or
    ``async with``, also when several of those race. A start that fails leaves nothing behind
    (see ``_cleanup_failed_start``). Subclasses implement ``_start_resources``.
    """

    comm_endpoint: Endpoint | None = None
    dashboard_endpoint: Endpoint | None = None
    _start_lock: asyncio.Lock | None = None

    def __await__(self):
        async def _() -> Any:
            await self._start()
            return self

        return _().__await__()

    async def _start(self) -> None:
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()  # made here: it belongs to the cluster's loop
        async with self._start_lock:
            if self.status != Status.created:
                if self.status in (Status.closed, Status.failed):
                    raise RuntimeError(f"{type(self).__name__} {self.name!r} is closed")
                return
            self.status = Status.starting
            try:
                await self._start_resources()
            except BaseException:
                await self._cleanup_failed_start()
                raise

    async def _start_resources(self) -> None:
        """Find or make the cluster, connect to its scheduler and call ``_connect_scheduler``."""
        raise NotImplementedError

    async def _connect_scheduler(self) -> None:
        """distributed's own start: the scheduler rpc and the cluster's status to running."""
        await Cluster._start(self)

    async def _cleanup_failed_start(self) -> None:
        """Stop port-forwards and close the scheduler rpc; subclasses add what they created."""
        with contextlib.suppress(Exception):
            await self._stop_networking()
        if self.scheduler_comm is not None:
            with contextlib.suppress(Exception):
                await self.scheduler_comm.close_rpc()
        self.status = Status.closed

    async def _stop_networking(self) -> None:
        for endpoint in (self.comm_endpoint, self.dashboard_endpoint):
            if endpoint is not None and endpoint.forwarder is not None:
                await endpoint.forwarder.stop()
