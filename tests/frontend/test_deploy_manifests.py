"""The JupyterHub and Kubeflow deployment files, checked against a real API server: every
object passes `kubectl apply --dry-run=server`, and the RBAC really grants what the JupyterLab
server extension needs (and no more) to the account the user's server runs as."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
pytestmark = pytest.mark.integration

# (verb, resource) pairs the server extension and KubeCluster use, and some they must not get.
NEEDED = [
    ("create", "daskclusters.kubernetes.dask.org"),
    ("patch", "daskclusters.kubernetes.dask.org"),
    ("delete", "daskclusters.kubernetes.dask.org"),
    ("watch", "daskclusters.kubernetes.dask.org"),
    ("create", "daskworkergroups.kubernetes.dask.org"),
    ("delete", "daskworkergroups.kubernetes.dask.org"),
    ("patch", "daskautoscalers.kubernetes.dask.org"),
    ("watch", "pods"),
    ("get", "pods/log"),
    ("create", "pods/portforward"),
    ("get", "services"),
    ("list", "events"),
]
FORBIDDEN = [
    ("delete", "pods"),
    ("create", "pods"),
    ("create", "pods/exec"),
    ("get", "secrets"),
    ("create", "rolebindings"),
]


def _run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}:\n{result.stderr}")
    return result


def _can(namespace: str, account: str, verb: str, resource: str) -> bool:
    resource, _, sub = resource.partition("/")
    args = ["auth", "can-i", verb, resource, "-n", namespace, f"--as=system:serviceaccount:{namespace}:{account}"]
    if sub:
        args.append(f"--subresource={sub}")
    out = _run(*args, check=False)
    return out.stdout.strip() == "yes"


def _pod_with(namespace: str, env: list, volumes: list, mounts: list) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "notebook-check", "namespace": namespace},
        "spec": {
            "containers": [{"name": "notebook", "image": "jupyter-user", "env": env, "volumeMounts": mounts}],
            "volumes": volumes,
        },
    }


async def test_jupyterhub_rbac_grants_the_server_extension_what_it_needs(kubectl, namespace):
    _run("apply", "--dry-run=server", "-n", namespace, "-f", str(DEPLOY / "jupyterhub" / "rbac.yaml"))
    _run("apply", "-n", namespace, "-f", str(DEPLOY / "jupyterhub" / "rbac.yaml"))
    for verb, resource in NEEDED:
        assert _can(namespace, "dask-k8s-lab-user", verb, resource), f"cannot {verb} {resource}"
    for verb, resource in FORBIDDEN:
        assert not _can(namespace, "dask-k8s-lab-user", verb, resource), f"may {verb} {resource}"


async def test_jupyterhub_values_make_a_valid_pod(kubectl, namespace):
    values = yaml.safe_load((DEPLOY / "jupyterhub" / "values.yaml").read_text())
    single = values["singleuser"]
    assert single["serviceAccountName"] == "dask-k8s-lab-user"
    assert yaml.safe_load((DEPLOY / "jupyterhub" / "rbac.yaml").read_text().split("---")[0])["metadata"]["name"] == single["serviceAccountName"]
    env = [
        {"name": k, **(v if isinstance(v, dict) else {"value": str(v)})} for k, v in single["extraEnv"].items()
    ]
    assert {e["name"] for e in env} >= {"DASK_K8S_LAB_NAMESPACES", "DASK_DISTRIBUTED__DASHBOARD__LINK"}
    # z2jh mounts each extraFile from a Secret with a subPath; check the same shape.
    volumes, mounts = [{"name": "files", "secret": {"secretName": "singleuser"}}], []
    for key, spec in single["extraFiles"].items():
        mounts.append({"name": "files", "mountPath": spec["mountPath"], "subPath": key})
        compile(spec["stringData"], spec["mountPath"], "exec")  # the Jupyter config is valid Python
    pod = _pod_with(namespace, env, volumes, mounts)
    _run("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(pod))


async def test_kubeflow_rbac_patch_aggregates_into_kubeflow_edit(kubectl, namespace):
    _run("apply", "--dry-run=server", "-f", str(DEPLOY / "kubeflow" / "rbac-patch.yaml"))
    edit_label = "rbac.authorization.kubeflow.org/aggregate-to-kubeflow-edit=true"
    suffix = uuid.uuid4().hex[:6]
    role_name = f"kubeflow-edit-{suffix}"
    try:
        _run("apply", "-f", str(DEPLOY / "kubeflow" / "rbac-patch.yaml"))
        # Kubeflow's "kubeflow-edit" selects ClusterRoles by this label; ours must be selected.
        selected = json.loads(_run("get", "clusterroles", "-l", edit_label, "-o", "json").stdout)["items"]
        assert "kubeflow-dask-k8s-lab-edit" in {r["metadata"]["name"] for r in selected}
        # What the clusterrole-aggregation controller then does (the local control plane does not
        # run that controller): the union of the selected roles' rules, bound to default-editor.
        rules = [rule for r in selected for rule in r.get("rules", [])]
        objects = [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": role_name}, "rules": rules},
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": "default-editor", "namespace": namespace}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": "default-editor", "namespace": namespace},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
             "subjects": [{"kind": "ServiceAccount", "name": "default-editor", "namespace": namespace}]},
        ]
        for obj in objects:
            _run("apply", "-f", "-", stdin=json.dumps(obj))
        for verb, resource in NEEDED:
            assert _can(namespace, "default-editor", verb, resource), f"cannot {verb} {resource}"
        for verb, resource in FORBIDDEN:
            assert not _can(namespace, "default-editor", verb, resource), f"may {verb} {resource}"
        # Profile viewers only read.
        view = json.loads(_run("get", "clusterrole", "kubeflow-dask-k8s-lab-view", "-o", "json").stdout)
        assert view["metadata"]["labels"]["rbac.authorization.kubeflow.org/aggregate-to-kubeflow-view"] == "true"
        assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in view["rules"])
    finally:
        _run("delete", "clusterrole", role_name, "--ignore-not-found", check=False)
        _run("delete", "-f", str(DEPLOY / "kubeflow" / "rbac-patch.yaml"), "--ignore-not-found", check=False)


POD_DEFAULT_CRD = {
    # Only enough of Kubeflow's PodDefault CRD to accept the object (the local cluster has no Kubeflow).
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "poddefaults.kubeflow.org"},
    "spec": {
        "group": "kubeflow.org",
        "names": {"kind": "PodDefault", "plural": "poddefaults", "singular": "poddefault"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


async def test_kubeflow_poddefault_applies_and_injects_a_valid_pod(kubectl, namespace):
    docs = list(yaml.safe_load_all((DEPLOY / "kubeflow" / "poddefault.yaml").read_text()))
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    pod_default = next(d for d in docs if d["kind"] == "PodDefault")
    compile(config_map["data"]["jupyter_server_config.py"], "jupyter_server_config.py", "exec")
    created_crd = _run("get", "crd", "poddefaults.kubeflow.org", check=False).returncode != 0
    try:
        if created_crd:
            _run("apply", "-f", "-", stdin=json.dumps(POD_DEFAULT_CRD))
            _run("wait", "--for=condition=Established", "crd/poddefaults.kubeflow.org", "--timeout=60s")
        _run("apply", "--dry-run=server", "-n", namespace, "-f", str(DEPLOY / "kubeflow" / "poddefault.yaml"))
    finally:
        if created_crd:
            _run("delete", "crd", "poddefaults.kubeflow.org", "--ignore-not-found", check=False)
    spec = pod_default["spec"]
    # What the PodDefault webhook adds to a notebook pod must itself be a valid pod.
    mounts = spec["volumeMounts"]
    assert {m["name"] for m in mounts} == {v["name"] for v in spec["volumes"]}
    env_paths = {e["value"] for e in spec["env"] if e["name"] == "JUPYTER_CONFIG_PATH"}
    assert env_paths == {mounts[0]["mountPath"]}
    _run("apply", "--dry-run=server", "-f", "-",
         stdin=json.dumps(_pod_with(namespace, spec["env"], spec["volumes"], mounts)))
