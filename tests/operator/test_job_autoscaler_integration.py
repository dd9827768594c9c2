"""DaskJob and DaskAutoscaler on the local Kubernetes, with the operator installed by the chart."""

from __future__ import annotations

import datetime
import time

import pytest

from tests.fixtures.kube import wait_until
from tests.operator.helpers import (
    apply,
    dask_client,
    event_reasons,
    get,
    group_pods,
    manifest,
    pods,
    small_cluster,
    wait_ready_workers,
    worker_group,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dask_operator")]


def job_manifest(name: str = "simple-job") -> dict:
    body = manifest("job.yaml")
    del body["metadata"]["namespace"]  # applied into the test's namespace
    body["metadata"]["name"] = name
    service = body["spec"]["cluster"]["spec"]["scheduler"]["service"]
    service["selector"]["dask.org/cluster-name"] = name
    probe = body["spec"]["cluster"]["spec"]["scheduler"]["spec"]["containers"][0]["readinessProbe"]
    probe.update(initialDelaySeconds=0, periodSeconds=1)
    return body


def job_status(kubectl, name: str) -> dict:
    return (get(kubectl, "daskjob", name) or {}).get("status") or {}


def parse(ts: str) -> datetime.datetime:
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")


def test_docs_job_runs_to_success_and_removes_its_cluster(kubectl):
    body = job_manifest()
    body["metadata"]["annotations"] = {"job-note": "kept"}
    apply(kubectl, body)
    seen = set()

    def finished():
        status = job_status(kubectl, "simple-job")
        seen.add(status.get("jobStatus"))
        return status if status.get("jobStatus") in ("Successful", "Failed") else None

    status = wait_until(finished, 180, interval=0.2, message="the job to finish")
    assert status["jobStatus"] == "Successful", status
    assert {"ClusterCreated", "Running"} & seen
    assert status["clusterName"] == "simple-job"
    assert status["jobRunnerPodName"] == "simple-job-runner"
    assert parse(status["startTime"]) <= parse(status["endTime"])
    wait_until(lambda: get(kubectl, "daskcluster", "simple-job") is None, 60,
               message="the job's cluster removed")
    wait_until(lambda: not pods(kubectl, "dask.org/cluster-name=simple-job,"
                                         "dask.org/component in (scheduler,worker)"), 60,
               message="the cluster's pods removed")
    runner = kubectl.json("pod", "simple-job-runner")  # kept for its logs
    assert runner["status"]["phase"] == "Succeeded"
    assert runner["metadata"]["annotations"]["job-note"] == "kept"
    assert "job done" in kubectl("logs", "simple-job-runner")
    assert {"ClusterCreated", "RunnerCreated", "JobSuccessful"} <= set(
        event_reasons(kubectl, "DaskJob", "simple-job"))
    kubectl("delete", "daskjob", "simple-job")
    wait_until(lambda: get(kubectl, "pod", "simple-job-runner") is None, 60,
               message="deleting the job removes the runner")


def test_failing_job_ends_failed_and_removes_its_cluster(kubectl):
    body = job_manifest("failing-job")
    runner = body["spec"]["job"]["spec"]
    runner["restartPolicy"] = "Never"
    runner["containers"][0]["args"] = ["python", "-c", "import sys; sys.exit(3)"]
    body["spec"]["cluster"]["spec"]["worker"]["replicas"] = 1
    apply(kubectl, body)
    status = wait_until(
        lambda: (s := job_status(kubectl, "failing-job")).get("jobStatus") in (
            "Successful", "Failed") and s, 180, message="the job to finish")
    assert status["jobStatus"] == "Failed"
    wait_until(lambda: get(kubectl, "daskcluster", "failing-job") is None, 60,
               message="the failed job's cluster removed")


def test_deleting_a_running_job_removes_everything(kubectl):
    body = job_manifest("long-job")
    body["spec"]["job"]["spec"]["containers"][0]["args"] = [
        "python", "-c", "import time; from dask.distributed import Client; Client(); time.sleep(600)"]
    body["spec"]["cluster"]["spec"]["worker"]["replicas"] = 1
    apply(kubectl, body)
    wait_until(lambda: job_status(kubectl, "long-job").get("jobStatus") == "Running", 120,
               message="the job running")
    kubectl("delete", "daskjob", "long-job", "--wait=false")
    wait_until(lambda: not pods(kubectl, "dask.org/cluster-name=long-job"), 90,
               message="every pod of the job gone")
    assert get(kubectl, "daskcluster", "long-job") is None


def test_docs_autoscaler_scales_the_default_group_and_leaves_it_when_deleted(kubectl):
    apply(kubectl, small_cluster("simple", workers=2))
    wait_ready_workers(kubectl, "daskcluster", "simple", 2)
    autoscaler = manifest("autoscaler.yaml")
    autoscaler["spec"].update(maximum=3, scaleDownDelaySeconds=3, intervalSeconds=1)  # gentle on 2 cores
    apply(kubectl, autoscaler)
    # an idle cluster's adaptive target is below 2: after the delay it goes to the minimum of 1
    wait_until(lambda: len(group_pods(kubectl, "simple-default")) == 1, 90,
               message="the autoscaler scaled down to the minimum")
    status = get(kubectl, "daskautoscaler", "simple")["status"]
    assert status["workerGroup"] == "simple-default" and status["desiredReplicas"] == 1
    assert get(kubectl, "daskautoscaler", "simple")["metadata"]["ownerReferences"][0][
        "name"] == "simple"
    assert "Autoscaled" in event_reasons(kubectl, "DaskAutoscaler", "simple")
    with dask_client(kubectl, "simple") as client:
        # plenty of slow work: the scheduler asks for more workers, clamped to the maximum
        futures = client.map(lambda i: time.sleep(0.5) or i, range(200), pure=False)
        wait_until(lambda: get(kubectl, "daskworkergroup", "simple-default")["spec"]["worker"][
            "replicas"] > 1, 90, message="the autoscaler scaled up")
        wait_until(lambda: len(group_pods(kubectl, "simple-default")) > 1, 90,
                   message="more worker pods")
        kubectl("delete", "daskautoscaler", "simple")
        replicas = get(kubectl, "daskworkergroup", "simple-default")["spec"]["worker"]["replicas"]
        assert 1 < replicas <= 3
        client.cancel(futures)
    # deleting the autoscaler leaves the replicas where it put them
    time.sleep(8)
    assert get(kubectl, "daskworkergroup", "simple-default")["spec"]["worker"]["replicas"] == replicas


def test_autoscaler_for_a_named_group_leaves_other_groups_alone(kubectl):
    apply(kubectl, small_cluster("multi", workers=1))
    apply(kubectl, worker_group("multi-extra", "multi", 2))
    wait_ready_workers(kubectl, "daskworkergroup", "multi-extra", 2)
    default_before = {p["metadata"]["name"] for p in group_pods(kubectl, "multi-default")}
    apply(kubectl, {
        "apiVersion": "kubernetes.dask.org/v1", "kind": "DaskAutoscaler",
        "metadata": {"name": "multi-extra"},
        "spec": {"cluster": "multi", "workerGroup": "multi-extra", "minimum": 0, "maximum": 3,
                 "scaleDownDelaySeconds": 2, "intervalSeconds": 1},
    })
    wait_until(lambda: len(group_pods(kubectl, "multi-extra")) == 0, 90,
               message="the named group scaled down")
    assert {p["metadata"]["name"] for p in group_pods(kubectl, "multi-default")} == default_before
    assert get(kubectl, "daskworkergroup", "multi-default")["spec"]["worker"]["replicas"] == 1
