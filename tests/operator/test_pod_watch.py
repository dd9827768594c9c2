"""Pods are watched once: by the store's label-selected watch, whose events (and what its lists
find new or changed) reconcile the pod's owner; kopf watches no pods."""

from __future__ import annotations

import asyncio

import kopf
import pytest

from dask_k8s_common import watching
from dask_k8s_operator import handlers, store


@pytest.fixture(autouse=True)
def empty_store():
    store.clear()
    yield
    store.clear()


def worker(name: str, version: str, group: str = "c-default") -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": version, "labels": {
        "dask.org/cluster-name": "c", "dask.org/component": "worker", "dask.org/workergroup-name": group}}}


def test_kopf_watches_no_pods():
    # kopf's registry offers no public listing of its watches: read the one it keeps (kopf 1.x)
    selectors = [h.selector for h in kopf.get_default_registry()._watching.get_all_handlers()]
    plurals = {s.any_name for s in selectors}
    assert "pods" not in plurals and "daskworkergroups" in plurals


async def test_the_stores_pod_watch_reconciles_the_owner(monkeypatch):
    triggered = []
    monkeypatch.setattr(handlers.QUEUE, "trigger", lambda *key: triggered.append(key))
    # (a worker pod's owner is reconciled once the burst it belongs to has come)
    monkeypatch.setattr(handlers.QUEUE, "trigger_soon", lambda *key: triggered.append(key))
    store.put("pods", worker("unchanged", "1"))
    store.put("pods", worker("changed", "2"))
    seen_in_store = []

    async def list_objects(client, kind, namespace, selector, timeouts, each=None):
        assert selector == handlers.CACHED["pods"][1]  # filtered by the API server
        return [worker("unchanged", "1"), worker("changed", "3"), worker("new", "4", "c-other")], "5"

    async def watch(client, kind, namespace, selector, version, on_event, timeouts):
        on_event("MODIFIED", worker("new", "6", "c-other"))
        seen_in_store.append(store.get("pods", "ns", "new")["metadata"]["resourceVersion"])
        on_event("DELETED", worker("changed", "7"))
        raise asyncio.CancelledError

    async def api():
        return None

    monkeypatch.setattr(watching, "list_objects", list_objects)
    monkeypatch.setattr(watching, "watch", watch)
    with pytest.raises(asyncio.CancelledError):
        await store.follow(api, "pods", object, None, handlers.CACHED["pods"][1],
                           watching.Timeouts(request=1, watch=1), handlers._on_pruned, handlers._on_pod_change)
    assert triggered == [
        ("daskworkergroups", "ns", "c-default"),  # the list: "changed" (not "unchanged")
        ("daskworkergroups", "ns", "c-other"),  # the list: "new"
        ("daskworkergroups", "ns", "c-other"),  # the watch
        ("daskworkergroups", "ns", "c-default"),  # the deletion
    ]
    assert seen_in_store == ["6"]  # the store holds the change before its owner is reconciled
    assert store.get("pods", "ns", "changed") is None


async def test_a_status_change_alone_reconciles_only_the_cluster_of_a_group(monkeypatch):
    """The watch echo of the operator's own status writes starts no reconcile of the object
    written; a group's status still reaches its cluster, which mirrors it."""
    triggered = []
    monkeypatch.setattr(handlers.QUEUE, "trigger", lambda *key: triggered.append(("now", *key)))
    monkeypatch.setattr(handlers.QUEUE, "trigger_soon", lambda *key: triggered.append(("soon", *key)))
    monkeypatch.setattr(handlers, "_seen", {})

    def body(kind, name, generation, rv, spec, status):
        meta = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": generation,
                "resourceVersion": rv}
        return {"kind": kind, "metadata": meta, "spec": spec, "status": status}

    async def group_event(generation, rv, replicas, ready):
        group = body("DaskWorkerGroup", "c-default", generation, rv,
                     {"cluster": "c", "worker": {"replicas": replicas}}, {"readyReplicas": ready})
        await handlers.daskworkergroup_event(event={"type": "MODIFIED", "object": group},
                                             namespace="ns", name="c-default",
                                             meta=group["metadata"], spec=group["spec"])

    async def cluster_event(generation, rv, phase):
        cluster = body("DaskCluster", "c", generation, rv, {"worker": {"replicas": 1}}, {"phase": phase})
        await handlers.daskcluster_event(event={"type": "MODIFIED", "object": cluster},
                                         namespace="ns", name="c", meta=cluster["metadata"])

    await group_event(1, "1", 1, 0)
    await group_event(1, "2", 1, 1)  # its status only
    await group_event(2, "3", 2, 1)  # scaled
    await cluster_event(1, "4", "Pending")
    await cluster_event(1, "5", "Running")  # its status only
    assert triggered == [
        ("now", "daskworkergroups", "ns", "c-default"), ("soon", "daskclusters", "ns", "c"),
        ("soon", "daskclusters", "ns", "c"),
        ("now", "daskworkergroups", "ns", "c-default"), ("soon", "daskclusters", "ns", "c"),
        ("now", "daskclusters", "ns", "c"),
    ]
