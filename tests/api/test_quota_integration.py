"""KubeCluster against a real ResourceQuota of 2 CPU: a create or a scale that would not fit is
refused before anything is made, naming the resource and the numbers."""

from __future__ import annotations

import asyncio
import time

import pytest

from dask_k8s_lab import KubeCluster
from dask_k8s_lab.quota import QuotaExceeded
from tests.server.test_quota_integration import HALF_CPU, ONE_CPU, QUOTA

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


@pytest.fixture
def quota_namespace(operated_namespace, kubectl) -> str:
    kubectl.apply(QUOTA)
    return operated_namespace


async def test_kubecluster_refuses_create_and_scale_past_the_quota(quota_namespace, kubectl):
    ns = quota_namespace
    with pytest.raises(QuotaExceeded, match=r"requests.cpu would be 5 of 2 \(used 0 \+ 5 for this\)"):
        await KubeCluster(name="big", namespace=ns, n_workers=4, resources=ONE_CPU, asynchronous=True, quiet=True)
    assert kubectl("get", "daskclusters", "-o", "name").strip() == ""
    async with KubeCluster(name="small", namespace=ns, n_workers=1, resources=HALF_CPU,
                           asynchronous=True, quiet=True) as cluster:
        deadline = time.monotonic() + 120
        while "requests.cpu" not in kubectl("get", "resourcequota", "compute", "-o",
                                            "jsonpath={.status.used}") or kubectl(
                "get", "resourcequota", "compute", "-o", "jsonpath={.status.used.requests\\.cpu}").strip() != "1":
            assert time.monotonic() < deadline, "the quota never counted the cluster's pods"
            await asyncio.sleep(0.5)
        with pytest.raises(QuotaExceeded, match=r"requests.cpu would be 2.5 of 2 \(used 1 \+ 1.5 for this\)"):
            await cluster.scale(4)
