"""Clusters belong to users: the pure rules, then every REST route, the stream and the dashboard
proxy of a server spawned for "alice" (JUPYTERHUB_USER), on the fake backend."""

from __future__ import annotations

import asyncio
import copy
import json

import pytest

from dask_k8s_lab import ownership
from dask_k8s_common.resources import ANNOTATION_OWNER, LABEL_OWNER

from .test_rest import kubectl_cluster


# -- pure rules --------------------------------------------------------------------------------


def test_hub_user_comes_from_the_hub_environment():
    assert ownership.hub_user({"JUPYTERHUB_USER": "alice"}) == "alice"
    assert ownership.hub_user({"JUPYTERHUB_USER": ""}) is None
    assert ownership.hub_user({}) is None


@pytest.mark.parametrize("user", ["alice", "a.b_c-1", "x" * 63])
def test_label_value_is_the_name_when_it_can_be(user):
    assert ownership.label_value(user) == user


@pytest.mark.parametrize("user", ["alice@example.org", "Ünïcode user", "-dash", "x" * 64, "@@@"])
def test_label_value_of_other_names_is_a_valid_distinct_label(user):
    value = ownership.label_value(user)
    assert len(value) <= 63 and ownership._LABEL_VALUE.match(value), value
    assert value != ownership.label_value(user + "!")


def test_stamp_records_the_owner_and_nothing_without_one():
    manifest = {"metadata": {"name": "c", "labels": {"keep": "me"}}}
    ownership.stamp(manifest, "alice@example.org")
    assert manifest["metadata"]["annotations"] == {ANNOTATION_OWNER: "alice@example.org"}
    assert manifest["metadata"]["labels"] == {"keep": "me", LABEL_OWNER: ownership.label_value("alice@example.org")}
    assert ownership.owner(manifest) == "alice@example.org"
    bare = {"metadata": {"name": "c"}}
    assert ownership.stamp(copy.deepcopy(bare), None) == bare


def test_visibility():
    mine = ownership.stamp({"metadata": {}}, "alice")
    theirs = ownership.stamp({"metadata": {}}, "bob")
    nobody = {"metadata": {}}
    assert [ownership.visible(o, "alice") for o in (mine, theirs, nobody)] == [True, False, False]
    assert all(ownership.visible(o, "alice", see_all=True) for o in (mine, theirs, nobody))
    assert all(ownership.visible(o, None) for o in (mine, theirs, nobody))  # outside JupyterHub


def test_namespace_refusal_names_the_namespace_and_the_way_out():
    text = ownership.namespace_refusal("team-z", ["team-a", "team-b"], "alice")
    assert "'team-z'" in text and "'team-a', 'team-b'" in text and "alice" in text


# -- a hub-spawned server ------------------------------------------------------------------------


@pytest.fixture
def jp_server_config(jp_server_config, monkeypatch):
    """As JupyterHub spawns it: the user is in the environment, not in any config."""
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    monkeypatch.delenv("DASK_K8S_LAB_SHOW_ALL_CLUSTERS", raising=False)
    return jp_server_config


def owned(name: str, user: str | None, namespace: str = "team-a") -> dict:
    return ownership.stamp(kubectl_cluster(name, namespace), user)


@pytest.fixture
async def others(fake):
    """bob's cluster (with a worker group and a pod) and one nobody owns, made elsewhere.

    Async so it runs in the server's event loop: a Running cluster makes the service start a
    scheduler query task."""
    fake.put("DaskCluster", owned("bobs", "bob"))
    fake.put(
        "DaskWorkerGroup",
        {"metadata": {"name": "bobs-default", "namespace": "team-a"},
         "spec": {"cluster": "bobs", "worker": {"replicas": 1, "spec": {"containers": [{"name": "worker"}]}}}},
    )
    fake.add_worker_pod("team-a", "bobs", "default", 0)
    fake.pod_log_texts["bobs-default-worker-0"] = "bob's secret log line"
    fake.put("DaskCluster", owned("unowned", None))
    fake.dashboard = ("127.0.0.1", 1)


async def test_created_clusters_record_the_owner(api, fake):
    status, body = await api("POST", "clusters", body={"name": "mine"})
    assert status == 201, body
    meta = fake.get("DaskCluster", "team-a", "mine")["metadata"]
    assert meta["annotations"][ANNOTATION_OWNER] == "alice"
    assert meta["labels"][LABEL_OWNER] == "alice"


async def test_only_own_clusters_are_listed(api, others):
    await api("POST", "clusters", body={"name": "mine"})
    status, body = await api("GET", "clusters")
    assert status == 200
    assert [c["name"] for c in body["clusters"]] == ["mine"]


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", (), None),
        ("PATCH", (), {"workers": 3}),
        ("PATCH", (), {"adapt": {"minimum": 1, "maximum": 2}}),
        ("DELETE", (), None),
        ("POST", ("worker-groups",), {"name": "more", "n_workers": 1}),
        ("DELETE", ("worker-groups", "default"), None),
        ("GET", ("logs",), None),
        ("GET", ("events",), None),
    ],
)
@pytest.mark.parametrize("name", ["bobs", "unowned"])
async def test_other_clusters_are_404_and_untouched(api, fake, others, method, path, body, name):
    before = copy.deepcopy(fake.objects)
    calls = len(fake.calls)
    status, reply = await api(method, "clusters", "team-a", name, *path, body=body)
    assert status == 404, reply
    assert "secret" not in json.dumps(reply)
    # The reply is the one a cluster that does not exist gets: nothing tells them apart.
    _, ghost = await api(method, "clusters", "team-a", "ghost", *path, body=body)
    assert reply == {**ghost, "message": ghost["message"].replace("ghost", name)}
    assert fake.objects == before and len(fake.calls) == calls


async def test_dashboard_of_another_users_cluster_is_404(jp_fetch, others):
    response = await jp_fetch("dask-k8s", "dashboard", "team-a", "bobs", "status", raise_error=False)
    assert response.code == 404


async def test_a_namespace_outside_the_users_is_403_and_creates_nothing(api, fake):
    status, body = await api("POST", "clusters", body={"name": "x", "namespace": "kube-system"})
    assert status == 403 and body["field"] == "namespace"
    assert "'kube-system'" in body["message"] and "'team-a', 'team-b'" in body["message"]
    assert not [c for c in fake.calls if c[0] == "create"]


async def test_stream_carries_only_own_clusters(api, jp_ws_fetch, fake, others):
    from .test_stream import next_message

    await api("POST", "clusters", body={"name": "mine"})
    ws = await jp_ws_fetch("dask-k8s", "stream")
    snapshot = await next_message(ws)
    assert [c["name"] for c in snapshot["clusters"]] == ["mine"]
    # bob's cluster changes, a new one of bob's appears and one goes: not a word of it.
    theirs = fake.get("DaskCluster", "team-a", "bobs")
    theirs["status"] = {"phase": "Pending"}
    fake.put("DaskCluster", theirs, "MODIFIED")
    fake.put("DaskCluster", owned("bobs2", "bob"))
    fake.remove("DaskCluster", "team-a", "unowned")
    with pytest.raises(asyncio.TimeoutError):
        await next_message(ws, timeout=0.3)
    # A cluster handed to alice appears; handed away, it is gone for her.
    fake.put("DaskCluster", owned("bobs2", "alice"), "MODIFIED")
    update = await next_message(ws)
    assert update["type"] == "updated" and update["cluster"]["name"] == "bobs2"
    fake.put("DaskCluster", owned("bobs2", "carol"), "MODIFIED")
    assert await next_message(ws) == {"type": "deleted", "namespace": "team-a", "name": "bobs2"}
    ws.close()


class TestAdmin:
    @pytest.fixture
    def jp_server_config(self, jp_server_config, monkeypatch):
        monkeypatch.setenv("DASK_K8S_LAB_SHOW_ALL_CLUSTERS", "true")  # as a spawner sets it for admins
        return jp_server_config

    async def test_admin_setting_shows_everyone(self, api, fake, others):
        _, body = await api("GET", "clusters")
        assert sorted(c["name"] for c in body["clusters"]) == ["bobs", "unowned"]
        status, body = await api("GET", "clusters", "team-a", "bobs", "logs")
        assert status == 200 and "secret" in body["logs"]["bobs-default-worker-0"]
        status, _ = await api("POST", "clusters", body={"name": "admins"})
        assert status == 201
        assert fake.get("DaskCluster", "team-a", "admins")["metadata"]["annotations"] == {ANNOTATION_OWNER: "alice"}


class TestOutsideJupyterHub:
    @pytest.fixture
    def jp_server_config(self, jp_server_config, monkeypatch):
        monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
        return jp_server_config

    async def test_nothing_recorded_everything_shown(self, api, fake, others):
        status, _ = await api("POST", "clusters", body={"name": "mine"})
        assert status == 201
        meta = fake.get("DaskCluster", "team-a", "mine")["metadata"]
        assert ANNOTATION_OWNER not in (meta.get("annotations") or {}) and LABEL_OWNER not in meta["labels"]
        _, body = await api("GET", "clusters")
        assert sorted(c["name"] for c in body["clusters"]) == ["bobs", "mine", "unowned"]
        status, body = await api("POST", "clusters", body={"name": "x", "namespace": "kube-system"})
        assert status == 422 and body["field"] == "namespace"  # as before: a bad field, not a refusal


# -- clusters stop with the server ------------------------------------------------------------------

POD_ENV = {"DASK_K8S_LAB_POD_NAMESPACE": "team-a", "DASK_K8S_LAB_POD_NAME": "jupyter-alice", "DASK_K8S_LAB_POD_UID": "u-1"}


def test_tie_to_pod_only_within_the_pods_namespace():
    pod = ownership.server_pod(POD_ENV)
    assert pod == {"namespace": "team-a", "name": "jupyter-alice", "uid": "u-1"}
    assert ownership.server_pod({**POD_ENV, "DASK_K8S_LAB_POD_UID": ""}) is None
    tied = ownership.tie_to_pod({"metadata": {"namespace": "team-a"}}, pod)
    assert tied["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "Pod", "name": "jupyter-alice", "uid": "u-1"}]
    assert ownership.tied_to_pod(tied) == "jupyter-alice"
    elsewhere = ownership.tie_to_pod({"metadata": {"namespace": "team-b"}}, pod)
    assert "ownerReferences" not in elsewhere["metadata"] and ownership.tied_to_pod(elsewhere) is None


class TestStopWithServer:
    @pytest.fixture
    def jp_server_config(self, jp_server_config, monkeypatch):
        for name, value in POD_ENV.items():
            monkeypatch.setenv(name, value)
        return jp_server_config

    async def test_clusters_are_tied_to_the_server_pod_unless_kept(self, api, fake):
        for body in ({"name": "tied"}, {"name": "kept", "keep": True}, {"name": "other-ns", "namespace": "team-b"}):
            status, reply = await api("POST", "clusters", body=body)
            assert status == 201, reply
        assert ownership.tied_to_pod(fake.get("DaskCluster", "team-a", "tied")) == "jupyter-alice"
        assert ownership.tied_to_pod(fake.get("DaskCluster", "team-a", "kept")) is None
        assert ownership.tied_to_pod(fake.get("DaskCluster", "team-b", "other-ns")) is None
        _, body = await api("GET", "clusters")  # what the sidebar shows
        assert {c["name"]: c["stops_with_server"] for c in body["clusters"]} == {"tied": True, "kept": False, "other-ns": False}

    async def test_keep_must_be_a_boolean(self, api, fake):
        status, reply = await api("POST", "clusters", body={"name": "x", "keep": "yes"})
        assert status == 422 and reply["field"] == "keep"
        assert fake.get("DaskCluster", "team-a", "x") is None


def test_hub_dashboard_link_goes_through_the_users_server():
    env = {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}
    assert ownership.hub_dashboard_link("ns", "c", env) == "/user/alice/dask-k8s/dashboard/ns/c/status"
    assert ownership.hub_dashboard_link("ns", "c", {}) is None
