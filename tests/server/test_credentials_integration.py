"""The server outlives its Kubernetes: after the cluster is recreated (a new CA and token in the
same kubeconfig file, as `local-k8s down` + `up` does), it recovers without a restart."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest
import yaml

from dask_k8s_lab import specs
from dask_k8s_common.resources import DaskCluster
from local_k8s import pki

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def kubeconfig(tmp_path: Path, kube) -> Path:
    """A kubeconfig for the real API server, but with another cluster's CA and token."""
    server = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text())["clusters"][0]["cluster"]["server"]
    other = tmp_path / "other-pki"
    token = pki.generate(other)
    path = tmp_path / "kubeconfig"
    pki.write_kubeconfig(path, server, other / "ca.crt", token)
    return path


@pytest.fixture
def jp_server_config(namespace, kubeconfig):
    return {
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
        "DaskK8sLab": {"namespaces": [namespace], "kubeconfig": str(kubeconfig)},
    }


async def test_recovers_when_the_kubeconfig_gets_the_new_clusters_credentials(api, namespace, kubeconfig):
    status, body = await api("GET", "clusters")
    assert status == 503, body
    assert "SSL" in body["message"] or "certificate" in body["message"], body

    shutil.copyfile(os.environ["KUBECONFIG"], kubeconfig)  # `up` rewrites the same file
    manifest = specs.make_cluster_spec(name="after", n_workers=0)
    manifest["metadata"]["namespace"] = namespace
    await (await DaskCluster(manifest)).create()
    deadline = time.monotonic() + 120
    while True:
        status, body = await api("GET", "clusters")
        if status == 200 and [c["name"] for c in body["clusters"]] == ["after"]:
            break
        assert time.monotonic() < deadline, f"the server did not recover: {status} {body}"
        await asyncio.sleep(0.5)
