"""The dashboard proxy is safe to share: a header-recording stand-in plays the scheduler and
checks that the user's credentials never reach it and that it cannot set cookies or skip XSRF."""

from __future__ import annotations

import json

import pytest
from tornado import web, websocket
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.websocket import websocket_connect

from dask_k8s_lab.server.proxy import DASHBOARD_SANDBOX

from .test_xsrf import cookies_of

SECRETS = ("Cookie", "Authorization", "X-Xsrftoken", "X-Csrftoken")


class StandIn:
    """Records every request (method, path, headers) and answers like a hostile scheduler."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict]] = []

    def app(self) -> web.Application:
        stand_in = self

        class Page(web.RequestHandler):
            def _record_and_answer(self, path):
                stand_in.requests.append((self.request.method, path, dict(self.request.headers)))
                self.set_header("Set-Cookie", "username-127-0-0-1=stolen; Path=/")
                self.add_header("Set-Cookie", "_xsrf=forged; Path=/")
                self.set_header("Content-Type", "text/html")
                self.write("<script>fetch('/api/contents')</script>hello from the scheduler")

            def get(self, path):
                self._record_and_answer(path)

            def post(self, path):
                self._record_and_answer(path)

            def check_xsrf_cookie(self):
                pass

        class Socket(websocket.WebSocketHandler):
            def check_origin(self, origin):
                return True  # as distributed's dashboard (allow_websocket_origin: ["*"])

            def open(self):
                stand_in.requests.append(("WS", self.request.path, dict(self.request.headers)))
                self.write_message("hi")

        return web.Application([(r"/ws", Socket), (r"/(.*)", Page)])


@pytest.fixture
async def stand_in(api, fake):
    recorder = StandIn()
    server = HTTPServer(recorder.app())
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    status, _ = await api("POST", "clusters", body={"name": "c1"})
    assert status == 201
    fake.dashboard = ("127.0.0.1", sock.getsockname()[1])
    yield recorder
    server.stop()


def assert_no_credentials(headers: dict) -> None:
    leaked = {k: v for k, v in headers.items() if k.title() in {s.title() for s in SECRETS}}
    assert not leaked, leaked


async def test_credentials_stay_home_and_cookies_do_not_come_back(jp_fetch, stand_in):
    response = await jp_fetch(
        "dask-k8s", "dashboard", "team-a", "c1", "status",
        headers={"Cookie": "username-127-0-0-1=session; _xsrf=x", "X-XSRFToken": "x"},
    )
    assert response.code == 200 and b"hello from the scheduler" in response.body
    [(method, path, headers)] = stand_in.requests
    assert (method, path) == ("GET", "status")
    assert_no_credentials(headers)
    assert headers.get("Host")  # what is not a credential still goes through
    # (Jupyter may set its own login cookie; the scheduler's never come through.)
    assert not [c for c in response.headers.get_list("Set-Cookie") if "stolen" in c or "forged" in c]
    # Opened anywhere (the sidebar's frame, a new tab), the page runs in an opaque origin.
    assert DASHBOARD_SANDBOX in response.headers.get_list("Content-Security-Policy")
    assert "allow-same-origin" not in DASHBOARD_SANDBOX


async def test_websocket_credentials_stay_home(jp_auth_header, http_server_port, jp_base_url, stand_in):
    url = f"ws://127.0.0.1:{http_server_port[1]}{jp_base_url}dask-k8s/dashboard/team-a/c1/ws"
    ws = await websocket_connect(HTTPRequest(url, headers={**jp_auth_header, "Cookie": "username-x=session"}))
    assert await ws.read_message() == "hi"
    ws.close()
    [(method, _, headers)] = stand_in.requests
    assert method == "WS"
    assert_no_credentials(headers)


async def login(http_server_client, jp_base_url, jp_serverapp) -> tuple[str, str]:
    """Log in with the password form, as a browser does: (Cookie header, XSRF token)."""
    first = await http_server_client.fetch(f"{jp_base_url}login", raise_error=False)
    cookies = cookies_of(first)
    from urllib.parse import urlencode

    response = await http_server_client.fetch(
        f"{jp_base_url}login", method="POST",
        body=urlencode({"password": jp_serverapp.identity_provider.token, "_xsrf": cookies["_xsrf"]}),
        headers={"Cookie": f"_xsrf={cookies['_xsrf']}"}, follow_redirects=False, raise_error=False,
    )
    assert response.code == 302
    cookies.update(cookies_of(response))
    return "; ".join(f"{k}={v}" for k, v in cookies.items()), cookies["_xsrf"]


async def test_cookie_post_without_xsrf_is_refused(http_server_client, jp_base_url, jp_serverapp, stand_in):
    cookie, xsrf = await login(http_server_client, jp_base_url, jp_serverapp)
    url = f"{jp_base_url}dask-k8s/dashboard/team-a/c1/api/v1/retire_workers"
    forged = await http_server_client.fetch(
        url, method="POST", body=b"{}", headers={"Cookie": cookie}, raise_error=False
    )
    assert forged.code == 403
    assert stand_in.requests == []
    # A browser reads with the cookie alone; a change carries Jupyter's XSRF token.
    read = await http_server_client.fetch(url, headers={"Cookie": cookie}, raise_error=False)
    assert read.code == 200
    legit = await http_server_client.fetch(
        url, method="POST", body=b"{}", headers={"Cookie": cookie, "X-XSRFToken": xsrf}, raise_error=False
    )
    assert legit.code == 200
    assert [m for m, _, _ in stand_in.requests] == ["GET", "POST"]
    for _, _, headers in stand_in.requests:
        assert_no_credentials(headers)


async def test_event_streams_are_not_proxied(jp_fetch, stand_in):
    """jupyter-server-proxy streams text/event-stream without rewriting headers."""
    response = await jp_fetch(
        "dask-k8s", "dashboard", "team-a", "c1", "events", headers={"Accept": "text/event-stream"}, raise_error=False
    )
    assert response.code == 406
    assert stand_in.requests == []


@pytest.mark.parametrize("origin", ["null", "http://evil.example"])
async def test_cookie_websockets_keep_jupyters_origin_check(http_server_client, http_server_port, jp_base_url,
                                                             jp_serverapp, stand_in, origin):
    cookie, _ = await login(http_server_client, jp_base_url, jp_serverapp)
    url = f"ws://127.0.0.1:{http_server_port[1]}{jp_base_url}dask-k8s/dashboard/team-a/c1/ws"
    with pytest.raises(HTTPClientError) as info:
        await websocket_connect(HTTPRequest(url, headers={"Cookie": cookie, "Origin": origin}))
    assert info.value.code in (403, 404)
    assert stand_in.requests == []


async def test_the_rest_api_keeps_jupyters_origin_check(http_server_client, jp_base_url, jp_serverapp):
    """Opaque origins are refused wherever a cookie is what authenticates."""
    cookie, _ = await login(http_server_client, jp_base_url, jp_serverapp)
    response = await http_server_client.fetch(
        f"{jp_base_url}dask-k8s/clusters",
        headers={"Cookie": cookie, "Origin": "null", "Referer": "http://127.0.0.1/"}, raise_error=False,
    )
    assert response.code in (403, 404), json.loads(response.body or b"{}")


# -- pages in a sandbox carry no cookies: the capability route --------------------------------------

FRAME = {"Sec-Fetch-Dest": "iframe", "Accept": "text/html"}


async def capability_url(jp_fetch, jp_base_url) -> str:
    """Load the dashboard as the sidebar's frame does; return where it was sent."""
    response = await jp_fetch(
        "dask-k8s", "dashboard", "team-a", "c1", "status", headers=dict(FRAME), follow_redirects=False, raise_error=False
    )
    assert response.code == 302
    location = response.headers["Location"]
    assert location.startswith(f"{jp_base_url}dask-k8s/dashboard/team-a/c1/~") and location.endswith("/status")
    return location


async def test_a_page_load_moves_to_the_capability_route_that_needs_no_cookie(
    jp_fetch, jp_base_url, http_server_client, stand_in
):
    location = await capability_url(jp_fetch, jp_base_url)
    assert stand_in.requests == []
    # What the sandboxed page then loads comes with no credentials at all, and is served.
    response = await http_server_client.fetch(location.replace("/status", "/static/bokeh.js"), raise_error=False)
    assert response.code == 200 and b"hello from the scheduler" in response.body
    [(method, path, headers)] = stand_in.requests
    assert (method, path) == ("GET", "static/bokeh.js")
    assert_no_credentials(headers)
    assert "/~" in headers["X-Forwarded-Prefix"]  # the scheduler builds its links under it
    # Data fetches (not page loads) are proxied in place.
    response = await jp_fetch("dask-k8s", "dashboard", "team-a", "c1", "individual-plots.json", follow_redirects=False)
    assert response.code == 200


async def test_capability_websocket_needs_no_cookie(jp_fetch, jp_base_url, http_server_port, stand_in):
    location = await capability_url(jp_fetch, jp_base_url)
    url = f"ws://127.0.0.1:{http_server_port[1]}{location.replace('/status', '/ws')}"
    ws = await websocket_connect(HTTPRequest(url, headers={"Origin": "null"}))  # the sandboxed page's
    assert await ws.read_message() == "hi"
    ws.close()


async def test_capabilities_are_per_cluster_and_unforgeable(api, fake, jp_fetch, jp_base_url, http_server_client, stand_in):
    location = await capability_url(jp_fetch, jp_base_url)
    token = location.split("/~")[1].split("/")[0]
    await api("POST", "clusters", body={"name": "c2"})
    for bad in [
        location.replace(token, "A" * 32),  # forged
        location.replace("/c1/", "/c2/"),  # another cluster's
        location.replace("/team-a/", "/team-b/"),
    ]:
        response = await http_server_client.fetch(bad, raise_error=False, follow_redirects=False)
        assert response.code == 404, bad
    # A cluster recreated under the same name gets a new capability.
    await api("DELETE", "clusters", "team-a", "c1")
    await api("POST", "clusters", body={"name": "c1"})
    response = await http_server_client.fetch(location, raise_error=False, follow_redirects=False)
    assert response.code == 404
    assert await capability_url(jp_fetch, jp_base_url) != location
    assert stand_in.requests == []


async def test_capability_route_still_needs_xsrf_to_change_things(jp_fetch, jp_base_url, http_server_client, stand_in):
    location = await capability_url(jp_fetch, jp_base_url)
    response = await http_server_client.fetch(
        location.replace("/status", "/api/v1/retire_workers"), method="POST", body=b"{}", raise_error=False
    )
    assert response.code == 403
    assert stand_in.requests == []
