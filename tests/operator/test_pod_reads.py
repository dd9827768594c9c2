"""Worker pods are counted from the store while its watch is up, but listed from the API server
before any is removed (a store that has not yet seen a deletion must not make the operator remove
too many)."""

from __future__ import annotations

import copy

import pytest

from dask_k8s_operator import kube, reconcile, store
from tests.operator.test_reconcile import World


@pytest.fixture(autouse=True)
def empty_store():
    store.clear()
    yield
    store.clear()


def pod(name: str, group: str, version: str = "1") -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": version, "labels": {
        "dask.org/cluster-name": "c", "dask.org/component": "worker", "dask.org/workergroup-name": group}}}


async def test_pods_come_from_the_store_while_its_watch_is_up(monkeypatch):
    listed = []

    async def list_raw(kind, namespace, selector):
        listed.append(dict(selector))
        return []

    monkeypatch.setattr(kube, "list_raw", list_raw)
    store.put("pods", pod("a-1", "a"))
    store.put("pods", pod("b-1", "b"))
    selector = {"dask.org/cluster-name": "c", "dask.org/workergroup-name": "a"}
    assert await kube.list_pods("ns", selector) == [] and len(listed) == 1  # watch down: a LIST

    store._synced.add(("pods", None))
    found = await kube.list_pods("ns", selector)
    assert [p["metadata"]["name"] for p in found] == ["a-1"] and len(listed) == 1
    assert await kube.list_pods("ns", selector, live=True) == [] and len(listed) == 2


async def test_a_stale_pod_count_does_not_remove_workers(monkeypatch):
    world = World(replicas=2, pods=2).install(monkeypatch)
    gone = copy.deepcopy(world.pods)
    world.add_worker(connected=True)
    stale = copy.deepcopy(list(world.pods.values()))  # what the store holds: one more pod
    world.pods = gone  # ... than there is
    calls = []

    async def list_pods(namespace, selector, live=False):
        calls.append(live)
        return copy.deepcopy(list(world.pods.values()) if live else stale)

    monkeypatch.setattr(kube, "list_pods", list_pods)
    await reconcile.reconcile_worker_group("ns", "simple-default")
    assert calls == [False, True]
    assert world.deleted == [] and world.retire_calls == [] and len(world.pods) == 2
