"""Two JupyterHub users in one namespace, against the real API server and operator: alice's
server (this test's Jupyter server, JUPYTERHUB_USER=alice) and bob's (a second ClusterService
with the kr8s backend, as bob's server would run it)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from dask_k8s_lab.ownership import label_value
from dask_k8s_common.resources import ANNOTATION_OWNER, LABEL_OWNER, DaskCluster
from dask_k8s_lab.server.config import DaskK8sLab
from dask_k8s_lab.server.errors import ApiError
from dask_k8s_lab.server.kube import Kr8sBackend
from dask_k8s_lab.server.requests import CreateRequest
from dask_k8s_lab.server.service import ClusterService

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


@pytest.fixture
def jp_server_config(namespace, dask_operator, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    return {
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
        "DaskK8sLab": {"namespaces": [namespace]},
    }


async def started_service(namespace: str, **config) -> ClusterService:
    settings = DaskK8sLab(namespaces=[namespace], **config)
    service = ClusterService(settings, Kr8sBackend(settings))
    await service.start()
    await service.ready(60)
    return service


@pytest.fixture
async def bob(namespace):
    service = await started_service(namespace, owner="bob")
    yield service
    await service.close()


async def wait_until(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := await predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)
    return value


async def names(api) -> set[str]:
    status, body = await api("GET", "clusters")
    assert status == 200, body
    return {c["name"] for c in body["clusters"]}


async def test_two_users_in_one_namespace(api, jp_fetch, jp_ws_fetch, bob, namespace, monkeypatch):
    from dask_k8s_lab import KubeCluster

    status, body = await api("POST", "clusters", body={"name": "alices", "n_workers": 0})
    assert status == 201, body
    await bob.create_cluster(CreateRequest(name="bobs", n_workers=0))

    # Recorded on the resources: annotation and label.
    for name, user in (("alices", "alice"), ("bobs", "bob")):
        obj = await DaskCluster.get(name, namespace=namespace)
        assert obj.annotations[ANNOTATION_OWNER] == user and obj.labels[LABEL_OWNER] == label_value(user)

    # A KubeCluster in alice's notebook (the kernel inherits JUPYTERHUB_USER) is hers too, and
    # reaches her list through the watch, after bob's cluster: so that one was seen and left out.
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")

    def from_notebook():
        with KubeCluster(name="nb", namespace=namespace, n_workers=0, quiet=True) as cluster:
            return cluster.name

    notebook = asyncio.ensure_future(asyncio.to_thread(from_notebook))
    await wait_until(lambda: _has(api, "nb"), "alice's notebook cluster in her list")
    assert await names(api) == {"alices", "nb"}
    assert {c["name"] for c in await bob.list_clusters()} == {"bobs"}
    obj = await DaskCluster.get("nb", namespace=namespace)
    assert obj.annotations[ANNOTATION_OWNER] == "alice"

    # Every route on bob's cluster answers alice as if it did not exist; nothing changes.
    for method, path, body in [
        ("GET", (), None), ("PATCH", (), {"workers": 2}), ("PATCH", (), {"adapt": {"minimum": 0, "maximum": 2}}),
        ("POST", ("worker-groups",), {"name": "more", "n_workers": 1}), ("DELETE", ("worker-groups", "x"), None),
        ("GET", ("logs",), None), ("GET", ("events",), None), ("DELETE", (), None),
    ]:
        status, reply = await api(method, "clusters", namespace, "bobs", *path, body=body)
        assert status == 404 and "does not exist" in reply["message"], (method, path, reply)
    response = await jp_fetch("dask-k8s", "dashboard", namespace, "bobs", "status", raise_error=False)
    assert response.code == 404
    theirs = await DaskCluster.get("bobs", namespace=namespace)
    assert theirs.spec["worker"]["replicas"] == 0 and "deletionTimestamp" not in theirs.metadata
    # ... and the same the other way round.
    with pytest.raises(ApiError) as info:
        await bob.delete_cluster(namespace, "alices")
    assert info.value.status == 404

    ws = await jp_ws_fetch("dask-k8s", "stream")
    snapshot = json.loads(await asyncio.wait_for(ws.read_message(), 10))
    assert {c["name"] for c in snapshot["clusters"]} == {"alices", "nb"}
    ws.close()

    # An admin's server sees everyone's.
    admin = await started_service(namespace, owner="root", show_all_clusters=True)
    try:
        assert {c["name"] for c in await admin.list_clusters()} == {"alices", "bobs", "nb"}
    finally:
        await admin.close()

    # A namespace that is not hers: refused by name, nothing made.
    status, body = await api("POST", "clusters", body={"name": "elsewhere", "namespace": "default"})
    assert status == 403 and "'default'" in body["message"] and body["field"] == "namespace"
    assert [c async for c in DaskCluster.list(namespace="default") if c.name == "elsewhere"] == []

    # Her own dashboard comes through the proxy, sandboxed and without cookies.
    async def running():
        status, cluster = await api("GET", "clusters", namespace, "alices")
        return status == 200 and cluster["phase"] == "Running"

    await wait_until(running, "alice's cluster Running", timeout=180)
    response = await jp_fetch("dask-k8s", "dashboard", namespace, "alices", "status", headers={"Cookie": "a=b"})
    assert response.code == 200 and b"bokeh" in response.body.lower()
    assert any("sandbox" in v for v in response.headers.get_list("Content-Security-Policy"))

    await asyncio.wait_for(notebook, 240)


async def _has(api, name: str) -> bool:
    return name in await names(api)

