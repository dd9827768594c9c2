"""The start, close and networking protocol that KubeCluster and HelmCluster share.

This is also the one module that relies on distributed's ``Cluster`` beyond its documented
contract (a ``scheduler_comm`` and ``scale``): distributed has no public way for a subclass to run
its event loop, to start the subscription that keeps ``scheduler_info`` current, or to end it, so
``_run_loop``, ``_connect_scheduler`` and ``_disconnect_scheduler`` call ``Cluster``'s own, as
distributed's ``SpecCluster`` does. No private method of ``Cluster`` is overridden here: start and
close have names of their own. Upstream: dask/distributed#7940 (a base class that manages the
loop and start/stop for cluster managers).
"""

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
    (see ``_cleanup_failed_start``). Subclasses implement ``_start_resources`` and may extend
    ``_shutdown``.
    """

    comm_endpoint: Endpoint | None = None
    dashboard_endpoint: Endpoint | None = None
    _start_lock: asyncio.Lock | None = None

    def __await__(self):
        async def _() -> Any:
            await self._start_once()
            return self

        return _().__await__()

    async def __aexit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        await self._shutdown()

    def _start_sync(self) -> None:
        """Start from the sync constructor: run the cluster's loop, then start on it."""
        self._loop_runner.start()
        self.sync(self._start_once)

    async def _start_once(self) -> None:
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
        """distributed's own start: the worker subscription and the cluster's status to running."""
        await Cluster._start(self)

    async def _disconnect_scheduler(self) -> None:
        """distributed's own close: the subscription, the rpc, the cluster's status to closed."""
        await Cluster._close(self)

    async def _shutdown(self) -> None:
        """Disconnect and stop port-forwards; what runs in Kubernetes keeps running."""
        if self.status == Status.closed:
            return
        await self._disconnect_scheduler()
        await self._stop_networking()

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
