"""The chart's ValidatingAdmissionPolicy against the real API server, and PodSecurity admission.

The policy under test is rendered from the chart under its own release name and bound only to
namespaces carrying this test's label, so it never touches other tests' namespaces.
"""

from __future__ import annotations

import copy
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.fixtures.kube import Kubectl, wait_until
from tests.fixtures.operator import OPERATOR_NAMESPACE, operator_env
from tests.operator.helpers import get, manifest, small_cluster, worker_group
from tests.operator.test_chart import CHART

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dask_operator")]

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
EXEMPT_LABEL = VALUES["admissionPolicy"]["exemptNamespaceLabel"]
TEST_LABEL = "dask-k8s-lab.test/admission-policy"
ESCAPED_TEST_LABEL = TEST_LABEL.replace(".", "\\.")  # helm --set splits keys at dots
RUN = uuid.uuid4().hex[:8]


def render_policy(env: dict[str, str], release: str) -> str:
    return subprocess.run(
        ["helm", "template", release, str(CHART), "--namespace", OPERATOR_NAMESPACE,
         "--show-only", "templates/admission-policy.yaml",
         # the operator that runs in the local cluster: its own writes are not checked
         "--set", "serviceAccount.name=dask-k8s-operator", "--set", "admissionPolicy.enabled=true",
         "--set", f"admissionPolicy.namespaceSelector.matchLabels.{ESCAPED_TEST_LABEL}={RUN}"],
        env=env, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def policy(kube) -> Iterator[str]:
    """The chart's policy and binding, installed for this module's namespaces."""
    env = operator_env(kube)
    rendered = render_policy(env, f"pol-{RUN}")
    # (applied again if the API server refuses for a moment: one CI run failed here once, its
    # reason unrecorded; a refusal that lasts fails with kubectl's message)
    attempts: list[str] = []

    def applied() -> bool:
        result = subprocess.run(["kubectl", "apply", "-f", "-"], input=rendered, env=env,
                                capture_output=True, text=True)
        attempts.append(result.stderr.strip())
        return result.returncode == 0

    try:
        wait_until(applied, 60, interval=2, message="the admission policy applied")
    except AssertionError:
        raise AssertionError(f"kubectl apply of the admission policy failed: {attempts}") from None
    yield rendered
    subprocess.run(["kubectl", "delete", "-f", "-", "--ignore-not-found"], input=rendered,
                   env=env, capture_output=True, text=True)


@pytest.fixture
async def make_namespace(kube) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    import kr8s.asyncio

    from local_k8s import cluster

    made = []

    async def make(**labels: str) -> str:
        name = f"t-{uuid.uuid4().hex[:8]}"
        ns = await kr8s.asyncio.objects.Namespace(
            {"metadata": {"name": name, "labels": {TEST_LABEL: RUN, **labels}}})
        await ns.create()
        made.append(ns)
        await cluster.wait_for_default_service_account(name)
        return name

    yield make
    for ns in made:
        await ns.delete()


def kubectl_apply(namespace: str, body: dict[str, Any], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", "--namespace", namespace, "apply", *extra, "-f", "-"],
                          input=yaml.safe_dump(body), capture_output=True, text=True, timeout=60)


def wait_policy_active(namespace: str) -> None:
    """The API server loads new policies asynchronously: wait until a bad object is refused."""
    probe = small_cluster("probe")
    probe["spec"]["scheduler"]["spec"]["hostNetwork"] = True
    wait_until(lambda: kubectl_apply(namespace, probe, "--dry-run=server").returncode != 0, 30,
               message="the admission policy in force")


def bad_cluster(name: str, where: str) -> dict:
    body = small_cluster(name, workers=0)
    scheduler = body["spec"]["scheduler"]["spec"]
    worker = body["spec"]["worker"]["spec"]
    if where == "hostNetwork":
        scheduler["hostNetwork"] = True
    elif where == "hostPID":
        worker["hostPID"] = True
    elif where == "privileged":
        worker["containers"][0]["securityContext"] = {"privileged": True}
    elif where == "hostPath":
        worker["volumes"] = [{"name": "root", "hostPath": {"path": "/"}}]
        worker["containers"][0]["volumeMounts"] = [{"name": "root", "mountPath": "/host"}]
    elif where == "serviceAccountName":
        scheduler["serviceAccountName"] = "dask-k8s-operator"
    elif where == "hostPort":
        scheduler["containers"][0]["ports"][0]["hostPort"] = 8786
    elif where == "externalIPs":
        body["spec"]["scheduler"]["service"]["externalIPs"] = ["192.0.2.10"]
    return body


FIELDS = {
    "hostNetwork": "spec.scheduler.spec.hostNetwork",
    "hostPID": "spec.worker.spec.hostPID",
    "privileged": "spec.worker.spec.containers[worker].securityContext.privileged",
    "hostPath": "spec.worker.spec.volumes[root].hostPath",
    "serviceAccountName": "spec.scheduler.spec.serviceAccountName",
    "hostPort": "spec.scheduler.spec.containers[scheduler].ports.hostPort",
    "externalIPs": "spec.scheduler.service.externalIPs",
}


async def test_daskclusters_asking_for_host_access_are_rejected_naming_the_field(
        policy, make_namespace):
    namespace = await make_namespace()
    wait_policy_active(namespace)
    for where, field in FIELDS.items():
        result = kubectl_apply(namespace, bad_cluster(f"bad-{where.lower()}", where))
        assert result.returncode != 0, f"{where} accepted: {result.stdout}"
        assert field in result.stderr and "ValidatingAdmissionPolicy" in result.stderr, (
            where, result.stderr)
        assert EXEMPT_LABEL in result.stderr  # the message says how to get an exemption
    kubectl = Kubectl(namespace)
    assert kubectl.json("daskclusters")["items"] == []

    # several at once are all named; a plain cluster is accepted and may not be changed into one
    both = bad_cluster("both", "hostNetwork")
    both["spec"]["scheduler"]["service"]["externalIPs"] = ["192.0.2.10"]
    stderr = kubectl_apply(namespace, both).stderr
    assert FIELDS["hostNetwork"] in stderr and FIELDS["externalIPs"] in stderr
    good = small_cluster("good", workers=0)
    assert kubectl_apply(namespace, good).returncode == 0
    changed = copy.deepcopy(good)
    changed["spec"]["worker"]["spec"]["hostIPC"] = True
    result = kubectl_apply(namespace, changed)
    assert result.returncode != 0 and "spec.worker.spec.hostIPC" in result.stderr
    # updates that leave the spec alone pass (labels, the operator's status)
    kubectl("label", "daskcluster", "good", "team=a")


async def test_worker_groups_and_jobs_are_checked_too(policy, make_namespace):
    namespace = await make_namespace()
    wait_policy_active(namespace)
    group = worker_group("g", "somecluster", 1)
    group["spec"]["worker"]["spec"]["hostNetwork"] = True
    result = kubectl_apply(namespace, group)
    assert result.returncode != 0 and "spec.worker.spec.hostNetwork" in result.stderr

    job = manifest("job.yaml")
    del job["metadata"]["namespace"]
    job["spec"]["job"]["spec"]["serviceAccount"] = "admin"
    job["spec"]["cluster"]["spec"]["scheduler"]["service"]["externalIPs"] = ["192.0.2.10"]
    result = kubectl_apply(namespace, job)
    assert result.returncode != 0
    assert "spec.job.spec.serviceAccount" in result.stderr
    assert "spec.cluster.spec.scheduler.service.externalIPs" in result.stderr


async def test_a_namespace_labelled_exempt_accepts_them(policy, make_namespace):
    checked = await make_namespace()
    wait_policy_active(checked)
    exempt = await make_namespace(**{EXEMPT_LABEL: "true"})
    body = bad_cluster("allowed", "privileged")
    body["spec"]["scheduler"]["service"]["externalIPs"] = ["192.0.2.10"]
    assert kubectl_apply(checked, body).returncode != 0
    result = kubectl_apply(exempt, body)
    assert result.returncode == 0, result.stderr
    assert get(Kubectl(exempt), "daskcluster", "allowed") is not None
    result = kubectl_apply(exempt, bad_cluster("hostnet", "hostNetwork"), "--dry-run=server")
    assert result.returncode == 0, result.stderr


def test_the_policy_covers_what_the_chart_says(policy):
    docs = [d for d in yaml.safe_load_all(policy) if d]
    vap, binding = docs
    assert vap["kind"] == "ValidatingAdmissionPolicy" and vap["spec"]["failurePolicy"] == "Fail"
    assert vap["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == [
        "daskclusters", "daskworkergroups", "daskjobs"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    expressions = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert {"key": EXEMPT_LABEL, "operator": "NotIn", "values": ["true"]} in expressions


# ---------------------------------------------------------------------------------------------
# PodSecurity admission
# ---------------------------------------------------------------------------------------------


def host_network_pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"hostNetwork": True,
                     "containers": [{"name": "c", "image": "dask/dask:latest",
                                     "command": ["sleep", "60"]}]}}


async def test_the_api_server_enforces_pod_security_labels(make_namespace):
    baseline = await make_namespace(**{"pod-security.kubernetes.io/enforce": "baseline"})
    unlabelled = await make_namespace()
    result = kubectl_apply(baseline, host_network_pod("hostnet"), "--dry-run=server")
    assert result.returncode != 0
    assert 'violates PodSecurity "baseline:latest"' in result.stderr and "hostNetwork" in result.stderr
    assert kubectl_apply(unlabelled, host_network_pod("hostnet"), "--dry-run=server").returncode == 0


async def test_the_operator_pod_passes_the_restricted_level(kube, make_namespace):
    """The chart's operator pod, as a Pod, in a namespace that enforces "restricted"."""
    restricted = await make_namespace(**{"pod-security.kubernetes.io/enforce": "restricted"})
    env = operator_env(kube)
    rendered = subprocess.run(
        ["helm", "template", "rel", str(CHART), "--namespace", restricted,
         "--show-only", "templates/deployment.yaml"],
        env=env, capture_output=True, text=True, check=True).stdout
    template = yaml.safe_load(rendered)["spec"]["template"]
    template["spec"]["serviceAccountName"] = "default"
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "operator-pod", **template["metadata"]}, "spec": template["spec"]}
    result = kubectl_apply(restricted, pod, "--dry-run=server")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    # and without the chart's securityContext it would not
    del pod["spec"]["securityContext"]
    del pod["spec"]["containers"][0]["securityContext"]["seccompProfile"]
    result = kubectl_apply(restricted, pod, "--dry-run=server")
    assert result.returncode != 0 and "seccompProfile" in result.stderr, result.stderr

