"""The JupyterHub and Kubeflow deployment files, checked against a real API server: every
object passes `kubectl apply --dry-run=server`, and the RBAC really grants what the JupyterLab
server extension needs (and no more) to the account the user's server runs as."""

from __future__ import annotations

import json
import subprocess
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


# deploy/kubeflow/ is tested for real (PodDefault CRD, RBAC patch, a notebook pod) in tests/deploy/.


def _allowlist(config: str):
    """The proxy allowlist function a Jupyter config file sets."""
    class C:
        class ServerProxy:
            host_allowlist = None
    scope = {"c": C}
    exec(compile(config, "jupyter_server_config.py", "exec"), scope)
    return C.ServerProxy.host_allowlist


@pytest.mark.parametrize("host,allowed", [
    ("my-cluster-scheduler.alice.svc.cluster.local", True),
    ("localhost", True),
    ("10.96.12.34", True),        # the ClusterIP in KubeCluster's dashboard link
    ("169.254.169.254", False),   # a cloud's metadata service
    ("example.com", False),
    ("8.8.8.8", False),
])
def test_both_deployments_let_the_proxy_reach_schedulers_only(host: str, allowed: bool) -> None:
    values = yaml.safe_load((DEPLOY / "jupyterhub" / "values.yaml").read_text())
    z2jh = next(iter(values["singleuser"]["extraFiles"].values()))["stringData"]
    docs = yaml.safe_load_all((DEPLOY / "kubeflow" / "poddefault.yaml").read_text())
    kubeflow = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["jupyter_server_config.py"]
    for config in (z2jh, kubeflow):
        assert _allowlist(config)(None, host) is allowed, (host, config)
