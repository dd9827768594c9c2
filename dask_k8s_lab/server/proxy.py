"""``/dask-k8s/dashboard/{namespace}/{name}/...``: the scheduler dashboards of visible DaskClusters.

Built on jupyter-server-proxy's ``ProxyHandler`` (HTTP and websockets, authentication on every
request, subprotocols passed through for Bokeh). The target host and port are never taken from
the request: the service resolves them from a DaskCluster in its cache (404 for any other), and
the host allowlist admits only targets resolved that way, so this is not an open proxy.
"""

from __future__ import annotations

from jupyter_server.utils import url_path_join
from jupyter_server_proxy.handlers import ProxyHandler
from tornado import web

from .errors import ApiError
from .service import ClusterService


class DashboardProxyHandler(ProxyHandler):
    def initialize(self, service: ClusterService) -> None:
        self.service = service

    def _allowed(self, host: str) -> bool:
        return host == getattr(self, "_target_host", None) and self.service.is_dashboard_host(host)

    def __init__(self, *args, **kwargs):
        kwargs["host_allowlist"] = lambda handler, host: handler._allowed(host)
        super().__init__(*args, **kwargs)

    async def _target(self, namespace: str, name: str) -> tuple[str, int]:
        try:
            host, port = await self.service.dashboard_target(namespace, name)
        except ApiError as e:
            raise web.HTTPError(e.status, e.message.replace("%", "%%")) from None
        self._target_host = host
        # Bokeh and distributed build absolute links from this prefix.
        self.proxy_base = url_path_join("dask-k8s", "dashboard", namespace, name)
        return host, port

    async def _proxy(self, namespace: str, name: str, path: str | None):
        host, port = await self._target(namespace, name)
        return await self.proxy(host, port, path or "/")

    async def http_get(self, namespace, name, path=None):
        return await self._proxy(namespace, name, path)

    async def open(self, namespace, name, path=None):
        host, port = await self._target(namespace, name)
        return await self.proxy_open(host, port, path or "/")

    def post(self, namespace, name, path=None):
        return self._proxy(namespace, name, path)

    def put(self, namespace, name, path=None):
        return self._proxy(namespace, name, path)

    def delete(self, namespace, name, path=None):
        return self._proxy(namespace, name, path)

    def head(self, namespace, name, path=None):
        return self._proxy(namespace, name, path)

    def patch(self, namespace, name, path=None):
        return self._proxy(namespace, name, path)

    def options(self, namespace, name, path=None):
        return self._proxy(namespace, name, path)


def proxy_handlers(service: ClusterService) -> list[tuple]:
    return [
        (
            r"/dask-k8s/dashboard/(?P<namespace>[^/]+)/(?P<name>[^/]+)(?P<path>/.*)?",
            DashboardProxyHandler,
            {"service": service},
        )
    ]
