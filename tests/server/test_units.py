"""Pure pieces of the server extension: quantities, reasons, the store, request parsing, config."""

from __future__ import annotations

import asyncio

import pytest
from traitlets import TraitError

from dask_k8s_lab.server.config import DaskK8sLab
from dask_k8s_lab.server.errors import ApiError, from_kube_error
from dask_k8s_lab.server.model import cluster_model, parse_quantity, pod_problem
from dask_k8s_lab.server.requests import apply_template, parse_create, parse_patch
from dask_k8s_lab.server.service import ClusterService
from dask_k8s_lab.server.store import ClusterStore
from tests.server.fake import FakeBackend, FakeKubeError


@pytest.mark.parametrize(
    "text, value",
    [("500m", 0.5), ("2", 2), (4, 4), ("1.5", 1.5), ("2Gi", 2 * 2**30), ("1G", 10**9), ("128Mi", 128 * 2**20),
     ("1e3", 1000), ("junk", 0), ("3Q", 0)],
)
def test_parse_quantity(text, value):
    assert float(parse_quantity(text)) == pytest.approx(value)


def pod(name="c-default-worker-0", **status):
    return {"metadata": {"name": name, "labels": {}}, "status": status}


def test_pod_problems():
    unschedulable = pod(conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": "0/1 nodes are available: 1 Insufficient memory."}])
    assert pod_problem(unschedulable, {}) == (
        "Pod c-default-worker-0 cannot be scheduled: 0/1 nodes are available: 1 Insufficient memory."
    )
    config_error = pod(containerStatuses=[{"name": "worker", "state": {"waiting": {
        "reason": "CreateContainerConfigError", "message": 'secret "s" not found'}}}])
    assert "CreateContainerConfigError" in pod_problem(config_error, {})
    crash = pod(containerStatuses=[{"name": "worker", "restartCount": 2, "ready": False,
                                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                    "lastState": {"terminated": {"exitCode": 3}}}])
    assert pod_problem(crash, {("c-default-worker-0", "worker"): "boom"}).endswith("last exit code 3); last log lines:\nboom")
    assert pod_problem(pod(phase="Running", conditions=[{"type": "Ready", "status": "True"}]), {}) is None
    assert pod_problem({**crash, "metadata": {**crash["metadata"], "deletionTimestamp": "x"}}, {}) is None


def test_operator_error_phase_is_the_reason():
    cluster = {"metadata": {"name": "c", "namespace": "n"},
               "status": {"phase": "Error", "reason": "SchedulerFailed", "message": "scheduler pod c-scheduler failed (exit code 1)",
                          "schedulerAddress": "tcp://c-scheduler.n.svc.cluster.local:8786"}}
    model = cluster_model(cluster, [], [], [])
    assert model["phase"] == "Error" and model["reason"] == "scheduler pod c-scheduler failed (exit code 1)"
    assert model["worker_groups"] == [{"name": "default", "requested": 0, "ready": 0, "image": ""}]
    running = {"metadata": {"name": "c", "namespace": "n", "deletionTimestamp": "t"}, "status": {"phase": "Running", "message": "fine"}}
    model = cluster_model(running, [], [], [])
    assert model["phase"] == "Terminating" and model["reason"] is None


def test_store_relist_reports_what_vanished():
    store = ClusterStore()
    one = {"metadata": {"name": "one", "namespace": "a"}}
    two = {"metadata": {"name": "two", "namespace": "a"}}
    other = {"metadata": {"name": "three", "namespace": "b"}}
    for obj in (one, two, other):
        store.refresh(store.apply("DaskCluster", "ADDED", obj))
    changes = store.refresh(store.replace("DaskCluster", "a", [one]))
    assert changes == [(("a", "two"), None)]  # the watch missed a deletion; the relist catches it
    assert [m["name"] for m in store.list_models()] == ["one", "three"]
    # Children follow their cluster; a pod moving between clusters updates both.
    pod_obj = {"metadata": {"name": "p", "namespace": "a", "labels": {"dask.org/cluster-name": "one"}}}
    assert store.apply("Pod", "ADDED", pod_obj) == {("a", "one")}
    moved = {"metadata": {"name": "p", "namespace": "a", "labels": {"dask.org/cluster-name": "two"}}}
    assert store.apply("Pod", "MODIFIED", moved) == {("a", "one"), ("a", "two")}
    assert store.children(("a", "one"), "Pod") == []


def test_parse_create_and_template():
    request = parse_create({"name": "x", "n_workers": 2, "env": {"A": "1"}}, 10)
    template = {"name": "t", "options": {"n_workers": 5, "image": "i/m:1", "env": {"B": "2"},
                                         "worker_groups": [{"name": "g", "n_workers": 1}]}}
    request = apply_template(request, template, 10)
    assert (request.n_workers, request.image, request.env) == (2, "i/m:1", {"A": "1"})
    assert [g.name for g in request.worker_groups] == ["g"]
    with pytest.raises(ApiError) as info:
        apply_template(parse_create({}, 10), {"name": "bad", "options": {"n_workers": "many"}}, 10)
    assert info.value.status == 422


def test_parse_patch_forms():
    assert parse_patch({"workers": 3}, 10).worker_group == "default"
    assert parse_patch({"adapt": None}, 10).off
    adapt = parse_patch({"adapt": {"minimum": 0, "maximum": 0}}, 10)
    assert (adapt.minimum, adapt.maximum, adapt.off) == (0, 0, False)


def test_kube_errors_become_http_errors():
    assert from_kube_error(FakeKubeError(403, "forbidden: cannot patch"), "scale x").status == 403
    assert from_kube_error(FakeKubeError(422, "spec.worker.replicas: Invalid"), "scale x").status == 422
    assert from_kube_error(FakeKubeError(500, "etcd"), "scale x").status == 502
    assert from_kube_error(ConnectionRefusedError("no"), "list").status == 502
    assert "100%" in ApiError(400, "100% wrong").to_json()["message"]


def test_config_from_environment_and_validation(monkeypatch):
    monkeypatch.setenv("DASK_K8S_LAB_NAMESPACES", "one, two")
    monkeypatch.setenv("DASK_K8S_LAB_DEFAULT_IMAGE", "my/dask:1")
    config = DaskK8sLab()
    assert config.namespaces == ["one", "two"] and config.default_image == "my/dask:1"
    with pytest.raises(TraitError):
        config.templates = [{"name": "a"}, {"name": "a"}]
    with pytest.raises(TraitError):
        config.templates = [{"description": "nameless"}]
    with pytest.raises(TraitError):
        config.dashboard_connection = "teleport"


async def test_unreachable_kubernetes_is_503_not_500():
    class Unreachable(FakeBackend):
        async def start(self, namespaces, sink):
            raise ConnectionRefusedError("connection refused by 10.0.0.1:6443")

    backend = Unreachable()
    service = ClusterService(DaskK8sLab(namespaces=["a"]), backend)
    await service.start()
    with pytest.raises(ApiError) as info:
        await service.list_clusters()
    assert info.value.status == 503 and "connection refused" in info.value.message

    # Kubernetes comes up later: the service keeps trying and starts serving.
    backend.start = FakeBackend.start.__get__(backend)
    backend.put("DaskCluster", {"metadata": {"name": "late", "namespace": "a"}})
    for _ in range(50):  # the first retry comes after a second
        await asyncio.sleep(0.1)
        if service._synced.is_set():
            break
    assert [c["name"] for c in await service.list_clusters()] == ["late"]
    await service.close()


async def test_watch_that_never_syncs_times_out_as_503():
    class Silent(FakeBackend):
        async def start(self, namespaces, sink):
            sink.on_watch_error("DaskCluster", "a", TimeoutError("watch stalled"))

    service = ClusterService(DaskK8sLab(namespaces=["a"]), Silent())
    await service.start()
    with pytest.raises(ApiError) as info:
        await service.ready(timeout=0.05)
    assert info.value.status == 503 and "watch stalled" in info.value.message
    await asyncio.sleep(0)


def test_serialized_list_follows_changes():
    import json

    store = ClusterStore()
    store.refresh(store.apply("DaskCluster", "ADDED", {"metadata": {"name": "one", "namespace": "a"}}))
    first = store.list_body()
    assert [c["name"] for c in json.loads(first)["clusters"]] == ["one"]
    assert store.list_body() is first  # served again without serializing
    store.refresh(store.apply("DaskCluster", "MODIFIED", {"metadata": {"name": "one", "namespace": "a"}, "status": {"phase": "Running"}}))
    assert json.loads(store.list_body())["clusters"][0]["phase"] == "Running"
    store.refresh(store.apply("DaskCluster", "DELETED", {"metadata": {"name": "one", "namespace": "a"}}))
    assert json.loads(store.list_body()) == {"clusters": [], "stale": None}
    assert json.loads(store.list_body("watch failing"))["stale"] == "watch failing"


async def test_a_deleted_cluster_leaves_nothing_behind():
    backend = FakeBackend()
    service = ClusterService(DaskK8sLab(namespaces=["a"]), backend)
    await service.start()
    backend.put("DaskCluster", {"metadata": {"name": "c", "namespace": "a"}, "status": {"phase": "Running"}})
    backend.add_worker_pod("a", "c", "default", 0, ready=False, containerStatuses=[
        {"name": "worker", "restartCount": 1, "ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}])
    service._dashboard_hosts[("a", "c")] = ("10.0.0.1", 8787)
    assert service._crash_log_tasks
    backend.remove("DaskCluster", "a", "c")
    await asyncio.sleep(0)
    assert not service._crash_log_tasks and not service._dashboard_hosts and not service._totals_tasks
    assert backend.forgotten == [("a", "c")]
    await service.close()


def test_kube_validation_errors_name_the_field():
    class ServerError(Exception):
        def __init__(self):
            super().__init__('DaskCluster.kubernetes.dask.org "x" is invalid: spec.worker.replicas: Invalid value: -1')
            self.status = {"kind": "Status", "code": 422, "details": {"causes": [
                {"reason": "FieldValueInvalid", "field": "spec.worker.replicas", "message": "Invalid value: -1"}]}}
            self.response = type("R", (), {"status_code": 422})()

    error = from_kube_error(ServerError(), "create DaskCluster a/x")
    assert error.status == 422 and error.field == "spec.worker.replicas"
    assert "spec.worker.replicas: Invalid value: -1" in error.message
