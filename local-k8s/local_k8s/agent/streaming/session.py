"""A SPDY/3.1 connection on the kubelet's side, as an asyncio protocol: the client (the API
server or kubectl) opens streams, we accept or refuse each, then read and write its data."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from . import spdy

log = logging.getLogger(__name__)

# Pause reading the socket while this much received data waits for its readers.
HIGH_WATER, LOW_WATER = 1 << 20, 1 << 18


class StreamReset(ConnectionError):
    """The stream was reset (by either side) or its connection is gone."""


class Stream:
    """One SPDY stream: headers from its SYN_STREAM, data both ways, each direction closed on
    its own by a FIN; a reset ends both."""

    def __init__(self, session: SpdySession, stream_id: int, headers: spdy.Headers) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self._chunks: deque[bytes] = deque()
        self._readable = asyncio.Event()
        self.remote_closed = False  # the peer sent FIN
        self.local_closed = False  # we sent FIN
        self.is_reset = False
        self.closed = asyncio.Event()  # both directions done, or reset

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    async def read(self) -> bytes:
        """The next chunk; b"" once the peer closed its side (or the stream was reset)."""
        while not self._chunks:
            if self.remote_closed or self.is_reset:
                return b""
            self._readable.clear()
            await self._readable.wait()
        chunk = self._chunks.popleft()
        self.session._consumed(len(chunk))
        return chunk

    async def read_all(self, limit: int = 1 << 20) -> bytes:
        parts, size = [], 0
        while size < limit and (chunk := await self.read()):
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)

    async def write(self, data: bytes) -> None:
        if self.is_reset or self.local_closed:
            raise StreamReset(f"stream {self.id} is closed for writing")
        for piece in spdy.chunks(data):
            self.session.send(spdy.Data(self.id, piece))
        await self.session.drain()

    def close(self) -> None:
        """Half-close: FIN our side. The peer may still send."""
        if not (self.local_closed or self.is_reset):
            self.local_closed = True
            self.session.send(spdy.Data(self.id, b"", fin=True))
            self._maybe_done()

    def reset(self, status: int = spdy.RstStatus.CANCEL) -> None:
        if not self.is_reset:
            if not (self.local_closed and self.remote_closed):
                self.session.send(spdy.RstStream(self.id, status))
            self._on_reset()

    # ---- from the session ----

    def _on_data(self, data: bytes, fin: bool) -> None:
        if self.is_reset or self.remote_closed:
            return  # late frames of a finished stream are dropped
        if data:
            self._chunks.append(data)
            self.session._buffered(len(data))
        if fin:
            self.remote_closed = True
            self._maybe_done()
        self._readable.set()

    def _on_reset(self) -> None:
        self.is_reset = True
        self.session._consumed(sum(map(len, self._chunks)))
        self._chunks.clear()
        self._readable.set()
        self.closed.set()
        self.session._forget(self.id)

    def _maybe_done(self) -> None:
        if self.local_closed and self.remote_closed:
            self.closed.set()
            self.session._forget(self.id)


class SpdySession(asyncio.Protocol):
    """Server side of one connection. `on_stream(stream)` runs for each new stream, at once
    (the client waits for our reply before opening the next); it returns whether to accept it."""

    def __init__(self, on_stream: Callable[[Stream], bool],
                 on_lost: Callable[[Exception | None], None] = lambda exc: None) -> None:
        self.on_stream = on_stream
        self.on_lost = on_lost  # tells the HTTP server that handed us the socket
        self.codec = spdy.HeaderCodec()
        self.decoder = spdy.FrameDecoder(self.codec)
        self.streams: dict[int, Stream] = {}
        self.transport: asyncio.Transport | None = None
        self.last_stream_id = 0
        self.going_away = False
        self.closed = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._buffered_bytes = 0
        self._reading_paused = False

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.decoder.feed(data)
        except spdy.ProtocolError as e:
            log.warning("closing SPDY connection: %s", e)
            self.close(spdy.GoAwayStatus.PROTOCOL_ERROR)
            return
        for frame in frames:
            self._handle(frame)

    def eof_received(self) -> bool | None:
        self.close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        for stream in list(self.streams.values()):
            stream._on_reset()
        self.transport = None
        self._writable.set()
        self.closed.set()
        self.on_lost(exc)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # ---- sending ----

    def send(self, frame: spdy.Frame) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(spdy.encode(frame, self.codec))

    async def drain(self) -> None:
        await self._writable.wait()
        if self.transport is None:
            raise StreamReset("connection closed")

    def close(self, status: int = spdy.GoAwayStatus.OK) -> None:
        """Reset what is still open, say GOAWAY and close the socket."""
        for stream in list(self.streams.values()):
            stream.reset()
        if self.transport is not None and not self.transport.is_closing():
            self.send(spdy.GoAway(self.last_stream_id, status))
            self.transport.close()

    # ---- receiving ----

    def _handle(self, frame: spdy.Frame) -> None:
        if isinstance(frame, spdy.Data):
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                stream._on_data(frame.data, frame.fin)
        elif isinstance(frame, spdy.SynStream):
            self._open(frame)
        elif isinstance(frame, spdy.RstStream):
            if (stream := self.streams.get(frame.stream_id)) is not None:
                stream._on_reset()
        elif isinstance(frame, spdy.Ping):
            if frame.id % 2 == 1:  # the client's ping; ours would be even, and we send none
                self.send(frame)
        elif isinstance(frame, spdy.GoAway):
            self.going_away = True
        # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do (no flow control, see spdy.py).

    def _open(self, frame: spdy.SynStream) -> None:
        if frame.stream_id % 2 == 0 or frame.stream_id <= self.last_stream_id:
            self.send(spdy.RstStream(frame.stream_id, spdy.RstStatus.PROTOCOL_ERROR))
            return
        self.last_stream_id = frame.stream_id
        stream = Stream(self, frame.stream_id, frame.headers)
        if self.going_away or not self._accept(stream):
            self.send(spdy.RstStream(frame.stream_id, spdy.RstStatus.REFUSED_STREAM))
            return
        self.streams[stream.id] = stream
        self.send(spdy.SynReply(stream.id))
        if frame.fin:
            stream._on_data(b"", True)

    def _accept(self, stream: Stream) -> bool:
        try:
            return self.on_stream(stream)
        except Exception:
            log.exception("stream %d refused after an error", stream.id)
            return False

    def _forget(self, stream_id: int) -> None:
        self.streams.pop(stream_id, None)

    def _buffered(self, n: int) -> None:
        self._buffered_bytes += n
        if self._buffered_bytes > HIGH_WATER and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _consumed(self, n: int) -> None:
        self._buffered_bytes -= n
        if self._reading_paused and self._buffered_bytes < LOW_WATER and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
