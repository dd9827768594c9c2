"""KubeCluster follows the scheduler's workers through its public ``identity`` once distributed's
worker subscription is gone (e.g. its connection dropped with a port-forward)."""

from __future__ import annotations

from distributed import Scheduler, Worker
from distributed.core import rpc
from distributed.objects import SchedulerInfo

from dask_k8s_lab.kubecluster.monitor import MonitorMixin


class Follower(MonitorMixin):
    name = "test"

    def __init__(self, address: str):
        self.scheduler_comm = rpc(address)
        self.scheduler_info = SchedulerInfo({"workers": {}})


async def test_workers_are_resynced_after_two_polls_that_disagree():
    async with Scheduler(dashboard_address=":0", port=0) as scheduler:
        follower = Follower(scheduler.address)
        try:
            await follower._resync_workers()  # both agree: nothing to do
            assert follower.scheduler_info["workers"] == {}
            async with Worker(scheduler.address, dashboard_address=":0") as worker:
                await follower._resync_workers()  # one disagreement may be a subscription lagging
                assert follower.scheduler_info["workers"] == {}
                await follower._resync_workers()
                assert set(follower.scheduler_info["workers"]) == {worker.address}
                assert follower.scheduler_info["address"] == scheduler.address
        finally:
            await follower.scheduler_comm.close_rpc()


async def test_a_disagreement_that_clears_is_forgotten():
    async with Scheduler(dashboard_address=":0", port=0) as scheduler:
        follower = Follower(scheduler.address)
        try:
            async with Worker(scheduler.address, dashboard_address=":0") as worker:
                await follower._resync_workers()
                # the subscription catches up, as a live one does
                follower.scheduler_info["workers"][worker.address] = {}
                await follower._resync_workers()
                await follower._resync_workers()
                assert follower.scheduler_info["workers"] == {worker.address: {}}  # not replaced
        finally:
            await follower.scheduler_comm.close_rpc()
