"""The server against a real ResourceQuota of 2 CPU (enforced by the local Kubernetes): it shows
used/hard, and refuses a create or a scale that would not fit before anything is made, naming
the resource and the numbers."""

from __future__ import annotations

import asyncio
import textwrap
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

QUOTA = textwrap.dedent("""
    apiVersion: v1
    kind: ResourceQuota
    metadata: {name: compute}
    spec:
      hard: {requests.cpu: "2", pods: "10"}
""")
ONE_CPU = {"requests": {"cpu": "1", "memory": "256Mi"}}
HALF_CPU = {"requests": {"cpu": "500m", "memory": "256Mi"}}


@pytest.fixture
def quota_namespace(namespace, dask_operator, kubectl) -> str:
    kubectl.apply(QUOTA)
    return namespace


@pytest.fixture
def jp_server_config(quota_namespace):
    return {
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
        "DaskK8sLab": {"namespaces": [quota_namespace]},
    }


async def _cpu_row(api, namespace: str, used: str, timeout: float = 120) -> dict:
    """The requests.cpu row of the quota once the quota controller counts ``used``."""
    deadline = time.monotonic() + timeout
    while True:
        status, view = await api("GET", "quota", namespace=namespace)
        assert status == 200, view
        row = next((r for r in view["quotas"] if r["resource"] == "requests.cpu"), None)
        if row is not None and row["used"] == used:
            return row
        assert time.monotonic() < deadline, f"quota never showed requests.cpu used {used}: {view}"
        await asyncio.sleep(0.5)


async def test_rest_shows_quota_refuses_create_and_scale_past_it(api, quota_namespace, kubectl):
    ns = quota_namespace
    row = await _cpu_row(api, ns, used="0")
    assert row == {"quota": "compute", "resource": "requests.cpu", "used": "0", "hard": "2", "adds": "0", "fits": True}

    body = {"name": "big", "namespace": ns, "n_workers": 4, "resources": ONE_CPU}
    status, preview = await api("POST", "quota", body=body)
    assert status == 200 and preview["fits"] is False
    assert next(r for r in preview["quotas"] if r["resource"] == "requests.cpu")["adds"] == "5"
    status, error = await api("POST", "clusters", body=body)
    assert status == 403, error
    assert error["message"].startswith(f"DaskCluster 'big' does not fit the quota of namespace '{ns}': "
                                       "requests.cpu would be 5 of 2 (used 0 + 5 for this)"), error
    assert kubectl("get", "daskclusters", "-o", "name").strip() == ""  # nothing was created

    status, model = await api("POST", "clusters", body={"name": "small", "namespace": ns, "n_workers": 1,
                                                        "resources": HALF_CPU})
    assert status == 201, model
    await _cpu_row(api, ns, used="1")  # scheduler + 1 worker, counted by the quota controller
    status, error = await api("PATCH", "clusters", ns, "small", body={"workers": 4})
    assert status == 403, error
    assert "Scaling worker group 'default'" in error["message"]
    assert "requests.cpu would be 2.5 of 2 (used 1 + 1.5 for this)" in error["message"], error
    # exactly fits. A worker pod replaced meanwhile counts twice until the quota controller sees
    # the old one gone (seen once in CI): then the refusal must say so, and the next try fits.
    for _ in range(3):
        status, model = await api("PATCH", "clusters", ns, "small", body={"workers": 3})
        if status != 403 or "(used 1 + " in model["message"]:
            break
        await _cpu_row(api, ns, used="1")
    assert status == 200 and model["workers_requested"] == 3, model
