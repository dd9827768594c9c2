"""The cluster model's version_skew, from the images a DaskCluster runs (no scheduler is asked)."""

from __future__ import annotations

import asyncio
import time

import distributed
import pytest
import yaml

from dask_k8s_lab.specs import make_cluster_spec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def jp_server_config(namespace, dask_operator):
    return {
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
        "DaskK8sLab": {"namespaces": [namespace]},
    }


async def _model(api, namespace: str, name: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        status, body = await api("GET", "clusters", namespace, name)
        if status == 200:
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.3)


async def test_older_image_is_a_skew_and_the_same_release_is_not(api, namespace, kubectl):
    for name, image in (("old", "ghcr.io/dask/dask:2025.1.0"), ("same", f"ghcr.io/dask/dask:{distributed.__version__}")):
        manifest = make_cluster_spec(name, image=image, n_workers=0)
        manifest["metadata"]["namespace"] = namespace
        kubectl.apply(yaml.safe_dump(manifest))
    old = await _model(api, namespace, "old")
    assert {(m["package"], m["where"], m["remote"], m["local"]) for m in old["version_skew"]["mismatches"]} == {
        (package, where, "2025.1.0", version)
        for package, version in (("dask", distributed.__version__), ("distributed", distributed.__version__))
        for where in ("scheduler", "workers (default)")
    }
    assert old["version_skew"]["fix"].startswith(f"use image ghcr.io/dask/dask:{distributed.__version__}-py")
    assert (await _model(api, namespace, "same"))["version_skew"] is None
