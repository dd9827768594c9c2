"""REST API against a fake Kubernetes backend: contract shapes, rules and error codes."""

from __future__ import annotations

import pytest


CLUSTER_KEYS = {
    "name", "namespace", "phase", "reason", "worker_groups", "workers_requested", "workers_ready",
    "cores", "memory", "adapt", "dashboard_url", "scheduler_address", "created", "version_skew", "stops_with_server",
}


def kubectl_cluster(name: str, namespace: str = "team-a", replicas: int = 1, phase: str = "Running") -> dict:
    """A DaskCluster as someone else (kubectl, a notebook) would have made it."""
    worker = {"replicas": replicas, "spec": {"containers": [{"name": "worker", "image": "other/image:1"}]}}
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"worker": worker, "scheduler": {"spec": {"containers": []}, "service": {}}},
        "status": {"phase": phase},
    }


async def test_list_empty(api):
    status, body = await api("GET", "clusters")
    assert status == 200
    assert body == {"clusters": [], "stale": None}


async def test_list_shows_clusters_made_elsewhere(api, fake):
    fake.put("DaskCluster", kubectl_cluster("made-by-kubectl", replicas=2))
    fake.put(
        "DaskWorkerGroup",
        {"metadata": {"name": "made-by-kubectl-default", "namespace": "team-a"},
         "spec": {"cluster": "made-by-kubectl", "worker": {"replicas": 2, "spec": {"containers": [{"name": "worker", "image": "other/image:1"}]}}}},
    )
    fake.add_worker_pod("team-a", "made-by-kubectl", "default", 0, ready=True)
    fake.add_worker_pod("team-a", "made-by-kubectl", "default", 1, ready=False)
    fake.put("DaskCluster", kubectl_cluster("elsewhere", namespace="team-b", phase="Created"))
    fake.put("DaskCluster", kubectl_cluster("not-watched", namespace="team-c"))

    status, body = await api("GET", "clusters")
    assert status == 200
    clusters = {(c["namespace"], c["name"]): c for c in body["clusters"]}
    assert set(clusters) == {("team-a", "made-by-kubectl"), ("team-b", "elsewhere")}
    cluster = clusters[("team-a", "made-by-kubectl")]
    assert set(cluster) == CLUSTER_KEYS
    assert cluster["phase"] == "Running"
    assert cluster["worker_groups"] == [{"name": "default", "requested": 2, "ready": 1, "image": "other/image:1"}]
    assert (cluster["workers_requested"], cluster["workers_ready"]) == (2, 1)
    assert cluster["cores"] == 2 and cluster["memory"] == 4 * 2**30
    assert cluster["adapt"] is None and cluster["reason"] is None
    assert cluster["dashboard_url"] == "/a%40b/dask-k8s/dashboard/team-a/made-by-kubectl/status"
    assert cluster["scheduler_address"] == "tcp://made-by-kubectl-scheduler.team-a.svc.cluster.local:8786"
    assert cluster["created"].endswith("Z")


async def test_create_with_options(api, fake):
    body = {
        "name": "analysis",
        "namespace": "team-b",
        "image": "my/image:2",
        "n_workers": 3,
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 1, "memory": "2Gi"}},
        "env": {"FOO": "bar"},
        "worker_groups": [{"name": "highmem", "n_workers": 1, "resources": {"limits": {"memory": "8Gi"}}}],
    }
    status, cluster = await api("POST", "clusters", body=body)
    assert status == 201, cluster
    assert (cluster["namespace"], cluster["name"]) == ("team-b", "analysis")
    assert [(g["name"], g["requested"], g["image"]) for g in cluster["worker_groups"]] == [
        ("default", 3, "my/image:2"),
        ("highmem", 1, "my/image:2"),
    ]
    manifest = fake.get("DaskCluster", "team-b", "analysis")
    worker = manifest["spec"]["worker"]
    container = worker["spec"]["containers"][0]
    assert worker["replicas"] == 3 and container["image"] == "my/image:2"
    assert {"name": "FOO", "value": "bar"} in container["env"]
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
    group = fake.get("DaskWorkerGroup", "team-b", "analysis-highmem")
    assert group["spec"]["cluster"] == "analysis"
    assert group["metadata"]["ownerReferences"][0]["uid"] == manifest["metadata"]["uid"]
    group_container = group["spec"]["worker"]["spec"]["containers"][0]
    assert group_container["resources"] == {"limits": {"memory": "8Gi"}}
    assert {"name": "FOO", "value": "bar"} in group_container["env"]

    status, body = await api("GET", "clusters", "team-b", "analysis")
    assert status == 200 and body == cluster


async def test_create_defaults_and_generated_name(api, fake):
    status, cluster = await api("POST", "clusters", body={})
    assert status == 201
    assert cluster["namespace"] == "team-a" and cluster["name"].startswith("dask-")
    assert cluster["worker_groups"][0]["image"] == "dask-k8s-lab/dask:test"


async def test_create_from_template(api, fake, service):
    service.config.templates = [
        {"name": "big", "description": "Big", "options": {"n_workers": 8, "image": "tpl/image:1", "env": {"A": "1"}}}
    ]
    status, cluster = await api("POST", "clusters", body={"name": "tpl", "template": "big", "n_workers": 2})
    assert status == 201
    assert cluster["workers_requested"] == 2  # the request wins over the template
    container = fake.get("DaskCluster", "team-a", "tpl")["spec"]["worker"]["spec"]["containers"][0]
    assert container["image"] == "tpl/image:1"
    assert {"name": "A", "value": "1"} in container["env"]

    status, body = await api("POST", "clusters", body={"template": "nope"})
    assert status == 422 and body["field"] == "template" and "big" in body["message"]


async def test_templates(api, service):
    status, body = await api("GET", "templates")
    assert status == 200
    assert body["default_image"] == "dask-k8s-lab/dask:test"
    assert body["allow_image_choice"] is True
    assert [t["name"] for t in body["templates"]] == ["small"]
    assert set(body["templates"][0]) == {"name", "description", "options"}


async def test_image_choice_can_be_forbidden(api, service, fake):
    service.config.allow_image_choice = False
    status, body = await api("POST", "clusters", body={"image": "evil/miner:1"})
    assert status == 403 and body["field"] == "image"
    status, body = await api("POST", "clusters", body={"worker_groups": [{"name": "g", "n_workers": 1, "image": "evil/miner:1"}]})
    assert status == 403 and body["field"] == "worker_groups.0.image"
    status, _ = await api("POST", "clusters", body={"image": "dask-k8s-lab/dask:test"})
    assert status == 201
    assert not [c for c in fake.calls if c[:2] == ("create", "DaskCluster") and c[2] != _["name"]]


async def test_name_taken(api, fake):
    fake.put("DaskCluster", kubectl_cluster("taken"))
    status, body = await api("POST", "clusters", body={"name": "taken"})
    assert status == 409 and body["field"] == "name"
    # A race the cache has not seen yet: the API server's 409 comes through as a 409.
    fake.failures[("create", "DaskCluster")] = (409, 'daskclusters.kubernetes.dask.org "raced" already exists')
    status, body = await api("POST", "clusters", body={"name": "raced"})
    assert status == 409 and "already exists" in body["message"]


async def test_kubernetes_forbidden_names_the_permission(api, fake):
    message = (
        'daskclusters.kubernetes.dask.org is forbidden: User "alice" cannot create resource "daskclusters" '
        'in API group "kubernetes.dask.org" in the namespace "team-a"'
    )
    fake.failures[("create", "DaskCluster")] = (403, message)
    status, body = await api("POST", "clusters", body={"name": "nope"})
    assert status == 403
    assert 'cannot create resource "daskclusters"' in body["message"]


@pytest.mark.parametrize(
    "raw, status, field",
    [
        (b"", 400, None),
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (b'"text"', 400, None),
        (b'{"name": "Bad_Name"}', 422, "name"),
        (b'{"name": 5}', 422, "name"),
        (b'{"name": "' + b"a" * 60 + b'"}', 422, "name"),
        (b'{"n_workers": -1}', 422, "n_workers"),
        (b'{"n_workers": true}', 422, "n_workers"),
        (b'{"n_workers": 2.5}', 422, "n_workers"),
        (b'{"n_workers": 100000}', 422, "n_workers"),
        (b'{"image": ""}', 422, "image"),
        (b'{"image": "has space"}', 422, "image"),
        (b'{"resources": {"limits": {"cpu": "lots"}}}', 422, "resources.limits.cpu"),
        (b'{"resources": {"maximums": {}}}', 422, "resources.maximums"),
        (b'{"resources": []}', 422, "resources"),
        (b'{"env": {"A": 1}}', 422, "env.A"),
        (b'{"env": {"1 2": "x"}}', 422, "env.1 2"),
        (b'{"worker_groups": {}}', 422, "worker_groups"),
        (b'{"worker_groups": [{"name": "g"}]}', 422, "worker_groups.0.n_workers"),
        (b'{"worker_groups": [{"name": "default", "n_workers": 1}]}', 422, "worker_groups.0.name"),
        (b'{"worker_groups": [{"name": "g", "n_workers": 1}, {"name": "g", "n_workers": 1}]}', 422, "worker_groups.1.name"),
        (b'{"namespace": "team-c"}', 422, "namespace"),
        (b'{"colour": "red"}', 422, "colour"),
    ],
)
async def test_create_rejects_bad_bodies(api, fake, raw, status, field):
    got, body = await api("POST", "clusters", raw=raw)
    assert got == status, body
    assert isinstance(body["message"], str) and body["message"]
    assert body.get("field") == field
    assert not [c for c in fake.calls if c[0] == "create"]


async def test_scale_default_group(api, fake):
    await api("POST", "clusters", body={"name": "c1", "n_workers": 1})
    await api("PATCH", "clusters", "team-a", "c1", body={"adapt": {"minimum": 1, "maximum": 5}})
    status, cluster = await api("PATCH", "clusters", "team-a", "c1", body={"workers": 4})
    assert status == 200
    assert cluster["workers_requested"] == 4 and cluster["adapt"] is None
    assert fake.get("DaskWorkerGroup", "team-a", "c1-default")["spec"]["worker"]["replicas"] == 4
    assert fake.get("DaskCluster", "team-a", "c1")["spec"]["worker"]["replicas"] == 4
    assert fake.get("DaskAutoscaler", "team-a", "c1") is None


async def test_scale_named_group_leaves_others(api, fake):
    await api("POST", "clusters", body={"name": "c1", "n_workers": 1, "worker_groups": [{"name": "gpu", "n_workers": 0}]})
    status, cluster = await api("PATCH", "clusters", "team-a", "c1", body={"workers": 2, "worker_group": "gpu"})
    assert status == 200
    assert {g["name"]: g["requested"] for g in cluster["worker_groups"]} == {"default": 1, "gpu": 2}
    assert not [c for c in fake.calls if c[0] == "patch" and c[2] in ("c1", "c1-default")]

    status, body = await api("PATCH", "clusters", "team-a", "c1", body={"workers": 2, "worker_group": "nope"})
    assert status == 404 and body["field"] == "worker_group"


async def test_adapt_on_change_off(api, fake):
    await api("POST", "clusters", body={"name": "c1"})
    status, cluster = await api("PATCH", "clusters", "team-a", "c1", body={"adapt": {"minimum": 1, "maximum": 10}})
    assert status == 200 and cluster["adapt"] == {"minimum": 1, "maximum": 10}
    autoscaler = fake.get("DaskAutoscaler", "team-a", "c1")
    assert autoscaler["spec"] == {"cluster": "c1", "minimum": 1, "maximum": 10}
    assert autoscaler["metadata"]["ownerReferences"][0]["name"] == "c1"

    status, cluster = await api("PATCH", "clusters", "team-a", "c1", body={"adapt": {"minimum": 0, "maximum": 3}})
    assert cluster["adapt"] == {"minimum": 0, "maximum": 3}
    assert fake.get("DaskAutoscaler", "team-a", "c1")["spec"]["maximum"] == 3

    status, cluster = await api("PATCH", "clusters", "team-a", "c1", body={"adapt": None})
    assert status == 200 and cluster["adapt"] is None
    assert fake.get("DaskAutoscaler", "team-a", "c1") is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "workers"),
        ({"workers": -2}, "workers"),
        ({"workers": "3"}, "workers"),
        ({"workers": 1, "adapt": None}, "adapt"),
        ({"adapt": 5}, "adapt"),
        ({"adapt": {"minimum": 1}}, "adapt.maximum"),
        ({"adapt": {"minimum": 4, "maximum": 2}}, "adapt.maximum"),
        ({"adapt": {"minimum": 0, "maximum": 2, "target": 1}}, "adapt.target"),
        ({"workers": 1, "worker_group": "Bad!"}, "worker_group"),
    ],
)
async def test_patch_rejects_bad_bodies(api, fake, body, field):
    await api("POST", "clusters", body={"name": "c1"})
    status, reply = await api("PATCH", "clusters", "team-a", "c1", body=body)
    assert status == 422 and reply["field"] == field


async def test_unknown_clusters_are_404(api):
    for method, path, body in [
        ("GET", ("clusters", "team-a", "ghost"), None),
        ("PATCH", ("clusters", "team-a", "ghost"), {"workers": 1}),
        ("DELETE", ("clusters", "team-a", "ghost"), None),
        ("GET", ("clusters", "team-c", "ghost"), None),
        ("GET", ("clusters", "team-a", "ghost", "logs"), None),
        ("GET", ("clusters", "team-a", "ghost", "events"), None),
        ("POST", ("clusters", "team-a", "ghost", "worker-groups"), {"name": "g", "n_workers": 1}),
        ("DELETE", ("clusters", "team-a", "ghost", "worker-groups", "g"), None),
    ]:
        status, reply = await api(method, *path, body=body)
        assert status == 404, (method, path, reply)
        assert "ghost" in reply["message"] or "team-c" in reply["message"]


async def test_delete_cluster(api, fake):
    await api("POST", "clusters", body={"name": "c1"})
    status, body = await api("DELETE", "clusters", "team-a", "c1")
    assert status == 204 and body is None
    assert fake.get("DaskCluster", "team-a", "c1") is None
    status, _ = await api("GET", "clusters", "team-a", "c1")
    assert status == 404


async def test_worker_groups_add_and_delete(api, fake):
    await api("POST", "clusters", body={"name": "c1", "image": "base/image:1", "env": {"X": "1"}})
    status, cluster = await api(
        "POST", "clusters", "team-a", "c1", "worker-groups",
        body={"name": "big", "n_workers": 2, "image": "big/image:1", "resources": {"limits": {"cpu": "4"}}},
    )
    assert status == 201
    assert {g["name"]: (g["requested"], g["image"]) for g in cluster["worker_groups"]} == {
        "default": (0, "base/image:1"),
        "big": (2, "big/image:1"),
    }
    container = fake.get("DaskWorkerGroup", "team-a", "c1-big")["spec"]["worker"]["spec"]["containers"][0]
    assert {"name": "X", "value": "1"} in container["env"] and container["resources"] == {"limits": {"cpu": "4"}}

    status, body = await api("POST", "clusters", "team-a", "c1", "worker-groups", body={"name": "big", "n_workers": 1})
    assert status == 409 and body["field"] == "name"
    status, body = await api("POST", "clusters", "team-a", "c1", "worker-groups", body={"name": "x"})
    assert status == 422 and body["field"] == "n_workers"

    status, _ = await api("DELETE", "clusters", "team-a", "c1", "worker-groups", "big")
    assert status == 204
    assert fake.get("DaskWorkerGroup", "team-a", "c1-big") is None
    status, cluster = await api("GET", "clusters", "team-a", "c1")
    assert [g["name"] for g in cluster["worker_groups"]] == ["default"]

    status, body = await api("DELETE", "clusters", "team-a", "c1", "worker-groups", "default")
    assert status == 409
    status, body = await api("DELETE", "clusters", "team-a", "c1", "worker-groups", "big")
    assert status == 404


async def test_logs_and_events(api, fake):
    await api("POST", "clusters", body={"name": "c1"})
    fake.add_worker_pod("team-a", "c1", "default", 0)
    fake.add_worker_pod("team-a", "c1", "default", 1, ready=False)
    fake.pod_log_texts["c1-default-worker-0"] = "line 1\nline 2\nline 3"
    cluster = fake.get("DaskCluster", "team-a", "c1")
    cluster["metadata"]["creationTimestamp"] = "2026-01-01T00:00:01Z"
    fake.put("DaskCluster", cluster, "MODIFIED")
    fake.event_list = [
        {"type": "Warning", "reason": "Failed", "message": "an earlier cluster of the same name",
         "lastTimestamp": "2025-12-31T23:59:59Z", "involvedObject": {"kind": "DaskCluster", "name": "c1"}},
        {"type": "Warning", "reason": "FailedScheduling", "message": "0/1 nodes", "lastTimestamp": "2026-01-01T00:00:02Z",
         "involvedObject": {"kind": "Pod", "name": "c1-default-worker-1"}},
        {"type": "Normal", "reason": "Created", "message": "made", "lastTimestamp": "2026-01-01T00:00:01Z",
         "involvedObject": {"kind": "DaskCluster", "name": "c1"}},
        {"type": "Normal", "reason": "Other", "message": "not ours", "lastTimestamp": "2026-01-01T00:00:00Z",
         "involvedObject": {"kind": "Pod", "name": "unrelated"}},
    ]
    status, body = await api("GET", "clusters", "team-a", "c1", "logs", tail_lines="2")
    assert status == 200
    assert body["logs"]["c1-default-worker-0"] == "line 2\nline 3"
    assert body["logs"]["c1-default-worker-1"].startswith("(no logs:")
    status, body = await api("GET", "clusters", "team-a", "c1", "logs", tail_lines="zero")
    assert status == 422 and body["field"] == "tail_lines"
    assert ("logs", "c1-default-worker-0", None, 2, False) in fake.calls
    status, body = await api("GET", "clusters", "team-a", "c1", "logs", tail_lines="1", previous="true")
    assert status == 200 and ("logs", "c1-default-worker-0", None, 1, True) in fake.calls
    status, body = await api("GET", "clusters", "team-a", "c1", "logs", previous="yes")
    assert status == 422 and body["field"] == "previous"

    status, body = await api("GET", "clusters", "team-a", "c1", "events")
    assert status == 200
    assert body["events"] == [
        {"type": "Normal", "reason": "Created", "message": "made", "object": "DaskCluster/c1", "time": "2026-01-01T00:00:01Z"},
        {"type": "Warning", "reason": "FailedScheduling", "message": "0/1 nodes", "object": "Pod/c1-default-worker-1",
         "time": "2026-01-01T00:00:02Z"},
    ]


async def test_reason_when_stuck(api, fake):
    await api("POST", "clusters", body={"name": "c1", "n_workers": 1})
    fake.add_worker_pod(
        "team-a", "c1", "default", 0, ready=False,
        containerStatuses=[{"name": "worker", "image": "no/such:image", "ready": False, "restartCount": 0,
                            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}],
    )
    status, cluster = await api("GET", "clusters", "team-a", "c1")
    assert "no/such:image" in cluster["reason"] and "ImagePullBackOff" in cluster["reason"]


async def test_crash_loop_reason_quotes_last_log_lines(api, fake, service):
    await api("POST", "clusters", body={"name": "c1", "n_workers": 1})
    fake.pod_log_texts["c1-default-worker-0"] = "starting\nTraceback (most recent call last):\nValueError: bad config"
    fake.add_worker_pod(
        "team-a", "c1", "default", 0, ready=False,
        containerStatuses=[{"name": "worker", "ready": False, "restartCount": 3,
                            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                            "lastState": {"terminated": {"exitCode": 1}}}],
    )
    for task in list(service._crash_log_tasks.values()):
        await task
    status, cluster = await api("GET", "clusters", "team-a", "c1")
    assert "crash-looping" in cluster["reason"] and "exit code 1" in cluster["reason"]
    assert cluster["reason"].endswith("ValueError: bad config")
    assert ("logs", "c1-default-worker-0", "worker", 5, True) in fake.calls


async def test_unauthenticated_requests_are_refused(http_server_client, jp_base_url, jp_serverapp):
    from tornado.httpclient import HTTPClientError

    for method, path, body in [
        ("GET", "dask-k8s/clusters", None),
        ("POST", "dask-k8s/clusters", b"{}"),
        ("GET", "dask-k8s/templates", None),
        ("DELETE", "dask-k8s/clusters/team-a/x", None),
    ]:
        with pytest.raises(HTTPClientError) as info:
            await http_server_client.fetch(jp_base_url + path, method=method, body=body, follow_redirects=False)
        assert info.value.code == 403, (method, path)
    assert not jp_serverapp.web_app.settings["dask_k8s_lab_service"].backend.calls


async def test_image_policy_allows_a_clusters_own_image_for_new_groups(api, service, fake):
    await api("POST", "clusters", body={"name": "c1", "image": "team/dask:7"})
    service.config.allow_image_choice = False
    status, _ = await api("POST", "clusters", "team-a", "c1", "worker-groups", body={"name": "more", "n_workers": 1, "image": "team/dask:7"})
    assert status == 201
    status, body = await api("POST", "clusters", "team-a", "c1", "worker-groups", body={"name": "other", "n_workers": 1, "image": "x/y:1"})
    assert status == 403 and body["field"] == "image"


async def test_stopping_the_server_stops_the_watches(jp_serverapp, service, fake):
    assert fake.sink is service  # watching
    await jp_serverapp.extension_manager.stop_all_extensions()
    assert fake.sink is None  # FakeBackend.close() ran: no watch outlives the server
