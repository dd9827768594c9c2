"""The operator's cache: a relist prunes what it missed, but not what the watch brought meanwhile;
what was pruned is reconciled; reads bypass a cache whose watch is down."""

from __future__ import annotations

import pytest

from dask_k8s_operator import __main__ as cli
from dask_k8s_operator import handlers, store


def body(name: str, version: str, **extra) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": version, **extra}}


@pytest.fixture(autouse=True)
def empty_store():
    store.clear()
    yield
    store.clear()


def test_a_relist_drops_what_it_no_longer_holds_but_keeps_newer_watch_events():
    store.put("daskclusters", body("kept", "1"))
    store.put("daskclusters", body("deleted-in-a-gap", "2"))
    store.put("daskclusters", body("made-during-the-list", "3"))
    store.put("pods", body("other-kind", "4"))
    before = store._versions("daskclusters", "ns")
    store.put("daskclusters", body("made-during-the-list", "9"))  # the watch, while the list ran
    dropped = store.replace("daskclusters", "ns", [body("kept", "5"), body("new", "6")], before)
    assert [d["metadata"]["name"] for d in dropped] == ["deleted-in-a-gap"]
    assert {b["metadata"]["name"] for b in store.items("daskclusters", "ns")} == {"kept", "new", "made-during-the-list"}
    assert store.get("daskclusters", "ns", "kept")["metadata"]["resourceVersion"] == "5"
    assert store.get("pods", "ns", "other-kind") is not None


def test_reads_use_the_cache_only_while_its_watch_is_up():
    assert not store.fresh("pods", "ns")
    store._synced.add(("pods", None))  # an all-namespaces watch
    assert store.fresh("pods", "ns") and not store.fresh("services", "ns")


def test_what_a_relist_pruned_is_reconciled(monkeypatch):
    triggered = []
    monkeypatch.setattr(handlers.QUEUE, "trigger", lambda *key: triggered.append(key))
    store.put("daskworkergroups", {**body("c-extra", "1"), "spec": {"cluster": "c"}})
    lost_scheduler = body("c-scheduler", "2", labels={"dask.org/component": "scheduler", "dask.org/cluster-name": "c"})
    handlers._on_pruned("pods", lost_scheduler)
    assert triggered == [("daskclusters", "ns", "c"), ("daskworkergroups", "ns", "c-extra")]
    triggered.clear()
    handlers._on_pruned("daskclusters", body("c", "3", uid="u"))
    assert triggered == [("daskclusters", "ns", "c")]
    triggered.clear()
    handlers._on_pruned("daskworkergroups", {**body("c-extra", "1"), "spec": {"cluster": "c"}})
    assert triggered == [("daskworkergroups", "ns", "c-extra"), ("daskclusters", "ns", "c")]


def test_timeout_options_become_environment_variables():
    env, rest = cli.own_options(["--request-timeout", "5", "--watch-timeout=30", "--namespace=x", "--verbose"])
    assert env == {"DASK_K8S_OPERATOR_REQUEST_TIMEOUT": "5", "DASK_K8S_OPERATOR_WATCH_TIMEOUT": "30"}
    assert rest == ["--namespace=x", "--verbose"]
    with pytest.raises(SystemExit, match="--request-timeout takes a number of seconds"):
        cli.own_options(["--request-timeout=soon"])


class PagedClient:
    """Serves a LIST in pages of the ``limit`` asked for, as the API server does."""

    def __init__(self, items: list[dict]):
        self.items, self.calls = items, []

    def async_get_kind(self, kind, namespace=None, label_selector=None, params=None, timeout=None):
        import contextlib
        import json

        import httpx

        self.calls.append(dict(params))
        start = int(params.get("continue") or 0)
        end = start + int(params["limit"])
        meta = {"resourceVersion": "42", **({"continue": str(end)} if end < len(self.items) else {})}
        response = httpx.Response(200, content=json.dumps({"items": self.items[start:end], "metadata": meta}))

        @contextlib.asynccontextmanager
        async def call():
            yield kind, response

        return call()


async def test_a_list_is_read_in_pages_and_slimmed_page_by_page(monkeypatch):
    from dask_k8s_common import watching
    from dask_k8s_operator.pods import slim_pod

    monkeypatch.setattr(watching, "PAGE_SIZE", 2)
    pods = [{"metadata": {"name": f"p{i}", "namespace": "ns", "managedFields": [{"big": "x" * 100}]},
             "spec": {"containers": [{"name": "worker"}], "nodeName": "n"}} for i in range(5)]
    client = PagedClient(pods)
    items, version = await watching.list_objects(client, "pods", "ns", "a=b", watching.Timeouts(),
                                                  store.slimmer("pods"))
    assert [p["metadata"]["name"] for p in items] == ["p0", "p1", "p2", "p3", "p4"] and version == "42"
    assert items == [slim_pod(p) for p in pods] and "managedFields" not in items[0]["metadata"]
    assert [c.get("continue") for c in client.calls] == [None, "2", "4"]
    assert {c["limit"] for c in client.calls} == {"2"}



def test_a_held_status_shows_over_what_the_watch_brings_until_released():
    store.clear()
    group = {"metadata": {"name": "g", "namespace": "ns", "resourceVersion": "1"}, "status": {"readyReplicas": 0}}
    store.put("daskworkergroups", group)
    store.hold_status("daskworkergroups", "ns", "g", {"readyReplicas": 2})  # to be written shortly
    assert store.get("daskworkergroups", "ns", "g")["status"] == {"readyReplicas": 2}
    # a watch event of an earlier write (a newer resourceVersion, an older status)
    store.put("daskworkergroups", {**group, "metadata": {**group["metadata"], "resourceVersion": "2"}})
    assert store.get("daskworkergroups", "ns", "g")["status"] == {"readyReplicas": 2}
    store.release_status("daskworkergroups", "ns", "g")
    store.put("daskworkergroups", {**group, "metadata": {**group["metadata"], "resourceVersion": "3"}})
    assert store.get("daskworkergroups", "ns", "g")["status"] == {"readyReplicas": 0}
    store.clear()


def test_a_writes_answer_refreshes_but_never_revives_or_goes_back():
    store.clear()
    group = lambda rv, replicas: {"metadata": {"name": "g", "namespace": "ns", "resourceVersion": rv},
                                  "spec": {"worker": {"replicas": replicas}}}
    store.refresh("daskworkergroups", group("5", 1))
    assert store.get("daskworkergroups", "ns", "g") is None  # not held: perhaps deleted meanwhile
    store.put("daskworkergroups", group("5", 1))
    store.refresh("daskworkergroups", group("7", 2))
    assert store.get("daskworkergroups", "ns", "g")["metadata"]["resourceVersion"] == "7"
    store.refresh("daskworkergroups", group("6", 3))  # the watch brought a newer one first
    assert store.get("daskworkergroups", "ns", "g")["spec"]["worker"]["replicas"] == 2
    store.drop("daskworkergroups", "ns", "g")  # its deletion came before the answer
    store.refresh("daskworkergroups", group("8", 4))
    assert store.get("daskworkergroups", "ns", "g") is None
    store.clear()


def test_select_by_an_indexed_label_follows_label_changes_and_deletions():
    from dask_k8s_common.contract import LABEL_CLUSTER, LABEL_WORKER_GROUP

    def pod(name: str, version: str, group: str, **labels: str) -> dict:
        return body(name, version, labels={LABEL_CLUSTER: "c", LABEL_WORKER_GROUP: group, **labels})

    for i in range(3):
        store.put("daskclusters", pod(f"a{i}", "1", "a"))
    store.put("daskclusters", pod("b0", "1", "b", extra="x"))
    names = lambda labels: sorted(b["metadata"]["name"] for b in store.select("daskclusters", "ns", labels))
    assert names({LABEL_WORKER_GROUP: "a"}) == ["a0", "a1", "a2"]
    assert names({LABEL_CLUSTER: "c", "extra": "x"}) == ["b0"]  # the other labels still filter
    assert names({"extra": "x"}) == ["b0"]  # an unindexed label alone: every object looked at
    store.put("daskclusters", pod("a1", "2", "b"))  # relabelled
    assert names({LABEL_WORKER_GROUP: "a"}) == ["a0", "a2"]
    assert names({LABEL_WORKER_GROUP: "b"}) == ["a1", "b0"]
    store.drop("daskclusters", "ns", "a0")
    store.replace("daskclusters", "ns", [pod("a1", "3", "b"), pod("b0", "3", "b")],
                  store._versions("daskclusters", "ns"))  # a2 pruned
    assert names({LABEL_WORKER_GROUP: "a"}) == []
    assert names({LABEL_CLUSTER: "c"}) == ["a1", "b0"]
    assert store._index.keys() == {("daskclusters", "ns", LABEL_WORKER_GROUP, "b"),
                                   ("daskclusters", "ns", LABEL_CLUSTER, "c")}  # nothing left behind


def test_the_store_keeps_no_managed_fields():
    store.put("daskclusters", body("c", "1", managedFields=[{"manager": "kubectl"}]))
    assert "managedFields" not in store.get("daskclusters", "ns", "c")["metadata"]

