"""``/dask-k8s/dashboard/{namespace}/{name}/...``: the scheduler dashboards of visible DaskClusters.

Built on jupyter-server-proxy's ``ProxyHandler`` (HTTP and websockets, authentication on every
request, subprotocols passed through for Bokeh). The target host and port are never taken from
the request: the service resolves them from a DaskCluster in its cache (404 for any other,
including another user's), and the host allowlist admits only targets resolved that way, so this
is not an open proxy.

A scheduler runs whatever image its creator chose, so its pages are untrusted content served
from the Jupyter server's origin. They must not be able to act as the user:

- the user's credentials stay here: Cookie, Authorization and XSRF headers are not forwarded;
- the scheduler cannot set cookies on Jupyter's origin: its ``Set-Cookie`` headers are dropped;
- its pages run sandboxed (``Content-Security-Policy: sandbox``, an opaque origin) wherever they
  are opened, so their scripts cannot read Jupyter's cookies or call its API as the user;
- requests that change state need Jupyter's XSRF token like any other cookie-authenticated
  request (jupyter-server-proxy leaves that to the proxied app), and every request passes the
  same ``dask-k8s`` authorization as the REST routes.

A sandboxed page has an opaque origin, so browsers send no cookies with the requests it makes
(scripts, styles, Bokeh's websocket). Opening a dashboard page as an authenticated user therefore
redirects to ``.../{namespace}/{name}/~{capability}/...``: the capability, an HMAC of the
cluster's identity under the server's cookie secret, stands in for the cookie on that one
cluster's dashboard and nothing else. It changes with every new cluster of the same name.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
from base64 import urlsafe_b64encode

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from jupyter_server_proxy.handlers import ProxyHandler
from tornado import httputil, web

from .errors import ApiError
from .store import CLUSTER
from .handlers import AUTH_RESOURCE
from .service import ClusterService

# Request headers that carry the user's Jupyter credentials.
CREDENTIAL_HEADERS = ("Cookie", "Authorization", "X-XSRFToken", "X-CSRFToken")
# What a dashboard page may do in its sandbox: run scripts and open links in new tabs; never
# share Jupyter's origin.
DASHBOARD_SANDBOX = "sandbox allow-scripts allow-popups allow-popups-to-escape-sandbox allow-downloads"
READ_METHODS = ("GET", "HEAD", "OPTIONS")
CAPABILITY_MARK = "~"


def capability(secret: bytes, namespace: str, name: str, uid: str) -> str:
    """The path segment that opens one cluster's dashboard without cookies."""
    digest = hmac.new(secret, f"dask-k8s-dashboard\0{namespace}\0{name}\0{uid}".encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest[:24]).decode()


def is_page_load(headers: httputil.HTTPHeaders) -> bool:
    """Whether a browser is loading a document (a frame or a tab), not fetching data."""
    dest = headers.get("Sec-Fetch-Dest")
    if dest is not None:
        return dest in ("document", "iframe", "frame")
    return "text/html" in headers.get("Accept", "")


def without_credentials(headers: httputil.HTTPHeaders) -> httputil.HTTPHeaders:
    """A copy of request headers without the user's credentials."""
    dropped = {h.lower() for h in CREDENTIAL_HEADERS}
    kept = httputil.HTTPHeaders()
    for name, value in headers.get_all():
        if name.lower() not in dropped:
            kept.add(name, value)
    return kept


def sandbox_response(response) -> None:
    """A jupyter-server-proxy ``rewrite_response``: no cookies from the scheduler; its pages
    sandboxed into an opaque origin (added to any policy of its own: browsers apply all)."""
    if "Set-Cookie" in response.headers:
        del response.headers["Set-Cookie"]
    response.headers.add("Content-Security-Policy", DASHBOARD_SANDBOX)


class DashboardProxyHandler(ProxyHandler):
    auth_resource = AUTH_RESOURCE

    def initialize(self, service: ClusterService) -> None:
        self.service = service

    def _allowed(self, host: str) -> bool:
        return host == getattr(self, "_target_host", None) and self.service.is_dashboard_host(host)

    def __init__(self, *args, **kwargs):
        kwargs["host_allowlist"] = lambda handler, host: handler._allowed(host)
        kwargs["rewrite_response"] = [sandbox_response]
        super().__init__(*args, **kwargs)

    async def prepare(self, *args, **kwargs):
        """Authenticated (ProxyHandler) and authorized like the REST routes, or on the capability
        route, holding this cluster's capability."""
        given = self.path_kwargs.get("capability")
        if given is None:
            await super().prepare(*args, **kwargs)
            action = "read" if self.request.method in READ_METHODS else "write"
            allowed = await ensure_async(self.authorizer.is_authorized(self, self.current_user, action, AUTH_RESOURCE))
            if not allowed:
                raise web.HTTPError(403, f"not authorized to {action} {AUTH_RESOURCE}")
        else:
            prepared = JupyterHandler.prepare(self, *args, **kwargs)  # XSRF for changes, no login
            if inspect.isawaitable(prepared):
                await prepared
            expected = self._capability(self.path_kwargs["namespace"], self.path_kwargs["name"])
            if expected is None or not hmac.compare_digest(given, expected):
                raise web.HTTPError(404, "no such dashboard")
        # jupyter-server-proxy applies rewrite_response only to buffered responses, not to
        # event streams: refuse those rather than pass a scheduler's headers through unchecked.
        if "text/event-stream" in self.request.headers.get("Accept", ""):
            raise web.HTTPError(406, "event streams are not proxied from dashboards")

    def check_xsrf_cookie(self):
        """Jupyter's XSRF check (ProxyHandler defers it to the proxied app, which cannot know
        the user's session)."""
        return JupyterHandler.check_xsrf_cookie(self)

    def check_origin(self, origin=None):
        """Jupyter's origin check, except on the capability route: the sandboxed page's
        websocket comes from an opaque origin (``Origin: null``), and there the capability in
        the path, not an ambient cookie, is what grants access."""
        return self.path_kwargs.get("capability") is not None or JupyterHandler.check_origin(self, origin)

    def proxy_request_headers(self):
        return without_credentials(super().proxy_request_headers())

    def _capability(self, namespace: str, name: str) -> str | None:
        """This cluster's capability, while it is one this server shows."""
        cluster = self.service.store.get(CLUSTER, namespace, name)
        uid = ((cluster or {}).get("metadata") or {}).get("uid")
        if not uid or namespace not in self.service.namespaces:
            return None
        secret = self.settings.get("cookie_secret") or b""
        return capability(secret if isinstance(secret, bytes) else secret.encode(), namespace, name, uid)

    @allow_unauthenticated  # prepare() decides: a login or the capability
    async def get(self, *args, **kwargs):
        return await super().get(*args, **kwargs)

    async def _target(self, namespace: str, name: str, given: str | None) -> tuple[str, int]:
        try:
            host, port = await self.service.dashboard_target(namespace, name)
        except ApiError as e:
            raise web.HTTPError(e.status, e.message.replace("%", "%%")) from None
        self._target_host = host
        # Bokeh and distributed build absolute links from this prefix.
        self.proxy_base = url_path_join("dask-k8s", "dashboard", namespace, name)
        if given is not None:
            self.proxy_base = url_path_join(self.proxy_base, CAPABILITY_MARK + given)
        return host, port

    async def _proxy(self, namespace: str, name: str, path: str | None, capability: str | None = None):
        host, port = await self._target(namespace, name, capability)
        return await self.proxy(host, port, path or "/")

    async def http_get(self, namespace, name, path=None, capability=None):
        if capability is None and is_page_load(self.request.headers):
            own = self._capability(namespace, name)
            if own is not None:  # a page in a sandbox sends no cookies: continue on the capability
                url = url_path_join(self.base_url, "dask-k8s", "dashboard", namespace, name, CAPABILITY_MARK + own)
                query = f"?{self.request.query}" if self.request.query else ""
                return self.redirect(url + (path or "/") + query)
        return await self._proxy(namespace, name, path, capability)

    async def open(self, namespace, name, path=None, capability=None):
        host, port = await self._target(namespace, name, capability)
        return await self.proxy_open(host, port, path or "/")

    @allow_unauthenticated
    def post(self, namespace, name, path=None, capability=None):
        return self._proxy(namespace, name, path, capability)

    @allow_unauthenticated
    def put(self, namespace, name, path=None, capability=None):
        return self._proxy(namespace, name, path, capability)

    @allow_unauthenticated
    def delete(self, namespace, name, path=None, capability=None):
        return self._proxy(namespace, name, path, capability)

    @allow_unauthenticated
    def head(self, namespace, name, path=None, capability=None):
        return self._proxy(namespace, name, path, capability)

    @allow_unauthenticated
    def patch(self, namespace, name, path=None, capability=None):
        return self._proxy(namespace, name, path, capability)

    @allow_unauthenticated
    def options(self, namespace, name, path=None, capability=None):
        return self._proxy(namespace, name, path, capability)


def proxy_handlers(service: ClusterService) -> list[tuple]:
    cluster = r"/dask-k8s/dashboard/(?P<namespace>[^/]+)/(?P<name>[^/]+)"
    return [
        (rf"{cluster}/{CAPABILITY_MARK}(?P<capability>[A-Za-z0-9_-]{{32}})(?P<path>/.*)?", DashboardProxyHandler, {"service": service}),
        (rf"{cluster}(?P<path>/.*)?", DashboardProxyHandler, {"service": service}),
    ]
