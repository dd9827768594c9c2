"""Port-forward over SPDY: for every connection the client forwards, it opens an `error` and a
`data` stream with the same `requestid` and `port`; we connect to the pod's port and copy."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .session import SpdySession, Stream, StreamReset

log = logging.getLogger(__name__)

PROTOCOL = "portforward.k8s.io"
PAIR_TIMEOUT = 30.0  # how long one stream of a pair waits for the other (as the kubelet)
CHUNK = 64 * 1024

Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


def parse_port(value: str | None) -> int:
    if not value:
        raise ValueError("port header is missing")
    try:
        port = int(value)
    except ValueError:
        raise ValueError(f"port {value!r} is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range 1-65535")
    return port


def request_key(stream_id: int, kind: str, request_id: str | None) -> str:
    """What pairs a data stream with its error stream: the requestid header, or for clients
    too old to send one, the error stream's id (the data stream follows it, two ids later)."""
    if request_id:
        return request_id
    return str(stream_id if kind == "error" else stream_id - 2)


@dataclass
class _Pair:
    port: int
    error: Stream | None = None
    data: Stream | None = None
    timeout: asyncio.TimerHandle | None = None


class SpdyPortForward:
    """All forwarded connections of one `kubectl port-forward` (one SPDY connection)."""

    def __init__(self, dial: Dial, describe: str) -> None:
        self.dial = dial
        self.describe = describe  # "pod NAME" in error messages
        self.pairs: dict[str, _Pair] = {}
        self.tasks: set[asyncio.Task] = set()

    def on_stream(self, stream: Stream) -> bool:
        kind = stream.header("streamtype")
        try:
            port = parse_port(stream.header("port"))
        except ValueError as e:
            log.warning("port-forward stream refused: %s", e)
            return False
        if kind not in ("error", "data"):
            log.warning("port-forward stream refused: unknown stream type %r", kind)
            return False
        key = request_key(stream.id, kind, stream.header("requestid"))
        pair = self.pairs.setdefault(key, _Pair(port))
        if getattr(pair, kind) is not None or pair.port != port:
            return False
        setattr(pair, kind, stream)
        if pair.error and pair.data:
            del self.pairs[key]
            if pair.timeout:
                pair.timeout.cancel()
            task = asyncio.get_running_loop().create_task(self._forward(pair.port, pair.error, pair.data))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        else:
            pair.timeout = asyncio.get_running_loop().call_later(PAIR_TIMEOUT, self._expire, key)
        return True

    def _expire(self, key: str) -> None:
        pair = self.pairs.pop(key, None)
        if pair:
            log.warning("port-forward request %s: its other stream never came", key)
            for stream in (pair.error, pair.data):
                if stream:
                    stream.reset()

    async def run(self, session: SpdySession) -> None:
        try:
            await session.closed.wait()
        finally:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            for pair in self.pairs.values():
                if pair.timeout:
                    pair.timeout.cancel()

    async def _forward(self, port: int, error: Stream, data: Stream) -> None:
        try:
            reader, writer = await asyncio.wait_for(self.dial(port), 10)
        except (OSError, asyncio.TimeoutError) as e:
            reason = os.strerror(e.errno) if getattr(e, "errno", None) else str(e) or "connection timed out"
            message = f"error forwarding port {port} to {self.describe}: {reason}"
            log.info("%s", message)
            try:
                await error.write(message.encode())
                error.close()
            except StreamReset:
                pass
            data.reset()
            return

        async def to_pod() -> None:
            while chunk := await data.read():
                writer.write(chunk)
                await writer.drain()
            if not data.is_reset and writer.can_write_eof():
                writer.write_eof()  # the client's half-close, passed on

        async def from_pod() -> None:
            while chunk := await reader.read(CHUNK):
                await data.write(chunk)
            data.close()

        copies = asyncio.gather(to_pod(), from_pod())
        closed = asyncio.create_task(data.closed.wait())
        try:
            await asyncio.wait({copies, closed}, return_when=asyncio.FIRST_COMPLETED)
        except (ConnectionError, StreamReset):
            pass
        finally:
            copies.cancel()
            closed.cancel()
            await asyncio.gather(copies, closed, return_exceptions=True)
            writer.close()
            # The client waits for the error stream's end before it lets go of the connection.
            error.close()
            if not data.closed.is_set():
                data.reset()
