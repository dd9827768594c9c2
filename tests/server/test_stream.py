"""The live stream: snapshot on connect, then updates within a second of a watch event."""

from __future__ import annotations

import asyncio
import json

import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import websocket_connect


async def next_message(ws, timeout: float = 5.0) -> dict:
    text = await asyncio.wait_for(ws.read_message(), timeout)
    assert text is not None, "stream closed"
    return json.loads(text)


async def test_snapshot_then_updates_then_deleted(api, jp_ws_fetch, fake):
    await api("POST", "clusters", body={"name": "c1", "n_workers": 1})
    ws = await jp_ws_fetch("dask-k8s", "stream")
    snapshot = await next_message(ws)
    assert snapshot["type"] == "snapshot"
    assert [(c["namespace"], c["name"]) for c in snapshot["clusters"]] == [("team-a", "c1")]

    # `kubectl scale daskworkergroup c1-default --replicas 5`, as the watch reports it
    group = fake.get("DaskWorkerGroup", "team-a", "c1-default")
    group["spec"]["worker"]["replicas"] = 5
    fake.put("DaskWorkerGroup", group, "MODIFIED")
    update = await next_message(ws, timeout=30)
    assert update["type"] == "updated" and update["cluster"]["workers_requested"] == 5

    # A worker becoming ready is a change too; an event that changes nothing visible is not.
    fake.add_worker_pod("team-a", "c1", "default", 0)
    update = await next_message(ws)
    assert update["cluster"]["workers_ready"] == 1
    fake.put("DaskWorkerGroup", fake.get("DaskWorkerGroup", "team-a", "c1-default"), "MODIFIED")
    with pytest.raises(asyncio.TimeoutError):
        await next_message(ws, timeout=0.2)

    status, _ = await api("DELETE", "clusters", "team-a", "c1")
    assert status == 204
    assert await next_message(ws) == {"type": "deleted", "namespace": "team-a", "name": "c1"}
    ws.close()


async def test_stream_sees_clusters_made_elsewhere(api, jp_ws_fetch, fake):
    ws = await jp_ws_fetch("dask-k8s", "stream")
    assert (await next_message(ws))["clusters"] == []
    status, _ = await api("POST", "clusters", body={"name": "c2", "namespace": "team-b"})
    assert status == 201
    update = await next_message(ws)
    assert update["type"] == "updated" and update["cluster"]["namespace"] == "team-b"
    ws.close()


async def test_stream_refuses_unauthenticated(http_server_client, http_server_port, jp_base_url, jp_serverapp):
    port = http_server_port[1]
    with pytest.raises(HTTPClientError) as info:
        await websocket_connect(f"ws://127.0.0.1:{port}{jp_base_url}dask-k8s/stream")
    assert info.value.code == 403
    assert jp_serverapp.web_app.settings["dask_k8s_lab_service"]._subscribers == set()


async def test_failing_watch_marks_the_list_stale_until_it_recovers(api, jp_ws_fetch, service):
    ws = await jp_ws_fetch("dask-k8s", "stream")
    assert (await next_message(ws))["stale"] is None
    # one dropped connection is re-listed at once: not worth a warning
    service.on_watch_error("DaskCluster", "team-a", ConnectionResetError("stream reset"))
    _, body = await api("GET", "clusters")
    assert body["stale"] is None
    service.on_watch_error("DaskCluster", "team-a", OSError("connection refused"))
    health = await next_message(ws)
    assert health["type"] == "health" and "connection refused" in health["stale"]
    status, body = await api("GET", "clusters")
    assert status == 200 and "DaskCluster in team-a" in body["stale"]
    ws2 = await jp_ws_fetch("dask-k8s", "stream")  # a client that connects now is told at once
    assert "connection refused" in (await next_message(ws2))["stale"]

    service.on_synced("DaskCluster", "team-a")
    assert await next_message(ws) == {"type": "health", "stale": None}
    _, body = await api("GET", "clusters")
    assert body["stale"] is None
    ws.close()
    ws2.close()
