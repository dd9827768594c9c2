"""Two namespaces watched by one server: clusters from both listed, created where asked."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from kr8s.asyncio.objects import Namespace

from dask_k8s_lab import specs
from dask_k8s_common.resources import DaskCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
async def second_namespace(kube):
    from local_k8s import cluster

    name = f"t-{uuid.uuid4().hex[:8]}"
    ns = await Namespace({"metadata": {"name": name}})
    await ns.create()
    await cluster.wait_for_default_service_account(name)
    yield name
    await ns.delete(propagation_policy="Foreground")


@pytest.fixture
def jp_server_config(namespace, second_namespace, dask_operator):
    return {
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
        "DaskK8sLab": {"namespaces": [namespace, second_namespace]},
    }


async def test_two_namespaces(api, namespace, second_namespace):
    manifest = specs.make_cluster_spec(name="first", n_workers=0)
    manifest["metadata"]["namespace"] = namespace
    await (await DaskCluster(manifest)).create()
    status, cluster = await api("POST", "clusters", body={"name": "second", "namespace": second_namespace})
    assert status == 201 and cluster["namespace"] == second_namespace
    assert await DaskCluster.get("second", namespace=second_namespace)

    deadline = time.monotonic() + 10
    while True:
        status, body = await api("GET", "clusters")
        found = {(c["namespace"], c["name"]) for c in body["clusters"]}
        if found == {(namespace, "first"), (second_namespace, "second")} or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert found == {(namespace, "first"), (second_namespace, "second")}

    status, body = await api("POST", "clusters", body={"name": "third", "namespace": "kube-system"})
    assert status == 422 and body["field"] == "namespace"
