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
