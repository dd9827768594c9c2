"""DaskCluster and DaskWorkerGroup on the local Kubernetes, with the operator installed by the chart."""

from __future__ import annotations

import time

import pytest
import yaml

from tests.fixtures.kube import wait_until
from tests.operator.helpers import (
    apply,
    dask_client,
    event_reasons,
    events,
    get,
    group_pods,
    manifest,
    pods,
    small_cluster,
    wait_phase,
    wait_ready_workers,
    with_env,
    worker_group,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dask_operator")]


def test_docs_simple_cluster_and_highmem_group(kubectl):
    """cluster.yaml and highmemworkers.yaml of the docs do what the docs say; a client computes."""
    kubectl.apply(yaml.safe_dump(manifest("cluster.yaml")))
    cluster = wait_phase(kubectl, "simple")
    assert cluster["status"]["reason"] == "SchedulerReady"
    scheduler = kubectl.json("pod", "simple-scheduler")
    assert any(c["type"] == "Ready" and c["status"] == "True"
               for c in scheduler["status"]["conditions"])  # Running means the scheduler is ready
    service = kubectl.json("service", "simple-scheduler")
    assert service["spec"]["type"] == "NodePort"
    wait_ready_workers(kubectl, "daskcluster", "simple", 2)
    workers = group_pods(kubectl, "simple-default")
    assert len(workers) == 2
    for pod in workers:
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["DASK_WORKER_NAME"] == pod["metadata"]["name"]
        assert env["DASK_SCHEDULER_ADDRESS"].startswith("tcp://simple-scheduler.")
    # printer columns: Workers, Ready, Status
    table = kubectl("get", "daskcluster", "simple")
    assert table.split("\n")[0].split()[:5] == ["NAME", "WORKERS", "READY", "STATUS", "AGE"]
    assert table.split("\n")[1].split()[1:4] == ["2", "2", "Running"]

    kubectl.apply(yaml.safe_dump(manifest("highmemworkers.yaml")))
    wait_ready_workers(kubectl, "daskworkergroup", "simple-highmem", 2)
    highmem = get(kubectl, "daskworkergroup", "simple-highmem")
    assert highmem["metadata"]["ownerReferences"][0]["name"] == "simple"  # deleted with the cluster
    with dask_client(kubectl, "simple") as client:
        client.wait_for_workers(4, timeout=60)
        assert client.submit(sum, range(10)).result() == 45
        futures = client.map(lambda x: x + 1, range(20), resources={"MEMORY": 1e9})
        assert sum(client.gather(futures)) == sum(range(1, 21))
        highmem_pods = {p["status"]["podIP"] for p in group_pods(kubectl, "simple-highmem")}
        who_ran = client.run(lambda: 1)
        assert {addr.split("://")[1].rsplit(":", 1)[0] for addr in who_ran} >= highmem_pods
    reasons = event_reasons(kubectl, "DaskCluster", "simple")
    assert {"SchedulerCreated", "ServiceCreated", "WorkerGroupCreated", "SchedulerReady"} <= set(
        reasons)
    describe = kubectl("describe", "daskcluster", "simple")
    assert "SchedulerReady" in describe and "dask-k8s-operator" in describe

    kubectl("delete", "daskcluster", "simple")
    wait_until(lambda: not pods(kubectl, "dask.org/cluster-name=simple"), 60,
               message="all pods of the cluster gone")
    assert get(kubectl, "daskworkergroup", "simple-highmem") is None


def test_scale_down_retires_only_that_groups_workers_and_keeps_data(kubectl):
    apply(kubectl, small_cluster("keep", workers=3))
    apply(kubectl, worker_group("keep-other", "keep", 1))
    wait_phase(kubectl, "keep")
    wait_ready_workers(kubectl, "daskworkergroup", "keep-default", 3)
    wait_ready_workers(kubectl, "daskworkergroup", "keep-other", 1)
    other_before = {p["metadata"]["name"] for p in group_pods(kubectl, "keep-other")}
    with dask_client(kubectl, "keep") as client:
        client.wait_for_workers(4, timeout=60)
        default_ips = {p["status"]["podIP"] for p in group_pods(kubectl, "keep-default")}
        default_workers = [w for w in client.scheduler_info()["workers"]
                           if w.split("://")[1].rsplit(":", 1)[0] in default_ips]
        # scattered data cannot be recomputed: losing any of it would fail the gather below
        futures = [client.scatter(list(range(i, i + 1000)), workers=[w])
                   for i, w in enumerate(default_workers * 4)]
        kubectl("scale", "daskworkergroup", "keep-default", "--replicas=1")
        wait_until(lambda: len(group_pods(kubectl, "keep-default")) == 1, 90,
                   message="keep-default scaled to 1 pod")
        wait_ready_workers(kubectl, "daskworkergroup", "keep-default", 1)
        values = client.gather(futures)
        assert [v[0] for v in values] == list(range(len(futures)))
        assert {p["metadata"]["name"] for p in group_pods(kubectl, "keep-other")} == other_before
        assert len(client.scheduler_info()["workers"]) == 2
    reasons = event_reasons(kubectl, "DaskWorkerGroup", "keep-default")
    assert "RetiredWorkers" in reasons and "RetireFallback" not in reasons
    assert "RetiringWorkers" not in event_reasons(kubectl, "DaskWorkerGroup", "keep-other")

    # kubectl scale daskcluster goes through the scale subresource to the default group
    kubectl("scale", "daskcluster", "keep", "--replicas=2")
    wait_ready_workers(kubectl, "daskworkergroup", "keep-default", 2)
    cluster = wait_ready_workers(kubectl, "daskcluster", "keep", 2)
    assert cluster["status"]["selector"].endswith("dask.org/workergroup-name=keep-default")
    # and scaling the default group directly is reflected in the cluster's spec
    kubectl("scale", "daskworkergroup", "keep-default", "--replicas=1")
    wait_until(lambda: get(kubectl, "daskcluster", "keep")["spec"]["worker"]["replicas"] == 1, 60,
               message="cluster spec follows the scaled default group")
    wait_ready_workers(kubectl, "daskcluster", "keep", 1)
    assert {p["metadata"]["name"] for p in group_pods(kubectl, "keep-other")} == other_before


def test_spec_change_rolls_workers_by_retirement(kubectl):
    body = small_cluster("roll", workers=2)
    apply(kubectl, body)
    wait_ready_workers(kubectl, "daskcluster", "roll", 2)
    old = {p["metadata"]["name"] for p in group_pods(kubectl, "roll-default")}
    apply(kubectl, with_env(body, ROLLED="yes"))
    history = []

    def rolled():
        current = group_pods(kubectl, "roll-default")
        history.append(len(current))
        names = {p["metadata"]["name"] for p in current}
        envs = [{e["name"]: e.get("value") for e in p["spec"]["containers"][0]["env"]}
                for p in current]
        return len(current) == 2 and not names & old and all(e.get("ROLLED") == "yes" for e in envs)

    wait_until(rolled, 120, interval=0.5, message="workers replaced with the new env")
    assert max(history) <= 3  # one at a time (surge of one)
    wait_ready_workers(kubectl, "daskworkergroup", "roll-default", 2)
    reasons = event_reasons(kubectl, "DaskWorkerGroup", "roll-default")
    assert "RollingUpdate" in reasons and "RetiredWorkers" in reasons
    assert "WorkerSpecChanged" in event_reasons(kubectl, "DaskCluster", "roll")


def test_labels_and_annotations_propagate(kubectl):
    body = small_cluster("meta", workers=1)
    body["metadata"]["labels"] = {"team": "data", "foo": "bar"}
    body["metadata"]["annotations"] = {"hello": "world", "kopf.zalando.org/x": "no"}
    body["spec"]["worker"]["metadata"] = {"labels": {"foo": "baz",
                                                     "dask.org/component": "superworker"},
                                          "annotations": {"w": "1"}}
    body["spec"]["scheduler"]["metadata"] = {"annotations": {"fizz": "buzz"}}
    apply(kubectl, body)  # kubectl adds kubectl.kubernetes.io/last-applied-configuration
    wait_ready_workers(kubectl, "daskcluster", "meta", 1)
    scheduler = kubectl.json("pod", "meta-scheduler")["metadata"]
    service = kubectl.json("service", "meta-scheduler")["metadata"]
    group = get(kubectl, "daskworkergroup", "meta-default")["metadata"]
    worker = group_pods(kubectl, "meta-default")[0]["metadata"]
    for meta in (scheduler, service):
        assert meta["annotations"]["hello"] == "world" and meta["annotations"]["fizz"] == "buzz"
        assert meta["labels"]["team"] == "data" and meta["labels"]["foo"] == "bar"
    assert scheduler["labels"]["dask.org/component"] == "scheduler"
    assert group["labels"]["foo"] == "baz" and group["annotations"]["w"] == "1"
    assert worker["labels"]["foo"] == "baz" and worker["labels"]["team"] == "data"
    assert worker["labels"]["dask.org/component"] == "worker"
    assert worker["labels"]["dask.org/workergroup-name"] == "meta-default"
    for meta in (scheduler, service, group, worker):
        assert not any(k.startswith(("kopf.zalando.org", "kubectl.kubernetes.io"))
                       for k in meta.get("annotations", {})), meta["name"]


def test_deleted_scheduler_and_worker_pods_are_replaced(kubectl):
    apply(kubectl, small_cluster("heal", workers=2))
    wait_ready_workers(kubectl, "daskcluster", "heal", 2)
    old_uid = kubectl.json("pod", "heal-scheduler")["metadata"]["uid"]
    kubectl("delete", "pod", "heal-scheduler", "--wait=false")
    wait_until(lambda: (get(kubectl, "pod", "heal-scheduler") or {}).get("metadata", {}).get(
        "uid", old_uid) != old_uid, 60, message="a new scheduler pod")
    wait_phase(kubectl, "heal")
    victim = group_pods(kubectl, "heal-default")[0]["metadata"]["name"]
    kubectl("delete", "pod", victim, "--wait=false")
    wait_until(lambda: victim not in {p["metadata"]["name"] for p in group_pods(kubectl, "heal-default")}
               and len(group_pods(kubectl, "heal-default")) == 2, 60,
               message="the deleted worker replaced")
    wait_ready_workers(kubectl, "daskcluster", "heal", 2, timeout=90)
    with dask_client(kubectl, "heal") as client:
        assert client.submit(lambda: 42).result(timeout=30) == 42


def test_broken_scheduler_is_reported_as_error_with_events(kubectl):
    body = small_cluster("broken", workers=0)
    body["spec"]["scheduler"]["spec"]["containers"][0]["image"] = "nginx:latest"
    apply(kubectl, body)
    cluster = wait_phase(kubectl, "broken", "Error", timeout=60)
    assert cluster["status"]["reason"] in ("ImagePullBackOff", "ErrImagePull")
    assert "nginx" in cluster["status"]["message"]
    warnings = [e for e in events(kubectl, "DaskCluster", "broken") if e["type"] == "Warning"]
    assert warnings and warnings[-1]["reason"] in ("ImagePullBackOff", "ErrImagePull")


def test_idle_cluster_is_deleted_and_busy_one_is_not(kubectl):
    apply(kubectl, small_cluster("busy", workers=1, idleTimeout=20))
    wait_phase(kubectl, "busy")
    with dask_client(kubectl, "busy") as client:
        # queued work keeps the scheduler busy even before the worker has connected
        future = client.submit(time.sleep, 30, pure=False)
        submitted = time.monotonic()
        apply(kubectl, small_cluster("idle", workers=0, idleTimeout=5))
        wait_until(lambda: get(kubectl, "daskcluster", "idle") is None, 90,
                   message="the idle cluster deleted")
        while time.monotonic() - submitted < 28:
            assert get(kubectl, "daskcluster", "busy") is not None, "a busy cluster was deleted"
            time.sleep(1)
        future.cancel()
    # once its work is gone the busy cluster becomes idle too, and goes after its timeout
    wait_until(lambda: get(kubectl, "daskcluster", "busy") is None, 90,
               message="the formerly busy cluster deleted once idle")
    assert "IdleTimeout" in event_reasons(kubectl, "DaskCluster", "idle")


def test_scheduler_spec_change_replaces_the_scheduler(kubectl):
    body = small_cluster("resched", workers=1)
    apply(kubectl, body)
    wait_ready_workers(kubectl, "daskcluster", "resched", 1)
    old_uid = kubectl.json("pod", "resched-scheduler")["metadata"]["uid"]
    body["spec"]["scheduler"]["spec"]["containers"][0]["env"] = [{"name": "NEW", "value": "1"}]
    apply(kubectl, body)

    def replaced():
        pod = get(kubectl, "pod", "resched-scheduler")
        return pod and pod["metadata"]["uid"] != old_uid and pod

    pod = wait_until(replaced, 60, message="a new scheduler pod")
    assert pod["spec"]["containers"][0]["env"][0] == {"name": "NEW", "value": "1"}
    wait_phase(kubectl, "resched")
    cluster = wait_ready_workers(kubectl, "daskcluster", "resched", 1)  # the worker reconnects
    assert cluster["status"]["workers"] == 1
    assert "SchedulerSpecChanged" in event_reasons(kubectl, "DaskCluster", "resched")
