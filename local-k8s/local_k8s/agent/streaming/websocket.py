"""exec and attach over WebSocket, for clients that speak it themselves (kr8s); the API server
passes their upgrade through unchanged. Each message is one write, its first byte the channel:
0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize. v5 (which adds closing a channel) never gets
here: the API server answers it itself and speaks SPDY to the kubelet."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from .remotecommand import Channels, Options, ResizeDecoder, Starter, run_command

PROTOCOLS = ("v4.channel.k8s.io", "channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4


class _ChannelSink:
    def __init__(self, ws: web.WebSocketResponse, channel: int) -> None:
        self.ws, self.channel = ws, channel

    async def write(self, data: bytes) -> None:
        await self.ws.send_bytes(bytes([self.channel]) + data)

    async def close(self) -> None:
        pass  # without v5 a channel ends with the connection


async def serve_websocket(request: web.Request, options: Options, start: Starter) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=PROTOCOLS)
    await ws.prepare(request)
    stdin: asyncio.Queue[bytes] = asyncio.Queue()
    resizes: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
    decoder = ResizeDecoder()

    async def receive() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, payload = msg.data[0], msg.data[1:]
            if channel == STDIN and payload:
                stdin.put_nowait(payload)
            elif channel == RESIZE:
                for size in decoder.feed(payload):
                    resizes.put_nowait(size)
        stdin.put_nowait(b"")  # the client is gone: end of input
        resizes.put_nowait(None)

    async def resize_events():
        while (size := await resizes.get()) is not None:
            yield size

    async def finish(payload: bytes) -> None:
        with contextlib.suppress(ConnectionError):
            await ws.send_bytes(bytes([ERROR]) + payload)
        await ws.close()

    # The first message on a writable channel tells the client the stream is up (as the kubelet).
    await ws.send_bytes(bytes([STDOUT if options.stdout else STDERR if options.stderr else ERROR]))
    receiver = asyncio.create_task(receive())
    channels = Channels(
        stdin=stdin.get if options.stdin else None,
        stdout=_ChannelSink(ws, STDOUT) if options.stdout else None,
        stderr=_ChannelSink(ws, STDERR) if options.stderr else None,
        resizes=resize_events() if options.tty else None,
        finish=finish,
    )
    try:
        await run_command(ws.ws_protocol or "", options, start, channels)
    finally:
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
        await ws.close()
    return ws
