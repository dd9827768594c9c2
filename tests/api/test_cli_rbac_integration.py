"""The `dask kubernetes` commands and the shipped client RBAC, on the local Kubernetes."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import kr8s
import pytest
import yaml
from distributed import Client

import dask_k8s_lab

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

RBAC = pathlib.Path(dask_k8s_lab.__file__).parent / "manifests" / "client-rbac.yaml"
CLI = [sys.executable, "-c", "from dask_k8s_lab.kubernetes_cli import main; main()"]


def kubectl(*args: str, input: str | None = None) -> str:
    result = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gen_cluster_applies_and_port_forward_serves_it(operated_namespace):
    ns = operated_namespace
    name = f"cli-{uuid.uuid4().hex[:6]}"
    manifest = subprocess.run([*CLI, "gen", "cluster", "--name", name, "--n-workers", "1"], capture_output=True, text=True, check=True).stdout
    kubectl("apply", "-n", ns, "-f", "-", input=manifest)
    forward = subprocess.Popen(
        [*CLI, "port-forward", name, "--namespace", ns], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = forward.stdout.readline()
        assert line.startswith("Scheduler: tcp://127.0.0.1:"), line + forward.stderr.read()
        address = line.split()[1]
        dashboard = forward.stdout.readline()
        assert dashboard.startswith("Dashboard: http://127.0.0.1:")
        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=120)
            assert client.submit(lambda: "via cli").result() == "via cli"
    finally:
        forward.send_signal(signal.SIGINT)
        forward.wait(30)
    assert forward.returncode == 0
    # port-forward attaches; it never deletes the cluster.
    assert name in kubectl("get", "daskclusters", "-n", ns, "-o", "name")
    kubectl("delete", "daskcluster", name, "-n", ns, "--wait=true")


POD_SCRIPT = textwrap.dedent(
    """
    from distributed import Client
    from dask_k8s_lab import KubeCluster

    with KubeCluster(name="from-pod", n_workers=1, quiet=True) as cluster:
        cluster.scale(2)
        cluster.wait_for_workers(2, timeout=150)
        with Client(cluster) as client:
            assert client.submit(lambda: 41 + 1).result() == 42
        logs = cluster.get_logs()
        assert any("scheduler" in pod for pod in logs), list(logs)
    print("CLIENT-RBAC-OK", flush=True)
    """
)


def run_pod(ns: str, name: str, service_account: str, script: str, timeout: float = 300) -> tuple[str, str]:
    pod = kr8s.objects.Pod(
        {
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "serviceAccountName": service_account,
                "restartPolicy": "Never",
                "containers": [{"name": "client", "image": "jupyter/base-notebook:latest", "command": ["python", "-c", script]}],
            },
        }
    )
    pod.create()
    deadline = time.monotonic() + timeout
    while True:
        pod.refresh()
        phase = pod.status.get("phase")
        if phase in ("Succeeded", "Failed"):
            return phase, "\n".join(pod.logs())
        assert time.monotonic() < deadline, f"pod {name} still {phase}"
        time.sleep(1)


def test_pod_with_only_the_client_role_drives_a_cluster(operated_namespace):
    ns = operated_namespace
    kubectl("apply", "-f", str(RBAC))
    kubectl("create", "serviceaccount", "dask-client", "-n", ns)
    kubectl("create", "rolebinding", "dask-client", "-n", ns, "--clusterrole=dask-k8s-lab-client", "--serviceaccount", f"{ns}:dask-client")
    phase, logs = run_pod(ns, "client", "dask-client", POD_SCRIPT)
    assert phase == "Succeeded", logs
    assert "CLIENT-RBAC-OK" in logs
    assert not list(kr8s.get("daskclusters.kubernetes.dask.org", "from-pod", namespace=ns))

    # Without the binding the client says which role is missing.
    phase, logs = run_pod(ns, "unbound", "default", "from dask_k8s_lab import KubeCluster\nKubeCluster(name='nope', quiet=True)", timeout=120)
    assert phase == "Failed"
    assert "client-rbac.yaml" in logs


def test_rbac_manifest_is_valid_for_the_api_server(kube):
    docs = list(yaml.safe_load_all(RBAC.read_text()))
    out = kubectl("apply", "--dry-run=server", "-f", str(RBAC))
    for doc in docs:
        assert doc["metadata"]["name"] in out
