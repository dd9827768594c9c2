"""A port-forward to a Pod or Service port, kept alive on one local port.

It is built on kr8s's public ``Api.open_websocket`` (one API-server websocket per client
connection) rather than on kr8s's ``PortForward``, whose public API cannot give what a
long-lived forward needs: a refused websocket upgrade is retried forever without a pause (its
attempt counter is never incremented: kr8s-org/kr8s#748), and its open client connections are not
reachable, so a dropped forward could not cut them. Swap back to ``PortForward`` once kr8s bounds
those retries and can close its connections.

The Kubernetes port-forward protocol, as spoken here: binary frames whose first byte is the
channel (0: data, 1: errors of that port); the first frame of each channel carries the port
number and no data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx_ws

logger = logging.getLogger(__name__)

#: Websocket attempts per client connection before it is closed (the client then reconnects).
WEBSOCKET_ATTEMPTS = 6
_DATA, _ERROR = 0, 1
_CHUNK = 1024 * 1024


class PortForwarder:
    """A kr8s port-forward to a Service (or Pod) kept alive on one local port.

    A supervisor task checks the local listener every ``check_interval`` seconds and restarts
    it on the same port if it stopped serving, so a client that reconnects to the same address
    finds it again.
    """

    def __init__(
        self,
        resource: Any,
        remote_port: int,
        local_port: int | None = None,
        address: str = "127.0.0.1",
        check_interval: float = 0.5,
    ):
        self.resource = resource
        self.remote_port = remote_port
        self.local_port = local_port or 0
        self.address = address
        self.check_interval = check_interval
        self.restarts = 0
        #: Websocket upgrades that failed (each makes the next attempt pick a ready pod again).
        self.websocket_failures = 0
        self._pod: Any = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task | None = None
        self._error: BaseException | None = None

    async def start(self, timeout: float = 10) -> int:
        """Start forwarding; return the local port once it is listening."""
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"port-forward:{self.remote_port}")
        ready = asyncio.create_task(self._ready.wait())
        try:
            await asyncio.wait({ready, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if not self._ready.is_set():
            await self.stop()
            raise ConnectionError(
                f"Could not start a port-forward to port {self.remote_port} on local port "
                f"{self.local_port or '(any)'}: {self._error or 'timed out'}"
            )
        return self.local_port

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    def drop(self) -> None:
        """Break the forward as a network failure would: stop listening, cut connections."""
        self._close_connections()
        self._wake.set()

    async def stop(self) -> None:
        self._closing = True
        self._wake.set()
        self._close_connections()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _supervise(self) -> None:
        backoff = 0.1
        while not self._closing:
            try:
                self._server = await asyncio.start_server(self._serve, self.address, self.local_port)
            except OSError as e:  # e.g. the local port is briefly still bound
                self._error = e
                logger.debug("port-forward to %s failed: %s", self.remote_port, e)
            else:
                self.local_port = self._server.sockets[0].getsockname()[1]
                self._ready.set()
                backoff = 0.1
                try:
                    while not self._closing and self.serving:
                        self._wake.clear()
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), self.check_interval)
                finally:
                    self._close_connections()
            if self._closing:
                break
            self.restarts += 1
            logger.info("port-forward on local port %s dropped; re-establishing", self.local_port)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    def _close_connections(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client connection: copy bytes both ways over its own websocket."""
        self._writers.add(writer)
        try:
            async with self._websocket() as websocket:
                await _pump(websocket, reader, writer)
        except Exception as e:  # one connection failed (e.g. API server busy); the client retries
            logger.debug("port-forward connection to port %s failed: %r", self.remote_port, e)
        finally:
            self._writers.discard(writer)
            writer.close()

    @contextlib.asynccontextmanager
    async def _websocket(self) -> AsyncIterator[Any]:
        """The port-forward websocket of a ready pod; only a failure to open it is retried, with a
        backoff and another pod each time (the one tried may have been replaced)."""
        last_error: Exception | None = None
        for attempt in range(WEBSOCKET_ATTEMPTS):
            if self._pod is None:
                self._pod = await self._select_pod()
            pod = self._pod
            opener = pod.api.open_websocket(
                version=pod.version,
                url=f"{pod.endpoint}/{pod.name}/portforward",
                namespace=pod.namespace,
                params={"ports": str(self.remote_port)},
            )
            async with contextlib.AsyncExitStack() as stack:
                try:
                    websocket = await stack.enter_async_context(opener)
                except httpx_ws.HTTPXWSException as e:
                    self.websocket_failures += 1
                    self._pod = None
                    last_error = e
                    await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
                    continue
                yield websocket
                return
        raise ConnectionError(f"no websocket to a ready pod after {WEBSOCKET_ATTEMPTS} attempts") from last_error

    async def _select_pod(self) -> Any:
        if not hasattr(self.resource, "ready_pods"):
            return self.resource  # a Pod
        pods = await self.resource.ready_pods()
        if not pods:
            raise ConnectionError(f"No ready pod behind {self.resource.name!r}")
        return random.choice(pods)


async def _pump(websocket: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until either side ends; the other direction is then cancelled."""
    tasks = {
        asyncio.create_task(_tcp_to_websocket(reader, websocket)),
        asyncio.create_task(_websocket_to_tcp(websocket, writer)),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()  # an error frame or a failed write is this connection's failure


async def _tcp_to_websocket(reader: asyncio.StreamReader, websocket: Any) -> None:
    with contextlib.suppress(httpx_ws.WebSocketDisconnect):
        while data := await _read(reader):
            await websocket.send_bytes(bytes([_DATA]) + data)


async def _read(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.read(_CHUNK)
    except ConnectionError:
        return b""


async def _websocket_to_tcp(websocket: Any, writer: asyncio.StreamWriter) -> None:
    seen: set[int] = set()
    while True:
        try:
            frame = await websocket.receive_bytes()
        except httpx_ws.WebSocketDisconnect:
            return
        channel = frame[0]
        if channel not in seen:  # the port-number header of this channel
            seen.add(channel)
            continue
        if channel == _ERROR:
            raise ConnectionError(frame[1:].decode(errors="replace"))
        writer.write(frame[1:])
        await writer.drain()
