"""deploy/kubeflow/ applied for real: the RBAC patch on (stand-ins of) Kubeflow's aggregated roles,
the PodDefault on its CRD, and a notebook pod with the documented label running a Dask cluster.

The local Kubernetes has no Kubeflow, so three things stand in for it, all under kubeflow/ here:
the PodDefault CRD, the kubeflow-edit/-view ClusterRoles and the profile namespace's
default-editor account with its binding. There is no PodDefault admission webhook either:
``poddefaults.apply_pod_defaults`` merges the PodDefault read back from the API server into the
notebook pod, as the webhook would when the pod is created.
"""

from __future__ import annotations

import fcntl
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.kube import Kubectl, wait_until

from .poddefaults import APPLIED_ANNOTATION, apply_pod_defaults

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

HERE = Path(__file__).resolve().parent / "kubeflow"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubeflow"
RBAC_PATCH = DEPLOY / "rbac-patch.yaml"
POD_DEFAULT = DEPLOY / "poddefault.yaml"
CRD_NAME = "poddefaults.kubeflow.org"
ACCOUNT = "default-editor"  # what Kubeflow's notebooks run as
# The label the notebook form adds when "Dask on Kubernetes" is ticked (deploy/README.md).
DOCUMENTED_LABELS = {"dask-k8s-lab": "true"}
# A Jupyter image: the local Kubernetes runs it from the project's environment, dask-k8s-lab included.
NOTEBOOK_IMAGE = "dask-k8s-lab/jupyter:local"
NOTEBOOK = "dask-notebook"

DASK = "kubernetes.dask.org"
# (verb, resource) that the server extension and KubeCluster use in the notebook's namespace.
NEEDED = [
    *((verb, f"daskclusters.{DASK}") for verb in ("get", "list", "watch", "create", "patch", "delete")),
    *((verb, f"daskworkergroups.{DASK}") for verb in ("get", "list", "create", "patch", "delete")),
    *((verb, f"daskautoscalers.{DASK}") for verb in ("get", "create", "patch", "delete")),
    *((verb, f"daskjobs.{DASK}") for verb in ("get", "list", "create", "delete")),
    ("patch", f"daskclusters.{DASK}/scale"),
    *((verb, "pods") for verb in ("get", "list", "watch")),
    ("get", "pods/log"),
    ("create", "pods/portforward"),
    ("get", "services"),
    ("list", "services"),
    ("list", "events"),
    ("list", "events.events.k8s.io"),
    ("list", "resourcequotas"),
    ("list", "limitranges"),
]
# What the patch must not give (Kubernetes' own "edit" role, aggregated in real Kubeflow, does;
# the stand-in kubeflow-edit leaves it out to show what the patch itself grants).
FORBIDDEN = [("delete", "pods"), ("create", "pods/exec"), ("get", "secrets"), ("create", "rolebindings")]
LOCK = Path(tempfile.gettempdir()) / "dask-k8s-lab-kubeflow-rbac.lock"


def can(kubectl: Kubectl, verb: str, resource: str) -> bool:
    resource, _, sub = resource.partition("/")
    args = ["auth", "can-i", verb, resource, f"--as=system:serviceaccount:{kubectl.namespace}:{ACCOUNT}"]
    if sub:
        args.append(f"--subresource={sub}")
    return kubectl(*args, check=False).strip() == "yes"


def edit_grants_dask(kubectl: Kubectl) -> bool:
    """Whether the aggregation controller has put Dask rules into kubeflow-edit."""
    rules = kubectl.json("clusterrole", "kubeflow-edit").get("rules") or []
    return any(DASK in (rule.get("apiGroups") or []) for rule in rules)


@pytest.fixture(scope="session")
def poddefault_crd(kube) -> str:
    """Kubeflow's PodDefault CRD (our stand-in), Established. Kept: other tests may use it, and
    applying it again is a no-op."""
    kubectl = Kubectl("default")
    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=dask-k8s-lab-tests",
            "-f", str(HERE / "poddefault-crd.yaml"))
    kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    return CRD_NAME


@pytest.fixture
def profile(kubectl: Kubectl) -> Iterator[Kubectl]:
    """A Kubeflow profile namespace: kubeflow-edit bound to default-editor.

    The RBAC patch is cluster-wide, so tests that apply or remove it hold a lock (other pytest
    processes share the cluster) and remove it when done.
    """
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kubectl("apply", "-f", str(HERE / "kubeflow-roles.yaml"))
        kubectl("apply", "-f", str(HERE / "profile.yaml"))
        try:
            yield kubectl
        finally:
            kubectl("delete", "--ignore-not-found", "-f", str(RBAC_PATCH), check=False)


def apply_rbac_patch(kubectl: Kubectl) -> None:
    """Apply the patch as written and wait until the API server authorizes with it."""
    kubectl("apply", "-f", str(RBAC_PATCH))
    names = kubectl("get", "-f", str(RBAC_PATCH), "-o", "name").split()
    assert names == ["clusterrole.rbac.authorization.k8s.io/kubeflow-dask-k8s-lab-edit",
                     "clusterrole.rbac.authorization.k8s.io/kubeflow-dask-k8s-lab-view"]
    wait_until(lambda: edit_grants_dask(kubectl),
               message="the aggregation controller to add the patch to kubeflow-edit")
    wait_until(lambda: can(kubectl, *NEEDED[0]), message=f"{ACCOUNT} to be granted {NEEDED[0]}")


def test_rbac_patch_is_enough_and_needed(profile: Kubectl) -> None:
    apply_rbac_patch(profile)
    missing = [f"{verb} {resource}" for verb, resource in NEEDED if not can(profile, verb, resource)]
    assert not missing, f"{ACCOUNT} with the patch still may not: {missing}"
    extra = [f"{verb} {resource}" for verb, resource in FORBIDDEN if can(profile, verb, resource)]
    assert not extra, f"the patch gives {ACCOUNT} more than it needs: {extra}"

    # Without it (the binding is known to work now), kubeflow-edit gives no Dask rights.
    profile("delete", "-f", str(RBAC_PATCH))
    wait_until(lambda: not edit_grants_dask(profile), message="the aggregation controller to drop the patch")
    wait_until(lambda: not can(profile, *NEEDED[0]), message=f"{ACCOUNT} to lose {NEEDED[0]}")
    granted = [f"{verb} {resource}" for verb, resource in NEEDED if DASK in resource and can(profile, verb, resource)]
    assert not granted, f"{ACCOUNT} manages Dask resources without the patch: {granted}"


def notebook_pod(namespace: str) -> dict:
    """A notebook pod as Kubeflow's notebook controller makes it (a StatefulSet's pod, here a bare
    pod that runs once), with the label the notebook form adds for the ticked configuration."""
    session = (HERE / "notebook_session.py").read_text()
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{NOTEBOOK}-0",
            "namespace": namespace,
            "labels": {"app": NOTEBOOK, "notebook-name": NOTEBOOK, "statefulset": NOTEBOOK, **DOCUMENTED_LABELS},
        },
        "spec": {
            "serviceAccountName": ACCOUNT,
            "restartPolicy": "Never",
            "containers": [{
                "name": NOTEBOOK,
                "image": NOTEBOOK_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "command": ["python", "-c", session],
                "env": [{"name": "NB_PREFIX", "value": f"/notebook/{namespace}/{NOTEBOOK}"}],
                "ports": [{"name": "notebook-port", "containerPort": 8888, "protocol": "TCP"}],
            }],
        },
    }


def test_notebook_with_the_poddefault_runs_a_cluster(poddefault_crd, profile: Kubectl, dask_operator,
                                                        namespace: str) -> None:
    kubectl = profile
    apply_rbac_patch(kubectl)
    kubectl("apply", "-f", str(POD_DEFAULT))
    assert kubectl("get", "-f", str(POD_DEFAULT), "-o", "name").split() == [
        "configmap/dask-k8s-lab-jupyter-config", "poddefault.kubeflow.org/dask-k8s-lab"]

    pod = apply_pod_defaults(notebook_pod(namespace), kubectl.json("poddefaults")["items"])
    assert APPLIED_ANNOTATION.format(name="dask-k8s-lab") in pod["metadata"]["annotations"], \
        f"the PodDefault does not select a pod labelled {DOCUMENTED_LABELS}"
    kubectl.apply(json.dumps(pod))
    name = pod["metadata"]["name"]
    phase = wait_until(
        lambda: kubectl.json("pod", name).get("status", {}).get("phase") in ("Succeeded", "Failed")
        and kubectl.json("pod", name)["status"]["phase"],
        timeout=480, interval=1, message="the notebook pod to finish")
    logs = kubectl("logs", name)
    assert phase == "Succeeded", logs
    result = json.loads(next(line for line in logs.splitlines() if line.startswith("RESULT "))[len("RESULT "):])

    prefix = f"/notebook/{namespace}/{NOTEBOOK}"
    assert result["sum"] == 3
    assert result["namespace"] == namespace == result["namespaces_env"]
    # The dashboard link opens through the notebook server, whose proxy the PodDefault's Jupyter
    # config allows to reach the scheduler.
    assert result["dashboard_link"].startswith(f"{prefix}/proxy/"), result
    assert (result["dashboard_status"], result["dashboard_is_dask"]) == (200, True), result
    # The sidebar's REST API, set by the PodDefault to the profile namespace, lists the cluster.
    assert result["rest_status"] == 200 and f"{namespace}/kf-notebook" in result["rest_clusters"], result
    # Leaving KubeCluster's `with` block deleted its cluster; the one made through the sidebar's
    # API belongs to the notebook's pod (from the PodDefault's env) and goes with it.
    assert result["sidebar_create_status"] in (200, 201), result
    uid = kubectl.json("pod", name)["metadata"]["uid"]
    wait_until(lambda: [c["metadata"]["name"] for c in kubectl.json("daskclusters")["items"]] == ["kf-sidebar"],
               message="only the sidebar's cluster to be left")
    owners = kubectl.json("daskcluster", "kf-sidebar")["metadata"].get("ownerReferences")
    assert owners == [{"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}]
    kubectl("delete", "pod", name)
    wait_until(lambda: not kubectl.json("daskclusters")["items"], timeout=120,
               message="the sidebar's cluster to go with the notebook pod")
