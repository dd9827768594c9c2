"""Turning a kubelet HTTP request into a SPDY/3.1 connection: protocol negotiation (pure) and
the hand-over of the socket from aiohttp to a `SpdySession`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from aiohttp import web

from .session import SpdySession, Stream

log = logging.getLogger(__name__)

SPDY_31 = "SPDY/3.1"
PROTOCOL_HEADER = "X-Stream-Protocol-Version"
ACCEPTED_HEADER = "X-Accepted-Stream-Protocol-Versions"


def is_spdy_upgrade(headers) -> bool:
    connection = {t.strip().lower() for t in headers.get("Connection", "").split(",")}
    return "upgrade" in connection and headers.get("Upgrade", "").strip().lower() == SPDY_31.lower()


def offered_protocols(values: Iterable[str]) -> list[str]:
    """Every X-Stream-Protocol-Version value, in the client's order (headers may repeat and
    each may be a comma-separated list)."""
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


def negotiate(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """The first protocol the client offers that we support (the client's preference wins)."""
    return next((p for p in offered if p in supported), None)


class StreamHandler(Protocol):
    """What runs over one SPDY connection: accepts streams, then does the work."""

    def on_stream(self, stream: Stream) -> bool: ...

    async def run(self, session: SpdySession) -> None: ...


async def serve_spdy(request: web.Request, supported: Sequence[str],
                     make_handler: Callable[[str], StreamHandler]) -> web.StreamResponse:
    """Answer 101, take the socket over from aiohttp and run the handler until it finishes or
    the client goes. Errors before the upgrade are ordinary HTTP errors."""
    offered = offered_protocols(request.headers.getall(PROTOCOL_HEADER, []))
    if not offered:
        raise web.HTTPBadRequest(text=f"missing {PROTOCOL_HEADER} header; supported: {', '.join(supported)}")
    chosen = negotiate(offered, supported)
    if chosen is None:
        raise web.HTTPForbidden(headers={ACCEPTED_HEADER: ", ".join(supported)},
                                text=f"none of the offered protocols {offered} is supported: {', '.join(supported)}")
    handler = make_handler(chosen)
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client went away before the upgrade")
    http_protocol = transport.get_protocol()
    # From here on the socket's bytes are SPDY frames: aiohttp hears of the socket again only
    # when it is closed, so its connection bookkeeping stays right.
    session = SpdySession(handler.on_stream, on_lost=http_protocol.connection_lost)
    transport.set_protocol(session)
    session.connection_made(transport)
    transport.write(f"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: {SPDY_31}\r\n"
                    f"{PROTOCOL_HEADER}: {chosen}\r\n\r\n".encode())
    work = asyncio.create_task(handler.run(session))
    lost = asyncio.create_task(session.closed.wait())
    try:
        await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work, lost):
            task.cancel()
        results = await asyncio.gather(work, lost, return_exceptions=True)
        session.close()
    if isinstance(results[0], Exception):
        log.error("%s %s failed", request.method, request.path, exc_info=results[0])
    # aiohttp finds the socket closed when it sends this, and counts it as a client disconnect.
    return web.Response(status=101)
