"""The kubelet's HTTPS API, as far as the API server proxies to it: container logs
(`kubectl logs`, kr8s `logs()`), exec, attach and port-forward.

What kube-apiserver 1.35 sends here (seen in this agent's log): for `kubectl exec/attach`, a POST
upgrading to SPDY/3.1 that offers v5 down to v1 of channel.k8s.io, whether kubectl spoke
WebSocket to it (it translates) or SPDY (it passes the upgrade on); for `kubectl port-forward`,
a POST upgrading to SPDY/3.1 with `portforward.k8s.io` and no `port` parameter. WebSocket arrives
only from clients that speak it themselves (kr8s exec with v4.channel.k8s.io, kr8s port-forward
with `?port=`), passed through unchanged."""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiohttp import WSMsgType, web

from .pods import PodManager
from .streaming import containerexec, portforward, remotecommand, websocket
from .streaming.upgrade import PROTOCOL_HEADER, is_spdy_upgrade, serve_spdy

log = logging.getLogger(__name__)


def _line_time(line: bytes) -> datetime | None:
    try:
        return datetime.strptime(line[:26].decode() + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def select_log(data: bytes, *, timestamps: bool, tail: int | None, since: datetime | None,
               limit: int | None) -> bytes:
    """Apply `kubectl logs` options to a stored log (every line starts with its RFC 3339 time)."""
    lines = data.splitlines(keepends=True)
    if since:
        lines = [line for line in lines if (_line_time(line) or since) >= since]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    if not timestamps:
        lines = [line.split(b" ", 1)[1] if b" " in line else line for line in lines]
    out = b"".join(lines)
    return out[:limit] if limit else out


class KubeletApi:
    def __init__(self, pods: PodManager) -> None:
        self.pods = pods
        self.app = web.Application()
        self.app.add_routes([
            web.get("/healthz", self.healthz),
            web.get("/containerLogs/{namespace}/{pod}/{container}", self.logs),
        ])
        # Each streaming endpoint also exists with the pod's uid before the container name.
        for path, handler in [("/exec/{namespace}/{pod}/{container}", self.exec),
                              ("/exec/{namespace}/{pod}/{uid}/{container}", self.exec),
                              ("/attach/{namespace}/{pod}/{container}", self.attach),
                              ("/attach/{namespace}/{pod}/{uid}/{container}", self.attach),
                              ("/portForward/{namespace}/{pod}", self.port_forward),
                              ("/portForward/{namespace}/{pod}/{uid}", self.port_forward)]:
            self.app.router.add_route("GET", path, handler)
            self.app.router.add_route("POST", path, handler)
        self.runner: web.AppRunner | None = None

    async def start(self, host: str, port: int, cert: Path, key: Path) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, host, port, ssl_context=context).start()

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def _runner(self, request: web.Request):
        runner = self.pods.find(request.match_info["namespace"], request.match_info["pod"])
        if runner is None or request.match_info.get("uid", runner.uid) != runner.uid:
            raise web.HTTPNotFound(text=f'pod "{request.match_info["pod"]}" not found on this node')
        return runner

    async def logs(self, request: web.Request) -> web.StreamResponse:
        runner = self._runner(request)
        q = request.query
        container = request.match_info["container"]
        path = runner.log_path(container, previous=q.get("previous") == "true")
        if path is None:
            raise web.HTTPBadRequest(text=f'container "{container}" in pod "{runner.name}" has no '
                                          f'{"previous " if q.get("previous") == "true" else ""}logs')
        since = None
        if "sinceSeconds" in q:
            since = datetime.now(timezone.utc) - timedelta(seconds=int(q["sinceSeconds"]))
        elif "sinceTime" in q:
            since = datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00"))
        options = dict(timestamps=q.get("timestamps") == "true", since=since,
                       tail=int(q["tailLines"]) if "tailLines" in q else None,
                       limit=int(q["limitBytes"]) if "limitBytes" in q else None)
        data = path.read_bytes() if path.exists() else b""
        if q.get("follow") != "true":
            return web.Response(body=select_log(data, **options), content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(select_log(data, **options))
        offset = len(data)
        options.update(tail=None, since=None, limit=None)
        try:
            while runner.is_running(container) or (path.exists() and path.stat().st_size > offset):
                await asyncio.sleep(0.2)
                if path.exists() and path.stat().st_size > offset:
                    with path.open("rb") as f:
                        f.seek(offset)
                        chunk = f.read()
                    # Only whole lines: a partial line waits for its end.
                    chunk = chunk[: chunk.rfind(b"\n") + 1]
                    offset += len(chunk)
                    await response.write(select_log(chunk, **options))
            await response.write_eof()
        except ConnectionError:
            pass  # the client stopped following
        return response

    @staticmethod
    def _log_stream_request(request: web.Request) -> None:
        log.info("%s %s (Upgrade: %s; %s: %s; WebSocket protocols: %s)", request.method, request.path_qs,
                 request.headers.get("Upgrade"), PROTOCOL_HEADER, request.headers.getall(PROTOCOL_HEADER, []),
                 request.headers.get("Sec-WebSocket-Protocol"))

    async def exec(self, request: web.Request) -> web.StreamResponse:
        return await self._remote_command(request, exec_=True)

    async def attach(self, request: web.Request) -> web.StreamResponse:
        return await self._remote_command(request, exec_=False)

    async def _remote_command(self, request: web.Request, *, exec_: bool) -> web.StreamResponse:
        self._log_stream_request(request)
        runner = self._runner(request)
        container = request.match_info["container"]
        try:
            options = remotecommand.parse_options(request.query, request.query.getall("command", []), exec_=exec_)
        except ValueError as e:
            raise web.HTTPBadRequest(text=str(e)) from None

        async def start(options: remotecommand.Options) -> remotecommand.Process:
            if exec_:
                return await containerexec.start_exec(runner, container, options)
            return containerexec.AttachProcess(runner, container)

        if is_spdy_upgrade(request.headers):
            return await serve_spdy(request, remotecommand.SPDY_PROTOCOLS,
                                    lambda protocol: remotecommand.SpdyRemoteCommand(protocol, options, start))
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await websocket.serve_websocket(request, options, start)
        raise web.HTTPBadRequest(text="exec and attach need an upgrade to SPDY/3.1 or WebSocket")

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        self._log_stream_request(request)
        if is_spdy_upgrade(request.headers):
            runner = self._runner(request)

            async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
                if not runner.ip:
                    raise OSError(f"pod {runner.name} has no IP address yet")
                return await asyncio.open_connection(runner.ip, port)

            return await serve_spdy(request, (portforward.PROTOCOL,),
                                    lambda protocol: portforward.SpdyPortForward(dial, f"pod {runner.name}"))
        return await self._websocket_port_forward(request)

    async def _websocket_port_forward(self, request: web.Request) -> web.StreamResponse:
        """Kubernetes' WebSocket port-forward channels: per port i, data on 2i and errors on
        2i+1; each channel's first frame carries the port number (little-endian)."""
        runner = self._runner(request)
        # The API server passes each port as its own `port` parameter.
        raw = request.query.getall("port", []) or request.query.get("ports", "").split(",")
        ports = [int(p) for p in raw if p]
        if not ports:
            raise web.HTTPBadRequest(text="port query parameter is required")
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io", "channel.k8s.io", "portforward.k8s.io"))
        await ws.prepare(request)
        writers: dict[int, asyncio.StreamWriter] = {}
        tasks = []
        for i, port in enumerate(ports):
            header = port.to_bytes(2, "little")
            await ws.send_bytes(bytes([2 * i]) + header)
            await ws.send_bytes(bytes([2 * i + 1]) + header)
            try:
                reader, writer = await asyncio.open_connection(runner.ip, port)
            except OSError as e:
                await ws.send_bytes(bytes([2 * i + 1]) + f"error forwarding port {port} to pod {runner.name}: {e}".encode())
                await ws.close()
                return ws
            writers[2 * i] = writer
            tasks.append(asyncio.create_task(self._tcp_to_ws(reader, ws, 2 * i)))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY and msg.data and msg.data[0] in writers:
                    writer = writers[msg.data[0]]
                    writer.write(msg.data[1:])
                    await writer.drain()
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            for writer in writers.values():
                writer.close()
            await ws.close()
        return ws

    async def _tcp_to_ws(self, reader: asyncio.StreamReader, ws: web.WebSocketResponse, channel: int) -> None:
        try:
            while data := await reader.read(256 * 1024):
                await ws.send_bytes(bytes([channel]) + data)
        except (ConnectionError, OSError):
            pass
        await ws.close()
