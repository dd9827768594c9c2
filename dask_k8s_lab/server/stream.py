"""``GET /dask-k8s/stream``: a websocket of cluster changes, fed by the service's watch cache."""

from __future__ import annotations

import asyncio
import json

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from tornado import web, websocket

from .handlers import AUTH_RESOURCE
from .service import ClusterService


class StreamHandler(JupyterHandler, websocket.WebSocketHandler):
    """Sends ``snapshot`` on connect, then ``updated`` / ``deleted`` messages as they happen, and
    ``health`` when the server's watch of Kubernetes fails or recovers (``stale``: why, or null)."""

    auth_resource = AUTH_RESOURCE

    @property
    def service(self) -> ClusterService:
        return self.settings["dask_k8s_lab_service"]

    @property
    def ping_interval(self) -> float | None:
        """Keep the socket alive through proxies (JupyterHub's, ingresses) that drop idle ones."""
        return self.settings.get("websocket_ping_interval", 30.0)

    @ws_authenticated
    async def get(self, *args, **kwargs):
        authorized = await ensure_async(self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE))
        if not authorized:
            raise web.HTTPError(403)
        await self.service.ready()
        result = super().get(*args, **kwargs)
        if result is not None:
            await result

    def open(self) -> None:
        self._queue, snapshot = self.service.subscribe()
        self.write_message(json.dumps({"type": "snapshot", "clusters": snapshot, "stale": self.service.stale}))
        self._pump = asyncio.ensure_future(self._forward())

    async def _forward(self) -> None:
        try:
            while True:
                message = await self._queue.get()
                if message is None:
                    self.close()
                    return
                await self.write_message(json.dumps(message))
        except websocket.WebSocketClosedError:
            pass
        finally:
            self.service.unsubscribe(self._queue)

    def on_message(self, message) -> None:
        """Clients have nothing to say; pings are answered by the websocket layer."""

    def on_close(self) -> None:
        queue = getattr(self, "_queue", None)
        if queue is not None:
            self.service.unsubscribe(queue)
        pump = getattr(self, "_pump", None)
        if pump is not None:
            pump.cancel()
