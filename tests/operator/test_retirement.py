"""Retirement of workers on scale-down, against the in-memory fakes of ``test_reconcile``: it runs
beside the reconciles, is not started twice, and when the scheduler cannot retire the pods are
deleted gracefully."""

from __future__ import annotations

import asyncio

from dask_k8s_operator import kube, planning, reconcile, scheduler_api
from dask_k8s_operator.reconcile import retirement
from tests.operator.test_reconcile import World, reconcile_and_retire


def record_deletions(world: World, monkeypatch) -> list[dict]:
    """Replace the fake delete with one that also records its keyword arguments."""
    calls: list[dict] = []

    async def delete(obj, **kwargs):
        calls.append({"name": obj.name, **kwargs})
        world.deleted.append(obj.name)
        world.pods.pop(obj.name, None)
        return True

    monkeypatch.setattr(kube, "delete", delete)
    return calls


async def test_a_failed_retirement_deletes_the_pods_gracefully(monkeypatch):
    world = World(replicas=1, pods=3).install(monkeypatch)
    world.retire_error = "retire_workers: HTTP 500: '{\"Error\": \"Internal Server Error\"}'"
    calls = record_deletions(world, monkeypatch)
    await reconcile_and_retire()
    assert len(world.retire_calls) == 1
    assert len(world.pods) == 1 and len(calls) == 2
    # no grace period and no force: the API server applies terminationGracePeriodSeconds
    assert all(set(call) <= {"name", "propagation_policy"} for call in calls)
    assert ("RetireFallback", True) in world.events


async def test_a_retirement_in_progress_is_not_started_again(monkeypatch):
    world = World(replicas=1, pods=3).install(monkeypatch)
    release = asyncio.Event()
    calls: list[list[str]] = []

    async def slow_retire(url, addresses):
        calls.append(sorted(addresses))
        await release.wait()
        raise scheduler_api.SchedulerUnreachable("retire_workers: no answer within 300s")

    monkeypatch.setattr(scheduler_api, "retire_workers", slow_retire)
    waits = [await reconcile.reconcile_worker_group("ns", "simple-default") for _ in range(3)]
    await asyncio.sleep(0)  # let the background retirement reach the scheduler call
    assert len(calls) == 1 and len(calls[0]) == 2
    assert waits == [reconcile.FAST] * 3  # the group keeps being watched while it runs
    assert world.status["retiringReplicas"] == 2 and world.status["replicas"] == 1
    assert world.deleted == []

    release.set()
    await asyncio.gather(*(r.task for r in retirement.RUNNING.values()))
    assert len(world.pods) == 1 and ("RetireFallback", True) in world.events
    await reconcile_and_retire()
    assert len(calls) == 1


def test_planning_leaves_pods_of_a_running_retirement_alone():
    pods = [planning.PodSummary(name=f"w{i}", phase="Running", ready=True, ip=f"10.0.0.{i}",
                                retiring=i < 2, spec_hash="h") for i in range(3)]
    connected = {pod.name: (f"tcp://{pod.ip}:1", {}) for pod in pods}
    again = planning.plan_worker_group(1, pods, "h", connected)
    assert sorted(again.retire) == ["w0", "w1"]  # a cut-short retirement is retried
    running = planning.plan_worker_group(1, pods, "h", connected, in_flight={"w0", "w1"})
    assert running.retire == [] and running.delete == [] and running.create == 0
    assert running.retiring_replicas == 2 and running.replicas == 1


def test_a_rolling_update_waits_for_the_retired_pod_to_go_before_the_next_surge():
    def pod(name: str, spec_hash: str, retiring: bool = False) -> planning.PodSummary:
        return planning.PodSummary(name=name, phase="Running", ready=True, ip=f"10.0.0.{name}",
                                   retiring=retiring, spec_hash=spec_hash)

    def connected(pods):
        return {p.name: (f"tcp://{p.ip}:1", {}) for p in pods}

    # old 1 and 2, new 3 ready: one old pod is retired, and nothing is created beside it
    pods = [pod("1", "old"), pod("2", "old"), pod("3", "new")]
    plan = planning.plan_worker_group(2, pods, "new", connected(pods))
    assert len(plan.retire) == 1 and plan.create == 0
    # while its retirement runs, it still counts against the surge
    pods = [pod("1", "old", retiring=True), pod("2", "old"), pod("3", "new")]
    plan = planning.plan_worker_group(2, pods, "new", connected(pods), in_flight={"1"})
    assert plan.retire == [] and plan.create == 0
    # once it is gone, the next new pod is created
    pods = [pod("2", "old"), pod("3", "new")]
    plan = planning.plan_worker_group(2, pods, "new", connected(pods))
    assert plan.retire == [] and plan.create == 1
