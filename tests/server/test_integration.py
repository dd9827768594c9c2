"""The server extension against the local Kubernetes and the operator (kr8s backend, real watch)."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
import yaml
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from dask_k8s_lab import specs
from dask_k8s_common.resources import DaskAutoscaler, DaskCluster, DaskWorkerGroup

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


@pytest.fixture
def jp_server_config(namespace, dask_operator):
    return {
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
        "DaskK8sLab": {"namespaces": [namespace]},
    }


async def wait_for(api, namespace: str, name: str, predicate, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    cluster = None
    while time.monotonic() < deadline:
        status, cluster = await api("GET", "clusters", namespace, name)
        if status == 200 and predicate(cluster):
            return cluster
        await asyncio.sleep(0.5)
    raise AssertionError(f"cluster {namespace}/{name} never got there; last seen: {cluster}")


async def next_message(ws, timeout: float) -> dict:
    text = await asyncio.wait_for(ws.read_message(), timeout)
    assert text is not None
    return json.loads(text)


async def test_round_trip_and_live_updates(api, jp_ws_fetch, namespace):
    status, cluster = await api("POST", "clusters", body={"name": "rt", "n_workers": 1})
    assert status == 201, cluster
    cluster = await wait_for(api, namespace, "rt", lambda c: c["phase"] == "Running" and c["workers_ready"] == 1)
    assert cluster["reason"] is None
    # No resource limits: cores and memory are what the scheduler reports for its one worker.
    cluster = await wait_for(api, namespace, "rt", lambda c: c["cores"] > 0 and c["memory"] > 0, timeout=30)

    status, body = await api("GET", "clusters", namespace, "rt", "logs")
    assert status == 200 and "rt-scheduler" in body["logs"]
    assert "Scheduler at" in body["logs"]["rt-scheduler"], body["logs"]["rt-scheduler"][-500:]
    status, body = await api("GET", "clusters", namespace, "rt", "events")
    assert status == 200 and any(e["object"] == "DaskCluster/rt" for e in body["events"]), body

    status, cluster = await api("POST", "clusters", namespace, "rt", "worker-groups", body={"name": "extra", "n_workers": 1})
    assert status == 201 and [g["name"] for g in cluster["worker_groups"]] == ["default", "extra"]
    await wait_for(api, namespace, "rt", lambda c: c["worker_groups"][-1]["ready"] == 1)
    status, _ = await api("DELETE", "clusters", namespace, "rt", "worker-groups", "extra")
    assert status == 204
    await wait_for(api, namespace, "rt", lambda c: [g["name"] for g in c["worker_groups"]] == ["default"], timeout=30)

    # A cluster made without this server (as `kubectl apply` would) is listed too.
    manifest = specs.make_cluster_spec(name="by-kubectl", n_workers=0)
    applied = await asyncio.create_subprocess_exec(
        "kubectl", "apply", "-n", namespace, "-f", "-", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await applied.communicate(yaml.safe_dump(manifest).encode())
    assert applied.returncode == 0 and b"created" in out
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, body = await api("GET", "clusters")
        if "by-kubectl" in [c["name"] for c in body["clusters"]]:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"by-kubectl not listed: {body}")

    ws = await jp_ws_fetch("dask-k8s", "stream")
    snapshot = await next_message(ws, 5)
    assert {c["name"] for c in snapshot["clusters"]} == {"rt", "by-kubectl"}

    # `kubectl scale daskworkergroup rt-default --replicas 2` arrives on the stream (its latency
    # is measured in bench/server_bench.py, not asserted here).
    group = await DaskWorkerGroup.get("rt-default", namespace=namespace)
    await group.patch({"spec": {"worker": {"replicas": 2}}})
    while True:
        message = await next_message(ws, 30)
        if message["type"] == "updated" and message["cluster"]["name"] == "rt" and message["cluster"]["workers_requested"] == 2:
            break

    status, cluster = await api("PATCH", "clusters", namespace, "rt", body={"workers": 1})
    assert status == 200 and cluster["workers_requested"] == 1
    assert (await DaskWorkerGroup.get("rt-default", namespace=namespace)).spec["worker"]["replicas"] == 1

    status, cluster = await api("PATCH", "clusters", namespace, "rt", body={"adapt": {"minimum": 1, "maximum": 3}})
    assert status == 200 and cluster["adapt"] == {"minimum": 1, "maximum": 3}
    autoscaler = await DaskAutoscaler.get("rt", namespace=namespace)
    assert (autoscaler.spec["minimum"], autoscaler.spec["maximum"]) == (1, 3)
    status, cluster = await api("PATCH", "clusters", namespace, "rt", body={"adapt": None})
    assert status == 200 and cluster["adapt"] is None
    assert not [a async for a in DaskAutoscaler.list(namespace=namespace)]

    status, _ = await api("DELETE", "clusters", namespace, "rt")
    assert status == 204
    deadline = time.monotonic() + 60
    while True:
        message = await next_message(ws, max(0.01, deadline - time.monotonic()))
        if message == {"type": "deleted", "namespace": namespace, "name": "rt"}:
            break
    status, _ = await api("GET", "clusters", namespace, "rt")
    assert status == 404
    ws.close()


async def test_name_taken_is_409(api, namespace):
    assert (await api("POST", "clusters", body={"name": "twice"}))[0] == 201
    status, body = await api("POST", "clusters", body={"name": "twice"})
    assert status == 409 and body["field"] == "name"


async def test_stuck_cluster_says_why(api, namespace):
    status, _ = await api("POST", "clusters", body={"name": "stuck", "image": "no-such/thing:1", "n_workers": 0})
    assert status == 201
    cluster = await wait_for(api, namespace, "stuck", lambda c: c["reason"] is not None, timeout=60)
    assert "no-such/thing:1" in cluster["reason"] and "stuck-scheduler" in cluster["reason"]


async def test_dashboard_proxy(api, jp_fetch, jp_auth_header, http_server_client, http_server_port, jp_base_url, service, namespace):
    status, _ = await api("POST", "clusters", body={"name": "dash", "n_workers": 0})
    assert status == 201
    await wait_for(api, namespace, "dash", lambda c: c["phase"] == "Running")

    for mode in ("auto", "port-forward"):
        service.config.dashboard_connection = mode
        await service.backend.forget_cluster(namespace, "dash")
        response = await jp_fetch("dask-k8s", "dashboard", namespace, "dash", "status")
        assert response.code == 200 and b"bokeh" in response.body
        host, _ = service._dashboard_hosts[(namespace, "dash")]
        assert (host == "127.0.0.1") == (mode == "port-forward"), (mode, host)

        token = re.search(r'"token":"([^"]+)"', response.body.decode()).group(1)
        url = f"ws://127.0.0.1:{http_server_port[1]}{jp_base_url}dask-k8s/dashboard/{namespace}/dash/status/ws"
        ws = await websocket_connect(HTTPRequest(url, headers=jp_auth_header), subprotocols=["bokeh", token])
        assert json.loads(await ws.read_message())["msgtype"] == "ACK"
        ws.close()

    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("dask-k8s", "dashboard", namespace, "nothing-here", "status")
    assert info.value.code == 404
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("dask-k8s", "dashboard", "kube-system", "dash", "status")
    assert info.value.code == 404
    response = await http_server_client.fetch(
        f"{jp_base_url}dask-k8s/dashboard/{namespace}/dash/status", raise_error=False, follow_redirects=False
    )
    assert response.code in (302, 403) and b"bokeh" not in (response.body or b"")


async def test_crash_looping_worker_reason_quotes_its_last_log_lines(api, namespace):
    manifest = specs.make_cluster_spec(name="crashy", n_workers=1)
    worker = manifest["spec"]["worker"]["spec"]["containers"][0]
    worker["args"] = ["python", "-c", "print('kaboom: the worker cannot start'); raise SystemExit(3)"]
    manifest["metadata"]["namespace"] = namespace
    await (await DaskCluster(manifest)).create()
    cluster = await wait_for(api, namespace, "crashy", lambda c: c["reason"] and "kaboom" in c["reason"], timeout=90)
    assert "crash-looping" in cluster["reason"] and "exit code 3" in cluster["reason"], cluster["reason"]
