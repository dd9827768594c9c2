"""Version skew, for real: a cluster on an older Dask image than this (the notebook's) environment.

The local Kubernetes runs `ghcr.io/dask/dask:<version>` in an environment with that Dask release,
so the scheduler and workers below really run distributed 2025.1.0.
"""

from __future__ import annotations

import asyncio
import time

import distributed
import pytest

from dask_k8s_lab import KubeCluster
from dask_k8s_lab.progress import render_table

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

OLD = "2025.1.0"


async def _skew_with_workers(cluster: KubeCluster, timeout: float = 120) -> dict:
    """The cluster's skew report once it covers the scheduler and a worker."""
    deadline = time.monotonic() + timeout
    while True:
        skew = cluster.version_skew
        if skew and any(m["where"].startswith("worker") for m in skew["mismatches"]):
            return skew
        assert time.monotonic() < deadline, f"no skew report with workers; last: {skew}"
        await asyncio.sleep(0.5)


async def test_older_image_shows_which_package_differs_where_and_the_fix(operated_namespace):
    assert distributed.__version__ != OLD
    async with KubeCluster(name="old-dask", namespace=operated_namespace, image=f"ghcr.io/dask/dask:{OLD}",
                           n_workers=1, asynchronous=True, quiet=True) as cluster:
        skew = await _skew_with_workers(cluster)
        found = {(m["package"], m["where"], m["remote"]) for m in skew["mismatches"]}
        assert ("distributed", "scheduler", OLD) in found
        assert ("distributed", "workers (1)", OLD) in found
        assert ("dask", "scheduler", OLD) in found
        assert all(m["local"] != m["remote"] for m in skew["mismatches"])
        assert f"ghcr.io/dask/dask:{distributed.__version__}-py" in skew["fix"]
        html = cluster._repr_html_()
        assert f"distributed: notebook {distributed.__version__}, scheduler {OLD}" in html
        assert "Fix: use image ghcr.io/dask/dask:" in html
        from rich.console import Console

        console = Console(width=200, record=True)
        console.print(render_table(cluster.components))
        text = console.export_text()
        assert "Versions" in text and "mismatch" in text and f"workers (1) {OLD}" in text


async def test_matching_image_shows_no_skew(operated_namespace):
    async with KubeCluster(name="same-dask", namespace=operated_namespace,
                           image=f"ghcr.io/dask/dask:{distributed.__version__}", n_workers=1,
                           asynchronous=True, quiet=True) as cluster:
        async with distributed.Client(cluster, asynchronous=True) as client:
            await client.wait_for_workers(1, timeout=120)
        deadline = time.monotonic() + 60
        while cluster._versions_of != frozenset(cluster.scheduler_info["workers"]) or not cluster._versions_of:
            assert time.monotonic() < deadline, "the versions were never compared with the worker"
            await asyncio.sleep(0.5)
        assert cluster.version_skew is None
        assert "mismatch" not in cluster._repr_html_()
        assert all(c.component != "Versions" for c in cluster.components)
