"""A DaskJob's status names its runner pod as soon as its cluster is created (as dask-kubernetes'
does), before the runner exists; the kr8s helpers of DaskJob find the cluster and, once it
starts, the runner."""

from __future__ import annotations

import asyncio

import kr8s
import pytest

from dask_k8s_common.resources import DaskJob
from tests.fixtures.kube import wait_until
from tests.operator.helpers import apply, event_reasons, get
from tests.operator.test_job_autoscaler_integration import job_manifest, job_status

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dask_operator"), pytest.mark.timeout(300)]


def _probe_path(body: dict, path: str) -> None:
    probe = body["spec"]["scheduler"]["spec"]["containers"][0]["readinessProbe"]
    probe["httpGet"]["path"] = path


async def _helpers(namespace: str, name: str) -> tuple[str, str, bool]:
    job = await DaskJob.get(name, namespace=namespace)
    cluster = await job.cluster()
    try:
        await job.pod()
        has_runner = True
    except kr8s.NotFoundError:
        has_runner = False
    return type(cluster).__name__, cluster.name, has_runner


def test_runner_pod_name_is_reported_when_the_cluster_is_created(kubectl, namespace):
    name = "held-job"
    body = job_manifest(name)
    body["spec"]["cluster"]["spec"]["worker"]["replicas"] = 1
    # a scheduler that never turns ready holds the job at ClusterCreated: the runner only starts
    # once its scheduler is ready
    _probe_path(body["spec"]["cluster"], "/no-such-page")
    apply(kubectl, body)

    status = wait_until(lambda: (s := job_status(kubectl, name)).get("jobStatus") == "ClusterCreated" and s,
                        120, interval=0.2, message="the job's cluster to be created")
    assert status["clusterName"] == name
    assert status["jobRunnerPodName"] == f"{name}-runner"
    wait_until(lambda: get(kubectl, "pod", f"{name}-scheduler"), 60, message="the scheduler pod")
    assert get(kubectl, "pod", f"{name}-runner") is None
    assert "RunnerCreated" not in event_reasons(kubectl, "DaskJob", name)
    assert asyncio.run(_helpers(namespace, name)) == ("DaskCluster", name, False)

    # let the scheduler become ready: the runner starts under the name already reported
    kubectl("patch", "daskcluster", name, "--type=json", "-p",
            '[{"op": "replace", "path": "/spec/scheduler/spec/containers/0/readinessProbe/httpGet/path",'
            ' "value": "/health"}]')
    status = wait_until(lambda: (s := job_status(kubectl, name)).get("jobStatus") in ("Successful", "Failed") and s,
                        240, interval=0.5, message="the job to finish")
    assert status["jobStatus"] == "Successful", status
    assert status["jobRunnerPodName"] == f"{name}-runner"
    assert kubectl.json("pod", f"{name}-runner")["status"]["phase"] == "Succeeded"
    assert asyncio.run(_runner_of(namespace, name)) == ("Pod", f"{name}-runner")
    assert "RunnerCreated" in event_reasons(kubectl, "DaskJob", name)


async def _runner_of(namespace: str, name: str) -> tuple[str, str]:
    pod = await (await DaskJob.get(name, namespace=namespace)).pod()
    return type(pod).__name__, pod.name
