"""When the worker-group reconciler looks again: a group whose workers never connect backs off."""

from __future__ import annotations

from itertools import pairwise

from dask_k8s_operator import reconcile
from dask_k8s_operator.reconcile import pacing, workergroups
from tests.operator.test_reconcile import World


def test_waiting_delay_doubles_from_fast_up_to_resync():
    waits = [pacing.waiting_delay(None)]
    for _ in range(10):
        waits.append(pacing.waiting_delay(waits[-1]))
    assert waits[0] == pacing.FAST
    assert all(b == min(a * 2, pacing.RESYNC) for a, b in pairwise(waits))
    assert waits[-1] == pacing.RESYNC


async def test_a_group_whose_workers_never_connect_backs_off_until_something_changes(monkeypatch):
    monkeypatch.setattr(workergroups, "WAITING", {})
    world = World(replicas=2, pods=0).install(monkeypatch)
    world.add_worker(connected=False)
    world.add_worker(connected=False)
    waits = [await reconcile.reconcile_worker_group("ns", "simple-default") for _ in range(3)]
    assert waits == [pacing.FAST, 2 * pacing.FAST, 4 * pacing.FAST]
    assert world.status["readyReplicas"] == 0

    world.add_worker(connected=True)  # something changed: look again soon
    world.group["spec"]["worker"]["replicas"] = 3
    assert await reconcile.reconcile_worker_group("ns", "simple-default") == pacing.FAST

    for worker in world.workers.values():  # all connected: nothing to wait for
        worker["metrics"]["managed_bytes"] = 0
    world.workers.update({f"tcp://{p['status']['podIP']}:4000": {"metrics": {}} for p in world.pods.values()})
    assert await reconcile.reconcile_worker_group("ns", "simple-default") == pacing.RESYNC
    assert workergroups.WAITING == {}
