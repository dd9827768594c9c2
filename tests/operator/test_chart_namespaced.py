"""The chart in namespaced mode (``rbac.cluster=false``): rendered, then installed in the local
cluster watching two namespaces from a namespace that enforces PodSecurity "restricted"."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.fixtures.kube import Kubectl, wait_until
from tests.fixtures.operator import OPERATOR_NAMESPACE, OPERATOR_RELEASE, operator_env
from tests.operator.helpers import apply, dask_client, small_cluster, wait_phase, wait_ready_workers
from tests.operator.test_chart import by_kind, helm, render  # noqa: F401  (helm is a fixture)


def args_of(docs: list[dict]) -> list[str]:
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_namespaced_mode_watches_the_release_namespace_by_default(helm):
    docs = render(helm, "--set", "rbac.cluster=false")
    assert args_of(docs)[1:] == ["--namespace=ops"]
    roles = [(d["kind"], d["metadata"]["namespace"]) for d in docs
             if d["kind"] in ("Role", "RoleBinding")]
    assert roles == [("Role", "ops"), ("RoleBinding", "ops")]
    assert not {"ClusterRole", "ClusterRoleBinding"} & {d["kind"] for d in docs}


def test_namespaced_mode_with_several_namespaces(helm):
    docs = render(helm, "--set", "rbac.cluster=false", "--set", "watchNamespaces={team-a,team-b}")
    assert args_of(docs)[1:] == ["--namespace=team-a", "--namespace=team-b"]
    roles = sorted((d["kind"], d["metadata"]["namespace"]) for d in docs
                   if d["kind"] in ("Role", "RoleBinding"))
    assert roles == [("Role", "team-a"), ("Role", "team-b"),
                     ("RoleBinding", "team-a"), ("RoleBinding", "team-b")]
    for binding in (d for d in docs if d["kind"] == "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "rel-dask-k8s-operator",
                                        "namespace": "ops"}]
    # the policy is bound to the watched namespaces only
    binding = by_kind(docs)["ValidatingAdmissionPolicyBinding"]
    expressions = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert {"key": "kubernetes.io/metadata.name", "operator": "In",
            "values": ["team-a", "team-b"]} in expressions


def test_kopf_args_that_name_namespaces_win(helm):
    assert args_of(render(helm, "--set", "kopfArgs={--namespace=x,--verbose}"))[1:] == [
        "--namespace=x", "--verbose"]
    assert args_of(render(helm, "--set", "kopfArgs={--verbose}"))[1:] == [
        "--all-namespaces", "--verbose"]


def test_the_operator_pod_is_restricted_compliant(helm):
    spec = by_kind(render(helm))["Deployment"]["spec"]["template"]["spec"]
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["runAsNonRoot"] is True
    container = spec["containers"][0]["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]


def test_the_admission_policy_can_be_turned_off(helm):
    kinds = {d["kind"] for d in render(helm, "--set", "admissionPolicy.enabled=false")}
    assert "ValidatingAdmissionPolicy" not in kinds
    assert "ValidatingAdmissionPolicyBinding" not in kinds


# ---------------------------------------------------------------------------------------------
# integration
# ---------------------------------------------------------------------------------------------


def can_i(env: dict[str, str], verb: str, resource: str, namespace: str, sa: str) -> bool:
    result = subprocess.run(["kubectl", "auth", "can-i", verb, resource, "-n", namespace,
                             f"--as=system:serviceaccount:{sa}"], capture_output=True, text=True,
                            env=env)
    return result.stdout.strip() == "yes"


def operator_pods(env: dict[str, str], namespace: str, release: str) -> list[dict]:
    out = subprocess.run(["kubectl", "get", "pods", "-n", namespace, "-o", "json",
                          f"--selector=app.kubernetes.io/instance={release}"],
                         env=env, capture_output=True, text=True, check=True).stdout
    return [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]


@pytest.fixture
async def namespaces(kube) -> AsyncIterator[dict[str, str]]:
    """An operator namespace that enforces "restricted", two watched ones and an unwatched one."""
    import kr8s.asyncio

    from local_k8s import cluster

    names = {role: f"t-{role}-{uuid.uuid4().hex[:6]}" for role in ("ops", "a", "b", "other")}
    made = []
    for role, name in names.items():
        labels = {"pod-security.kubernetes.io/enforce": "restricted"} if role == "ops" else {}
        ns = await kr8s.asyncio.objects.Namespace({"metadata": {"name": name, "labels": labels}})
        await ns.create()
        made.append(ns)
        await cluster.wait_for_default_service_account(name)
    yield names
    for ns in made:
        await ns.delete()


@pytest.mark.integration
@pytest.mark.last(1)  # pauses the shared cluster-wide operator
@pytest.mark.usefixtures("dask_operator")
def test_namespaced_install_watches_several_namespaces_from_a_restricted_one(kube, namespaces):
    from dask_k8s_operator import install

    env = operator_env(kube)
    release = "nsop"
    ops, a, b, other = namespaces["ops"], namespaces["a"], namespaces["b"], namespaces["other"]

    def scale_shared(replicas: int) -> None:
        subprocess.run(["kubectl", "-n", OPERATOR_NAMESPACE, "scale",
                        f"deployment/{OPERATOR_RELEASE}", f"--replicas={replicas}"],
                       env=env, check=True, capture_output=True)

    scale_shared(0)
    try:
        wait_until(lambda: not operator_pods(env, OPERATOR_NAMESPACE, OPERATOR_RELEASE), 60,
                   message="the cluster-wide operator paused")
        # Ready in a namespace that enforces "restricted": PodSecurity admitted its pod
        install.install(env, namespace=ops, release=release,
                        values={"rbac": {"cluster": False}, "watchNamespaces": [a, b]})
        pod = operator_pods(env, ops, release)[0]
        assert pod["spec"]["containers"][0]["args"][1:] == [f"--namespace={a}", f"--namespace={b}"]

        sa = f"{ops}:{release}-dask-k8s-operator"
        for namespace in (a, b):
            assert can_i(env, "create", "pods", namespace, sa)
            assert can_i(env, "watch", "daskclusters", namespace, sa)
        for namespace in (ops, other, "default"):
            assert not can_i(env, "create", "pods", namespace, sa)
        cluster_wide = subprocess.run(
            ["kubectl", "auth", "can-i", "list", "daskclusters", "--all-namespaces",
             f"--as=system:serviceaccount:{sa}"], capture_output=True, text=True, env=env)
        assert cluster_wide.stdout.strip() == "no"

        for namespace in (a, b):
            kubectl = Kubectl(namespace)
            apply(kubectl, small_cluster("solo", workers=1))
        for namespace in (a, b):
            kubectl = Kubectl(namespace)
            wait_phase(kubectl, "solo")
            wait_ready_workers(kubectl, "daskcluster", "solo", 1)
            with dask_client(kubectl, "solo") as client:
                assert client.submit(lambda: 7).result(timeout=30) == 7
        # the operator's log has no permission errors (it never looks outside a and b)
        logs = subprocess.run(["kubectl", "logs", "-n", ops, pod["metadata"]["name"]],
                              env=env, capture_output=True, text=True).stdout
        # (the API server's refusal says "Forbidden"/"forbidden" with its 403; a bare "403" also
        # turns up in the log's millisecond timestamps)
        assert "forbidden" not in logs.lower(), logs[-2000:]
    finally:
        subprocess.run(["helm", "uninstall", release, "-n", ops, "--wait"], env=env,
                       capture_output=True)
        scale_shared(1)
        install.wait_ready(env)
