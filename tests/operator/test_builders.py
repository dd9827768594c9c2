"""Unit tests of the pure manifest builders (no cluster)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from dask_k8s_operator import builders

MANIFESTS = Path(__file__).parent / "manifests"


def _with_server_fields(obj: dict, namespace: str = "ns", uid: str = "uid-1") -> dict:
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("namespace", namespace)
    obj["metadata"]["uid"] = uid
    return obj


@pytest.fixture
def cluster() -> dict:
    body = _with_server_fields(yaml.safe_load((MANIFESTS / "cluster.yaml").read_text()))
    body["metadata"]["labels"] = {"team": "a", "foo": "bar", "dask.org/component": "nope"}
    body["metadata"]["annotations"] = {
        "hello": "world",
        "kopf.zalando.org/last-handled-configuration": "{}",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
    }
    body["spec"]["worker"]["metadata"] = {"labels": {"foo": "baz"}, "annotations": {"w": "1"}}
    body["spec"]["scheduler"]["metadata"] = {"annotations": {"fizz": "buzz"}}
    return body


def test_metadata_precedence_is_top_then_sub_then_base():
    meta = builders.merge_metadata(
        {"labels": {"foo": "bar", "dask.org/component": "x"}, "annotations": {"a": "1"}},
        {"labels": {"foo": "baz", "dask.org/component": "superworker"}, "annotations": {"a": "2"}},
        {"dask.org/component": "worker"},
    )
    assert meta["labels"] == {"foo": "baz", "dask.org/component": "worker"}
    assert meta["annotations"] == {"a": "2"}


def test_kopf_kubectl_and_operator_annotations_are_not_copied():
    meta = builders.merge_metadata(
        {"annotations": {
            "kopf.zalando.org/touch-dummy": "x",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "kubernetes.dask.org/spec-hash": "abc",
            "keep": "me",
        }},
        None,
        {},
    )
    assert meta["annotations"] == {"keep": "me"}


def test_scheduler_pod_matches_docs_example(cluster):
    pod = builders.build_scheduler_pod(cluster)
    assert pod["metadata"]["name"] == "simple-scheduler"
    assert pod["metadata"]["namespace"] == "ns"
    assert pod["metadata"]["labels"] == {
        "team": "a", "foo": "bar",
        "dask.org/cluster-name": "simple", "dask.org/component": "scheduler",
    }
    annotations = pod["metadata"]["annotations"]
    assert annotations["hello"] == "world" and annotations["fizz"] == "buzz"
    assert not any(k.startswith(("kopf.zalando.org", "kubectl.kubernetes.io")) for k in annotations)
    assert annotations[builders.SPEC_HASH_ANNOTATION] == builders.spec_hash(
        cluster["spec"]["scheduler"]["spec"])
    owner = pod["metadata"]["ownerReferences"][0]
    assert owner == {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster",
                     "name": "simple", "uid": "uid-1", "controller": True,
                     "blockOwnerDeletion": True}
    assert pod["spec"]["containers"][0]["args"] == ["dask", "scheduler"]
    # only the routes that turn on the HTTP API the operator talks to
    assert [e["name"] for e in pod["spec"]["containers"][0]["env"]] == [
        builders.SCHEDULER_HTTP_ROUTES_ENV]


def test_scheduler_service_keeps_user_spec(cluster):
    service = builders.build_scheduler_service(cluster)
    assert service["metadata"]["name"] == "simple-scheduler"
    assert service["spec"]["type"] == "NodePort"
    assert [p["name"] for p in service["spec"]["ports"]] == ["tcp-comm", "http-dashboard"]
    assert service["metadata"]["annotations"]["fizz"] == "buzz"


def test_scheduler_service_fills_missing_selector_and_ports(cluster):
    del cluster["spec"]["scheduler"]["service"]
    service = builders.build_scheduler_service(cluster)
    assert service["spec"]["selector"] == {
        "dask.org/cluster-name": "simple", "dask.org/component": "scheduler"}
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "tcp-comm": 8786, "http-dashboard": 8787}


def test_service_drift_detects_changed_type_and_ports(cluster):
    desired = builders.build_scheduler_service(cluster)
    existing = copy.deepcopy(desired)
    existing["spec"]["ports"][0]["nodePort"] = 31000  # server-assigned, not drift
    assert builders.service_drift(desired, existing) == {}
    existing["spec"]["type"] = "ClusterIP"
    existing["spec"]["ports"] = existing["spec"]["ports"][:1]
    assert set(builders.service_drift(desired, existing)) == {"type", "ports"}


def test_default_worker_group_inherits_cluster_metadata(cluster):
    group = builders.build_default_worker_group(cluster)
    assert group["metadata"]["name"] == "simple-default"
    assert group["metadata"]["labels"]["foo"] == "baz"  # spec.worker.metadata wins
    assert group["metadata"]["labels"]["team"] == "a"
    assert group["metadata"]["labels"]["dask.org/component"] == "workergroup"
    assert group["metadata"]["annotations"]["hello"] == "world"
    assert group["metadata"]["annotations"][builders.SYNCED_REPLICAS_ANNOTATION] == "2"
    assert group["spec"] == {"cluster": "simple", "worker": cluster["spec"]["worker"]}


def _group(cluster: dict) -> dict:
    return _with_server_fields(builders.build_default_worker_group(cluster), uid="uid-g")


def test_worker_pod_env_labels_and_restart_policy(cluster):
    group = _group(cluster)
    pod = builders.build_worker_pod(group, "simple-default-worker-abc",
                                    cluster["spec"]["scheduler"]["service"])
    container = pod["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env == {
        "DASK_WORKER_NAME": "simple-default-worker-abc",
        "DASK_SCHEDULER_ADDRESS": "tcp://simple-scheduler.ns.svc.cluster.local:8786",
    }
    assert pod["metadata"]["labels"]["dask.org/component"] == "worker"
    assert pod["metadata"]["labels"]["dask.org/workergroup-name"] == "simple-default"
    assert pod["metadata"]["labels"]["dask.org/cluster-name"] == "simple"
    assert pod["metadata"]["annotations"]["w"] == "1"
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaskWorkerGroup"
    # the group's own spec is not modified
    assert "env" not in group["spec"]["worker"]["spec"]["containers"][0]


def test_worker_pod_keeps_user_env_and_restart_policy(cluster):
    group = _group(cluster)
    spec = group["spec"]["worker"]["spec"]
    spec["restartPolicy"] = "Always"
    spec["containers"][0]["env"] = [{"name": "DASK_WORKER_NAME", "value": "test-worker"}]
    spec["containers"].append({"name": "sidecar", "image": "busybox", "args": ["sleep", "1"]})
    pod = builders.build_worker_pod(group, "p")
    worker_env = pod["spec"]["containers"][0]["env"]
    assert [e["name"] for e in worker_env].count("DASK_WORKER_NAME") == 1
    assert worker_env[0]["value"] == "test-worker"
    assert {e["name"] for e in pod["spec"]["containers"][1]["env"]} == {
        "DASK_WORKER_NAME", "DASK_SCHEDULER_ADDRESS"}
    assert pod["spec"]["restartPolicy"] == "Always"


def test_scheduler_address_follows_service_port_and_domain(monkeypatch):
    service = {"ports": [{"name": "tcp-comm", "port": 9999}]}
    assert builders.scheduler_address("c", "n", service) == "tcp://c-scheduler.n.svc.cluster.local:9999"
    monkeypatch.setenv("DASK_K8S_OPERATOR_CLUSTER_DOMAIN", "corp.example")
    assert builders.scheduler_address("c", "n", None) == "tcp://c-scheduler.n.svc.corp.example:8786"


def test_worker_pod_hash_ignores_replicas(cluster):
    group = _group(cluster)
    before = builders.worker_pod_hash(group)
    group["spec"]["worker"]["replicas"] = 7
    assert builders.worker_pod_hash(group) == before
    group["spec"]["worker"]["spec"]["containers"][0]["image"] = "dask/dask:other"
    assert builders.worker_pod_hash(group) != before


def test_new_worker_pod_names_are_unique():
    names = {builders.new_worker_pod_name("g") for _ in range(200)}
    assert len(names) == 200 and all(n.startswith("g-worker-") for n in names)


@pytest.fixture
def job() -> dict:
    cluster = yaml.safe_load((MANIFESTS / "cluster.yaml").read_text())
    return _with_server_fields({
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskJob",
        "metadata": {"name": "simple-job", "labels": {"j": "1"},
                     "annotations": {"ja": "x", "kopf.zalando.org/a": "y"}},
        "spec": {
            "job": {
                "metadata": {"annotations": {"runner": "yes"}},
                "spec": {"containers": [{"name": "job", "image": "dask/dask:latest",
                                         "args": ["python", "-c", "print(1)"]}]},
            },
            "cluster": {"metadata": {"labels": {"c": "2"}}, "spec": cluster["spec"]},
        },
    }, uid="uid-job")


def test_job_cluster_is_named_like_the_job_and_owned_by_it(job):
    cluster = builders.build_job_cluster(job)
    assert cluster["kind"] == "DaskCluster"
    assert cluster["metadata"]["name"] == "simple-job"
    assert cluster["metadata"]["labels"] == {"j": "1", "c": "2"}
    assert cluster["metadata"]["annotations"] == {"ja": "x"}
    assert builders.is_owned_by(cluster, job)
    assert cluster["spec"] == job["spec"]["cluster"]["spec"]


def test_job_runner_pod(job):
    pod = builders.build_job_runner_pod(job)
    assert pod["metadata"]["name"] == "simple-job-runner"
    assert pod["metadata"]["labels"]["dask.org/component"] == "job-runner"
    assert pod["metadata"]["labels"]["dask.org/cluster-name"] == "simple-job"
    assert pod["metadata"]["annotations"] == {"ja": "x", "runner": "yes"}
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    assert pod["spec"]["containers"][0]["env"] == [{
        "name": "DASK_SCHEDULER_ADDRESS",
        "value": "tcp://simple-job-scheduler.ns.svc.cluster.local:8786",
    }]
    assert builders.is_owned_by(pod, job)
