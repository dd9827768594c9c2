"""Bad input, operator restarts and RBAC, on the local Kubernetes."""

from __future__ import annotations

import copy
import json
import os
import subprocess

import pytest
import yaml

from tests.fixtures.kube import wait_until
from tests.fixtures.operator import operator_env
from tests.operator.helpers import (
    apply,
    dask_client,
    get,
    group_pods,
    manifest,
    pods,
    small_cluster,
    wait_phase,
    wait_ready_workers,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dask_operator")]


def rejected(kubectl, body: dict) -> str:
    result = subprocess.run(["kubectl", "--namespace", kubectl.namespace, "apply", "-f", "-"],
                            input=yaml.safe_dump(body), capture_output=True, text=True)
    assert result.returncode != 0, f"accepted: {result.stdout}"
    return result.stderr


def test_invalid_manifests_are_rejected_naming_the_field(kubectl):
    base = small_cluster("valid")

    bad_name = copy.deepcopy(base)
    bad_name["metadata"]["name"] = "x" * 54
    assert "metadata.name" in rejected(kubectl, bad_name)
    dotted = copy.deepcopy(base)
    dotted["metadata"]["name"] = "invalid.chars.in.name"
    assert "metadata.name" in rejected(kubectl, dotted)

    negative = copy.deepcopy(base)
    negative["spec"]["worker"]["replicas"] = -1
    assert "spec.worker.replicas" in rejected(kubectl, negative)

    no_containers = copy.deepcopy(base)
    no_containers["spec"]["worker"]["spec"]["containers"] = []
    assert "spec.worker.spec.containers" in rejected(kubectl, no_containers)
    missing_containers = copy.deepcopy(base)
    del missing_containers["spec"]["scheduler"]["spec"]["containers"]
    assert "spec.scheduler.spec.containers" in rejected(kubectl, missing_containers)

    unknown = copy.deepcopy(base)
    unknown["spec"]["worker"]["replica"] = 3
    assert 'unknown field "spec.worker.replica"' in rejected(kubectl, unknown)
    unknown_pod_field = copy.deepcopy(base)
    unknown_pod_field["spec"]["worker"]["spec"]["containers"][0]["imagee"] = "typo"
    assert "spec.worker.spec.containers[0].imagee" in rejected(kubectl, unknown_pod_field)

    autoscaler = manifest("autoscaler.yaml")
    autoscaler["spec"].update(minimum=5, maximum=2)
    assert "spec.minimum" in rejected(kubectl, autoscaler)

    # a newer PodSpec field (sidecar containers, 1.29+) is kept, not pruned
    sidecar = copy.deepcopy(base)
    sidecar["metadata"]["name"] = "sidecar"
    sidecar["spec"]["worker"]["replicas"] = 0
    sidecar["spec"]["worker"]["spec"]["initContainers"] = [{
        "name": "side", "image": "dask/dask:latest", "restartPolicy": "Always",
        "args": ["python", "-c", "import time; time.sleep(3600)"]}]
    apply(kubectl, sidecar)
    stored = get(kubectl, "daskcluster", "sidecar")
    assert stored["spec"]["worker"]["spec"]["initContainers"][0]["restartPolicy"] == "Always"
    assert not kubectl.json("daskclusters")["items"][1:]  # nothing invalid got stored


def operator_pod(env: dict[str, str]) -> str:
    out = subprocess.run(["kubectl", "get", "pods", "-n", "dask-operator", "-o", "json",
                          "-l", "app.kubernetes.io/instance=dask-k8s-operator"],
                         capture_output=True, text=True, env=env, check=True).stdout
    live = [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]
    return live[0]["metadata"]["name"] if live else ""


def test_killing_the_operator_mid_creation_converges_without_duplicates(kube, kubectl):
    env = operator_env(kube)
    before = operator_pod(env)
    apply(kubectl, small_cluster("crash", workers=4))
    # kill the operator as soon as it has started creating the cluster's pods
    wait_until(lambda: pods(kubectl, "dask.org/cluster-name=crash"), 30, interval=0.05,
               message="the operator starting to create pods")
    subprocess.run(["kubectl", "delete", "pod", "-n", "dask-operator", before,
                    "--grace-period=0", "--force"], env=env, capture_output=True, check=True)
    wait_until(lambda: operator_pod(env) not in ("", before), 60, message="a new operator pod")
    from dask_k8s_operator import install
    install.wait_ready(env)
    wait_ready_workers(kubectl, "daskcluster", "crash", 4, timeout=120)
    all_pods = pods(kubectl, "dask.org/cluster-name=crash")
    assert len([p for p in all_pods if p["metadata"]["labels"]["dask.org/component"] == "worker"]) == 4
    assert [p["metadata"]["name"] for p in all_pods
            if p["metadata"]["labels"]["dask.org/component"] == "scheduler"] == ["crash-scheduler"]
    assert len(kubectl.json("services")["items"]) == 1
    assert len(kubectl.json("daskworkergroups")["items"]) == 1
    for pod in all_pods:  # no orphans: every pod is owned by an object that exists
        owner = pod["metadata"]["ownerReferences"][0]
        assert get(kubectl, owner["kind"].lower(), owner["name"])["metadata"]["uid"] == owner["uid"]
    # a pod's readiness can come from its conditions while the new operator cannot yet ask the
    # scheduler, so the four workers may still be registering: wait for them, bounded
    with dask_client(kubectl, "crash") as client:
        client.wait_for_workers(4, timeout=60)
        assert len(client.scheduler_info()["workers"]) == 4


def can_i(env: dict[str, str], verb: str, resource: str, namespace: str, sa: str) -> bool:
    resource, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    result = subprocess.run(["kubectl", "auth", "can-i", verb, resource, *extra, "-n", namespace,
                             f"--as=system:serviceaccount:{sa}"], capture_output=True, text=True,
                            env=env)
    return result.stdout.strip() == "yes"


def test_operator_service_account_has_only_what_it_needs(kube, namespace):
    env = operator_env(kube)
    sa = "dask-operator:dask-k8s-operator"
    for verb, resource in [("create", "pods"), ("delete", "pods"), ("patch", "daskclusters"),
                           ("patch", "daskclusters/status"), ("create", "events"),
                           ("watch", "daskworkergroups")]:
        assert can_i(env, verb, resource, namespace, sa), (verb, resource)
    for verb, resource in [("get", "secrets"), ("create", "deployments"), ("delete", "services"),
                           ("create", "pods/exec"), ("delete", "namespaces")]:
        assert not can_i(env, verb, resource, namespace, sa), (verb, resource)


@pytest.fixture
def single_namespace_operator(kube, namespace):
    """The cluster-wide operator paused, and a second release watching only ``namespace``."""
    from dask_k8s_operator import install

    env = operator_env(kube)

    def kubectl_ops(*args):
        subprocess.run(["kubectl", "-n", "dask-operator", *args], env=env, check=True,
                       capture_output=True)

    kubectl_ops("scale", "deployment/dask-k8s-operator", "--replicas=0")
    wait_until(lambda: operator_pod(env) == "", 60, message="the cluster-wide operator paused")
    try:
        install.install(env, namespace=namespace, release="ns-operator",
                        values={"rbac": {"cluster": False},
                                "kopfArgs": [f"--namespace={namespace}"]})
        yield
    finally:
        subprocess.run(["helm", "uninstall", "ns-operator", "-n", namespace, "--wait"], env=env,
                       capture_output=True)
        kubectl_ops("scale", "deployment/dask-k8s-operator", "--replicas=1")
        install.wait_ready(env)


def test_single_namespace_mode_works_with_a_role(kube, kubectl, namespace,
                                                 single_namespace_operator):
    env = operator_env(kube)
    roles = json.loads(subprocess.run(["kubectl", "get", "roles", "-n", namespace, "-o", "json"],
                                      env=env, capture_output=True, text=True).stdout)["items"]
    assert [r["metadata"]["name"] for r in roles] == ["ns-operator-dask-k8s-operator"]
    sa = f"{namespace}:ns-operator-dask-k8s-operator"
    assert can_i(env, "create", "pods", namespace, sa)
    assert not can_i(env, "create", "pods", "default", sa)
    apply(kubectl, small_cluster("solo", workers=1))
    wait_phase(kubectl, "solo")
    wait_ready_workers(kubectl, "daskcluster", "solo", 1)
    kubectl("scale", "daskworkergroup", "solo-default", "--replicas=2")
    wait_ready_workers(kubectl, "daskworkergroup", "solo-default", 2)
    with dask_client(kubectl, "solo") as client:
        assert client.submit(lambda: 7).result(timeout=30) == 7
    assert len(group_pods(kubectl, "solo-default")) == 2
    assert os.environ.get("KUBECONFIG")  # the test itself ran against the local cluster


def test_helm_template_with_crds_is_accepted_by_kubectl_apply(kube, namespace):
    """The static-manifest install path of the docs (client-side apply, so the 256 KiB
    last-applied annotation limit applies to the CRDs), checked with a server-side dry run."""
    from dask_k8s_operator import install

    env = operator_env(kube)
    rendered = subprocess.run(
        ["helm", "template", "--include-crds", "static", str(install.chart_dir()),
         "--namespace", namespace, "--set", "rbac.cluster=false",
         "--set", f"kopfArgs={{--namespace={namespace}}}"],
        env=env, capture_output=True, text=True, check=True).stdout
    result = subprocess.run(["kubectl", "apply", "--dry-run=server", "-n", namespace, "-f", "-"],
                            input=rendered, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for kind in ("customresourcedefinition.apiextensions.k8s.io/daskclusters.kubernetes.dask.org",
                 "customresourcedefinition.apiextensions.k8s.io/daskjobs.kubernetes.dask.org",
                 "role.rbac.authorization.k8s.io/static-dask-k8s-operator",
                 "deployment.apps/static-dask-k8s-operator"):
        assert kind in result.stdout


def test_recreating_a_finished_job_at_once_runs_it_again(kubectl):
    """Upstream #829: a quickly re-created DaskJob failed to spawn its runner."""
    from tests.operator.test_job_autoscaler_integration import job_manifest, job_status

    body = job_manifest("again")
    body["spec"]["cluster"]["spec"]["worker"]["replicas"] = 1
    for _ in range(2):
        apply(kubectl, body)
        status = wait_until(
            lambda: job_status(kubectl, "again").get("jobStatus") in ("Successful", "Failed")
            and job_status(kubectl, "again"), 180, message="the job to finish")
        assert status["jobStatus"] == "Successful"
        kubectl("delete", "daskjob", "again", "--wait=false")


def test_job_does_not_take_over_a_cluster_of_the_same_name(kubectl):
    from tests.operator.test_job_autoscaler_integration import job_manifest, job_status

    apply(kubectl, small_cluster("taken", workers=0))
    apply(kubectl, job_manifest("taken"))
    status = wait_until(lambda: job_status(kubectl, "taken").get("jobStatus") == "Failed"
                        and job_status(kubectl, "taken"), 60, message="the job to fail")
    assert "already exists" in status["message"]
    assert get(kubectl, "daskcluster", "taken") is not None  # the user's cluster is untouched
