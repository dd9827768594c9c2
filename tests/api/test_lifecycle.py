"""The start/close protocol KubeCluster and HelmCluster share, against a real in-process scheduler.

It pins what lifecycle.py relies on of distributed's ``Cluster`` besides its documented contract:
``Cluster._start`` fills ``scheduler_info`` and keeps it current, ``Cluster._close`` ends that and
closes the rpc, and ``async with`` ends through our own ``_shutdown``.
"""

from __future__ import annotations

import asyncio

import pytest
from distributed import Scheduler, Worker
from distributed.core import Status, rpc

from dask_k8s_lab.lifecycle import KubernetesCluster


class InProcessCluster(KubernetesCluster):
    def __init__(self, address: str, fail: bool = False, **kwargs):
        self.address = address
        self.fail = fail
        self.starts = 0
        self.shutdowns = 0
        super().__init__(asynchronous=True, **kwargs)

    async def _start_resources(self) -> None:
        self.starts += 1
        self.scheduler_comm = rpc(self.address)
        if self.fail:
            raise RuntimeError("the scheduler cannot be reached")
        await self._connect_scheduler()

    async def _shutdown(self) -> None:
        self.shutdowns += 1
        await super()._shutdown()


async def _until(condition, timeout: float = 10) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


async def test_starts_once_follows_workers_and_closes_through_shutdown():
    async with Scheduler(dashboard_address=":0", port=0) as scheduler:
        cluster = InProcessCluster(scheduler.address)
        async with cluster:
            await asyncio.gather(cluster, cluster)  # racing starts: one start
            assert cluster.starts == 1
            assert cluster.status == Status.running
            assert cluster.scheduler_info["address"] == scheduler.address
            async with Worker(scheduler.address, dashboard_address=":0") as worker:
                await _until(lambda: worker.address in cluster.scheduler_info["workers"])
        assert cluster.shutdowns == 1
        assert cluster.status == Status.closed
        with pytest.raises(RuntimeError, match="is closed"):
            await cluster


async def test_a_failed_start_leaves_it_closed():
    async with Scheduler(dashboard_address=":0", port=0) as scheduler:
        cluster = InProcessCluster(scheduler.address, fail=True)
        with pytest.raises(RuntimeError, match="cannot be reached"):
            await cluster
        assert cluster.status == Status.closed
