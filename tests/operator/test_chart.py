"""The Helm chart, rendered with the project's own helm build (no cluster needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from local_k8s import binaries

CHART = Path(__file__).resolve().parents[2] / "operator" / "chart" / "dask-k8s-operator"

# Every parameter of the docs' "Chart Configuration Reference" table.
DOCUMENTED_VALUES = """
image.name image.tag image.pullPolicy imagePullSecrets nameOverride fullnameOverride
serviceAccount.create serviceAccount.annotations serviceAccount.name rbac.create rbac.cluster
podAnnotations podSecurityContext securityContext.capabilities.drop securityContext.runAsNonRoot
securityContext.runAsUser securityContext.allowPrivilegeEscalation
securityContext.readOnlyRootFilesystem resources volumes volumeMounts nodeSelector tolerations
affinity priorityClassName kopfArgs metrics.scheduler.enabled
metrics.scheduler.serviceMonitor.enabled metrics.scheduler.serviceMonitor.namespace
metrics.scheduler.serviceMonitor.namespaceSelector metrics.scheduler.serviceMonitor.additionalLabels
metrics.scheduler.serviceMonitor.interval metrics.scheduler.serviceMonitor.jobLabel
metrics.scheduler.serviceMonitor.targetLabels metrics.scheduler.serviceMonitor.metricRelabelings
metrics.worker.enabled metrics.worker.podMonitor.enabled metrics.worker.podMonitor.namespace
metrics.worker.podMonitor.namespaceSelector metrics.worker.podMonitor.additionalLabels
metrics.worker.podMonitor.interval metrics.worker.podMonitor.jobLabel
metrics.worker.podMonitor.podTargetLabels metrics.worker.podMonitor.metricRelabelings
workerAllocation.size workerAllocation.delay
""".split()


@pytest.fixture(scope="module")
def helm() -> str:
    if not binaries.binary("helm").exists():
        binaries.build_all()
    return str(binaries.binary("helm"))


def render(helm: str, *args: str) -> list[dict]:
    result = subprocess.run(
        [helm, "template", "rel", str(CHART), "--namespace", "ops", *args],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: list[dict]) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in docs}


def test_values_cover_the_documented_table():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for dotted in DOCUMENTED_VALUES:
        node = values
        for part in dotted.split("."):
            assert isinstance(node, dict) and part in node, f"values.yaml lacks {dotted}"
            node = node[part]


def test_default_render_is_cluster_wide_with_liveness(helm):
    docs = by_kind(render(helm))
    assert set(docs) == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment",
                         "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    deployment = docs["Deployment"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "dask-k8s-lab" in container["image"]
    assert container["command"] == ["dask-k8s-operator"]
    assert container["args"] == ["--liveness=http://0.0.0.0:8080/healthz", "--all-namespaces"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["timeoutSeconds"] == 5
    assert container["securityContext"]["runAsUser"] == 1000
    binding = docs["ClusterRoleBinding"]
    assert binding["subjects"][0] == {"kind": "ServiceAccount", "name": "rel-dask-k8s-operator",
                                      "namespace": "ops"}


def test_include_crds_renders_all_four(helm):
    docs = render(helm, "--include-crds")
    names = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition")
    assert names == sorted(f"{p}.kubernetes.dask.org" for p in
                           ["daskclusters", "daskworkergroups", "daskjobs", "daskautoscalers"])


def test_single_namespace_mode(helm):
    docs = by_kind(render(helm, "--set", "rbac.cluster=false",
                          "--set", "kopfArgs={--namespace=ops}"))
    assert "ClusterRole" not in docs and "ClusterRoleBinding" not in docs
    assert docs["Role"]["metadata"]["namespace"] == "ops"
    assert docs["RoleBinding"]["roleRef"]["kind"] == "Role"
    args = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-1] == "--namespace=ops"


def test_rbac_is_least_privilege(helm):
    rules = by_kind(render(helm))["ClusterRole"]["rules"]
    granted = {(group, resource): set(rule["verbs"])
               for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]}
    assert all("*" not in verbs for verbs in granted.values())
    assert all(resource != "*" for _, resource in granted)
    assert granted[("", "pods")] == {"get", "list", "watch", "create", "patch", "delete"}
    assert "delete" not in granted[("", "services")]  # services go with their cluster (GC)
    assert ("", "secrets") not in granted and ("apps", "deployments") not in granted
    assert ("", "namespaces") not in granted  # kopf runs with namespace scanning off
    assert granted[("kubernetes.dask.org", "daskclusters/status")] == {"get", "patch"}


def test_metrics_monitors_and_worker_allocation(helm):
    docs = by_kind(render(
        helm,
        "--set", "metrics.scheduler.enabled=true",
        "--set", "metrics.scheduler.serviceMonitor.enabled=true",
        "--set", "metrics.scheduler.serviceMonitor.metricRelabelings[0].action=drop",
        "--set", "metrics.scheduler.serviceMonitor.metricRelabelings[0].regex=foo",
        "--set", "metrics.worker.enabled=true",
        "--set", "metrics.worker.podMonitor.enabled=true",
        "--set", "metrics.worker.podMonitor.namespace=monitoring",
        "--set", "workerAllocation.size=3", "--set", "workerAllocation.delay=2",
    ))
    service_monitor = docs["ServiceMonitor"]
    assert service_monitor["spec"]["endpoints"][0]["metricRelabelings"] == [
        {"action": "drop", "regex": "foo"}]
    assert service_monitor["spec"]["targetLabels"] == ["dask.org/cluster-name"]
    pod_monitor = docs["PodMonitor"]
    assert pod_monitor["metadata"]["namespace"] == "monitoring"
    assert pod_monitor["spec"]["podTargetLabels"] == [
        "dask.org/cluster-name", "dask.org/workergroup-name"]
    env = {e["name"]: e["value"] for e in
           docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DASK_K8S_OPERATOR_WORKER_BATCH_SIZE"] == "3"
    assert env["DASK_K8S_OPERATOR_WORKER_BATCH_DELAY"] == "2"


def test_monitors_are_off_by_default(helm):
    kinds = {d["kind"] for d in render(helm, "--set", "metrics.scheduler.enabled=true")}
    assert "ServiceMonitor" not in kinds and "PodMonitor" not in kinds
