"""Auth helpers against the local API server, and what happens to clusters at interpreter exit."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
import time
import uuid

import kr8s
import pytest
import yaml

from dask_k8s_lab import KubeAuth, KubeCluster, KubeConfig
from dask_k8s_lab.auth import ClusterAuth

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_auth_helpers_reach_the_api_server(kube, tmp_path):
    api = await ClusterAuth.load_first()  # InCluster fails outside a pod, KubeConfig works
    assert (await api.version())["major"] == "1"
    api = await KubeConfig(config_file=os.environ["KUBECONFIG"]).load(namespace="kube-system")
    assert api.namespace == "kube-system"

    config = yaml.safe_load(open(os.environ["KUBECONFIG"]))
    cluster = config["clusters"][0]["cluster"]
    ca = tmp_path / "ca.crt"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    token = config["users"][0]["user"]["token"]
    api = await KubeAuth(cluster["server"], token=token, ssl_ca_cert=str(ca)).load()
    assert (await api.version())["major"] == "1"
    with pytest.raises(Exception):
        await (await KubeAuth(cluster["server"], token="wrong", ssl_ca_cert=str(ca)).load()).version()


def exists(name: str, namespace: str) -> bool:
    return bool(list(kr8s.get("daskclusters.kubernetes.dask.org", name, namespace=namespace)))


def run_and_exit(script: str) -> None:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_exit_deletes_created_clusters_and_keeps_attached_ones(operated_namespace):
    ns = operated_namespace
    made = f"exit-{uuid.uuid4().hex[:6]}"
    run_and_exit(
        f"""
        from dask_k8s_lab import KubeCluster
        cluster = KubeCluster(name={made!r}, namespace={ns!r}, quiet=True)
        """
    )
    deadline = time.monotonic() + 60
    while exists(made, ns):
        assert time.monotonic() < deadline, "a cluster created by an exiting process was left behind"
        time.sleep(0.5)

    with KubeCluster(name=f"keep-{uuid.uuid4().hex[:6]}", namespace=ns, quiet=True) as owner:
        run_and_exit(
            f"""
            from dask_k8s_lab import KubeCluster
            attached = KubeCluster(name={owner.name!r}, namespace={ns!r}, quiet=True)
            assert attached.shutdown_on_close is False
            """
        )
        time.sleep(1)
        assert exists(owner.name, ns), "an attached process deleted the cluster at exit"
