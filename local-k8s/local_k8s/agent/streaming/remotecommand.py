"""exec and attach (Kubernetes' remotecommand protocol): the request's options, the streams
the client opens, and the Status it gets at the end. Pure except for `RemoteCommand.run`,
which drives a `Process` (see `containerexec.py`) over whichever transport carries the streams."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .session import SpdySession, Stream, StreamReset

log = logging.getLogger(__name__)

# Over SPDY, newest first. v5 (half-close of stdin) exists only on WebSocket, where the API
# server ends it; "channel.k8s.io" (v1) predates the error stream's Status and is left out.
SPDY_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io")
STATUS_PROTOCOLS = {"v4.channel.k8s.io"}  # the error stream carries a Status
STREAM_TIMEOUT = 30.0  # how long the client may take to open all its streams (as the kubelet)


@dataclass(frozen=True)
class Options:
    command: tuple[str, ...]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    def stream_types(self) -> set[str]:
        """The streams a client opens for these options."""
        wanted = {"error": True, "stdin": self.stdin, "stdout": self.stdout, "stderr": self.stderr,
                  "resize": self.tty}
        return {name for name, on in wanted.items() if on}


def parse_options(query: Mapping[str, str], commands: Sequence[str], *, exec_: bool) -> Options:
    """The request's flags, as the API server writes them (present and "1" or "true" when on)."""

    def flag(name: str) -> bool:
        return query.get(name, "").lower() in ("1", "true")

    tty = flag("tty")
    options = Options(tuple(commands), flag("input"), flag("output"), flag("error") and not tty, tty)
    if not (options.stdin or options.stdout or options.stderr):
        raise ValueError("you must specify at least 1 of stdin, stdout, stderr")
    if exec_ and not options.command:
        raise ValueError("you must specify a command (the command query parameter)")
    return options


def status_success() -> bytes:
    return json.dumps({"metadata": {}, "status": "Success"}).encode()


def status_exit_code(code: int) -> bytes:
    """The Status kubectl turns into its own exit code."""
    code = code & 0xFF
    return json.dumps({
        "metadata": {}, "status": "Failure", "message": f"command terminated with non-zero exit code: {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }).encode()


def status_error(message: str) -> bytes:
    return json.dumps({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError",
                       "code": 500}).encode()


def error_payload(protocol: str, code: int | None, message: str | None) -> bytes:
    """What the error stream carries at the end: a Status (v4+), or plain text for older
    clients, which read any text as the failure."""
    if protocol in STATUS_PROTOCOLS:
        if message is not None:
            return status_error(message)
        return status_success() if not code else status_exit_code(code)
    if message is not None:
        return message.encode()
    return f"command terminated with non-zero exit code: {code}".encode() if code else b""


class ResizeDecoder:
    """The resize stream: JSON objects {"Width": w, "Height": h} back to back, in any chunking."""

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()

    def feed(self, data: bytes) -> Iterator[tuple[int, int]]:
        self._buffer += data.decode(errors="replace")
        while True:
            text = self._buffer.lstrip()
            if not text:
                self._buffer = ""
                return
            try:
                value, end = self._decoder.raw_decode(text)
            except json.JSONDecodeError:
                self._buffer = text  # an incomplete object: wait for the rest
                return
            self._buffer = text[end:]
            if isinstance(value, dict):
                width, height = int(value.get("Width") or 0), int(value.get("Height") or 0)
                if 0 < width < 65536 and 0 < height < 65536:
                    yield width, height


class Sink(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


@dataclass
class Channels:
    """The client's side of a command, whatever the transport."""

    stdin: Callable[[], Awaitable[bytes]] | None  # b"" at end of input
    stdout: Sink | None
    stderr: Sink | None
    resizes: AsyncIterator[tuple[int, int]] | None
    finish: Callable[[bytes], Awaitable[None]]  # write the error stream's payload and end it


class Process(Protocol):
    """A started exec or attach, as `RemoteCommand` drives it."""

    async def pump(self, channels: Channels) -> int | None:
        """Copy I/O until the command ends; its exit code (None for attach)."""


Starter = Callable[[Options], Awaitable[Process]]


class SpdyRemoteCommand:
    """exec/attach over one SPDY connection: collects the client's streams, then runs."""

    def __init__(self, protocol: str, options: Options, start: Starter) -> None:
        self.protocol = protocol
        self.options = options
        self.start = start
        self.wanted = options.stream_types()
        self.streams: dict[str, Stream] = {}
        self._all_open = asyncio.Event()

    def on_stream(self, stream: Stream) -> bool:
        kind = stream.header("streamtype") or ""
        if kind not in self.wanted or kind in self.streams:
            log.warning("unexpected %r stream for %s", kind, self.options)
            return False
        self.streams[kind] = stream
        if len(self.streams) == len(self.wanted):
            self._all_open.set()
        return True

    async def run(self, session: SpdySession) -> None:
        try:
            await asyncio.wait_for(self._all_open.wait(), STREAM_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("client opened only %s of %s streams", sorted(self.streams), sorted(self.wanted))
            return
        s = self.streams
        error = s["error"]

        async def finish(payload: bytes) -> None:
            try:
                if payload:
                    await error.write(payload)
                error.close()
            except StreamReset:
                pass

        channels = Channels(
            stdin=s["stdin"].read if "stdin" in s else None,
            stdout=_StreamSink(s["stdout"]) if "stdout" in s else None,
            stderr=_StreamSink(s["stderr"]) if "stderr" in s else None,
            resizes=_resizes(s["resize"]) if "resize" in s else None,
            finish=finish,
        )
        await run_command(self.protocol, self.options, self.start, channels)


async def run_command(protocol: str, options: Options, start: Starter, channels: Channels) -> None:
    """Start, pump and report, for any transport."""
    try:
        process = await start(options)
    except (LookupError, OSError, ValueError) as e:
        await channels.finish(error_payload(protocol, None, str(e)))
        return
    code = await process.pump(channels)
    for sink in (channels.stdout, channels.stderr):
        if sink is not None:
            await sink.close()  # the client waits for these ends before it reads the status
    await channels.finish(error_payload(protocol, code, None))


class _StreamSink:
    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    async def write(self, data: bytes) -> None:
        await self.stream.write(data)

    async def close(self) -> None:
        self.stream.close()


async def _resizes(stream: Stream) -> AsyncIterator[tuple[int, int]]:
    decoder = ResizeDecoder()
    while chunk := await stream.read():
        for size in decoder.feed(chunk):
            yield size
