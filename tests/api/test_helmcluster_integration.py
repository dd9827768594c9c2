"""HelmCluster against a release of a test chart laid out like the Dask Helm chart."""

from __future__ import annotations

import os
import pathlib
import subprocess

import pytest
from distributed import Client

from dask_k8s_lab import HelmCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CHART = pathlib.Path(__file__).parent / "charts" / "dask"


@pytest.fixture
def release(namespace):
    name = "myrel"
    subprocess.run(
        ["helm", "install", name, str(CHART), "--namespace", namespace, "--wait", "--timeout", "120s"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    yield name
    subprocess.run(["helm", "uninstall", name, "--namespace", namespace], capture_output=True, env=os.environ.copy())


def test_helmcluster_scales_computes_and_reads_logs(release, namespace):
    cluster = HelmCluster(release_name=release, namespace=namespace)
    try:
        assert cluster.name == f"{release}.{namespace}"
        assert cluster.comm_endpoint.mode == "cluster-ip"
        cluster.scale(2)
        cluster.wait_for_workers(2, timeout=120)
        with Client(cluster) as client:
            assert sum(client.gather(client.map(lambda x: x + 1, range(10)))) == 55
        logs = cluster.get_logs()
        assert any("scheduler" in pod and "Scheduler at" in text for pod, text in logs.items())
        assert len([pod for pod in logs if "-worker-" in pod]) == 2
        with pytest.raises(NotImplementedError, match="Kubernetes rather than Dask"):
            cluster.adapt(minimum=1, maximum=3)
        with pytest.raises(ValueError, match="worker_group='gpu'"):
            cluster.scale(1, worker_group="gpu")
    finally:
        cluster.close()
    # Closing never removes the release.
    status = subprocess.run(["helm", "status", release, "-n", namespace], capture_output=True, env=os.environ.copy())
    assert status.returncode == 0


def test_helmcluster_from_name_and_port_forward(release, namespace):
    cluster = HelmCluster.from_name(f"{release}.{namespace}", port_forward_cluster_ip=True)
    try:
        assert cluster.comm_endpoint.mode == "port-forward"
        assert cluster.dashboard_link.startswith("http://127.0.0.1:")
        cluster.wait_for_workers(1, timeout=120)
        with Client(cluster) as client:
            assert client.submit(lambda: "ok").result() == "ok"
    finally:
        cluster.close()


async def test_discovery_lists_the_release(release, namespace):
    from dask_k8s_lab.helmcluster import discover

    found = [name async for name, cls in discover() if cls is HelmCluster]
    assert f"{release}.{namespace}" in found


def test_missing_release_is_explained(namespace):
    with pytest.raises(RuntimeError, match="No Dask Helm release 'nope'.*helm list"):
        HelmCluster(release_name="nope", namespace=namespace)
