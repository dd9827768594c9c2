"""The dashboard proxy against a real Dask scheduler dashboard (HTTP and Bokeh websocket)."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.websocket import websocket_connect


@pytest.fixture
async def bystander():
    """Another HTTP service on this host that the proxy must never reach."""
    hits = []

    class Record(web.RequestHandler):
        def get(self, path):
            hits.append(path)
            self.write("bystander")

    server = HTTPServer(web.Application([(r"/(.*)", Record)]))
    [sock] = __import__("tornado.netutil", fromlist=["x"]).bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    yield sock.getsockname()[1], hits
    server.stop()


@pytest.fixture
async def dashboard(api, fake, scheduler):
    await api("POST", "clusters", body={"name": "c1"})
    fake.dashboard = ("127.0.0.1", scheduler.http_server.port)
    return scheduler


async def test_status_page_and_plots(jp_fetch, dashboard):
    response = await jp_fetch("dask-k8s", "dashboard", "team-a", "c1", "status")
    assert response.code == 200
    page = response.body.decode()
    assert "bokeh" in page and "Dask" in page
    response = await jp_fetch("dask-k8s", "dashboard", "team-a", "c1", "individual-plots.json")
    assert "Individual Task Stream" in json.loads(response.body)


async def test_redirects_stay_under_the_proxy(jp_fetch, jp_base_url, dashboard):
    response = await jp_fetch("dask-k8s", "dashboard", "team-a", "c1", "", follow_redirects=False, raise_error=False)
    assert response.code in (301, 302)
    assert response.headers["Location"].startswith(f"{jp_base_url}dask-k8s/dashboard/team-a/c1/")


async def test_bokeh_websocket(jp_fetch, jp_auth_header, http_server_port, jp_base_url, dashboard):
    page = (await jp_fetch("dask-k8s", "dashboard", "team-a", "c1", "status")).body.decode()
    token = re.search(r'"token":"([^"]+)"', page).group(1)
    url = f"ws://127.0.0.1:{http_server_port[1]}{jp_base_url}dask-k8s/dashboard/team-a/c1/status/ws"
    ws = await websocket_connect(HTTPRequest(url, headers=jp_auth_header), subprotocols=["bokeh", token])
    header = json.loads(await ws.read_message())
    assert header["msgtype"] == "ACK"
    ws.close()


async def test_only_known_clusters(api, jp_fetch, fake, dashboard):
    for path in [("team-a", "ghost", "status"), ("team-c", "c1", "status"), ("kube-system", "kube-dns", "status")]:
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("dask-k8s", "dashboard", *path)
        assert info.value.code == 404, path


async def test_paths_cannot_reach_other_hosts_or_ports(jp_fetch, http_server_client, jp_base_url, jp_auth_header, dashboard, bystander):
    port, hits = bystander
    direct = await AsyncHTTPClient().fetch(f"http://127.0.0.1:{port}/probe")
    assert direct.body == b"bystander" and hits == ["probe"]  # it is there to be reached
    hits.clear()
    prefix = f"{jp_base_url}dask-k8s/dashboard/team-a/c1"
    for path in [
        f"//127.0.0.1:{port}/x",
        f"/@127.0.0.1:{port}/x",
        f"/..%2F..%2F127.0.0.1:{port}/x",
        f"/%2F%2F127.0.0.1:{port}/x",
        f"/status?next=http://127.0.0.1:{port}/x",
    ]:
        await http_server_client.fetch(prefix + path, headers=jp_auth_header, raise_error=False, follow_redirects=False)
    response = await http_server_client.fetch(
        f"{jp_base_url}dask-k8s/dashboard/team-a/127.0.0.1:{port}/x", headers=jp_auth_header, raise_error=False
    )
    assert response.code == 404
    assert hits == []


async def test_host_allowlist_refuses_unresolved_hosts(jp_fetch, service, fake, dashboard, bystander):
    """Defence in depth: a target the service did not resolve for a known cluster is refused."""
    port, hits = bystander
    fake.dashboard = ("localhost", port)  # not what is_dashboard_host() recorded ...
    service._dashboard_hosts.clear()
    service.is_dashboard_host = lambda host: False  # ... and the allowlist says no
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("dask-k8s", "dashboard", "team-a", "c1", "status")
    assert info.value.code == 403
    assert hits == []


async def test_unauthenticated_proxy_requests_are_refused(http_server_client, http_server_port, jp_base_url, dashboard):
    response = await http_server_client.fetch(
        f"{jp_base_url}dask-k8s/dashboard/team-a/c1/status", raise_error=False, follow_redirects=False
    )
    assert response.code in (302, 403)
    assert b"bokeh" not in (response.body or b"")
    url = f"ws://127.0.0.1:{http_server_port[1]}{jp_base_url}dask-k8s/dashboard/team-a/c1/status/ws"
    with pytest.raises(HTTPClientError) as info:
        await websocket_connect(url)
    assert info.value.code == 403


async def test_cores_and_memory_come_from_the_scheduler(api, fake, scheduler):
    from distributed import Worker

    await api("POST", "clusters", body={"name": "c2", "n_workers": 1})
    fake.dashboard = ("127.0.0.1", scheduler.http_server.port)
    async with Worker(scheduler.address, nthreads=3, memory_limit="1.5 GiB", dashboard=False):
        cluster = fake.get("DaskCluster", "team-a", "c2")
        cluster["status"] = {"phase": "Running"}
        fake.put("DaskCluster", cluster, "MODIFIED")
        fake.add_worker_pod("team-a", "c2", "default", 0)  # its pod says 2 CPUs and 4 GiB ...
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            status, body = await api("GET", "clusters", "team-a", "c2")
            if body["cores"] == 3 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.1)
        assert body["cores"] == 3  # ... the scheduler knows better: 3 threads and 1.5 GiB
        assert body["memory"] == int(1.5 * 2**30)


async def test_scheduler_not_up_yet_is_503(api, jp_fetch, fake):
    await api("POST", "clusters", body={"name": "young"})
    fake.dashboard = None  # no scheduler Service yet
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("dask-k8s", "dashboard", "team-a", "young", "status")
    assert info.value.code == 503


async def test_websocket_to_an_unknown_cluster_goes_nowhere(jp_auth_header, http_server_port, jp_base_url, dashboard, bystander):
    port, hits = bystander
    url = f"ws://127.0.0.1:{http_server_port[1]}{jp_base_url}dask-k8s/dashboard/team-a/ghost/status/ws"
    try:
        ws = await websocket_connect(HTTPRequest(url, headers=jp_auth_header))
    except HTTPClientError as e:
        assert e.code == 404
    else:
        assert await ws.read_message() is None  # accepted, then closed at once
    assert hits == []
