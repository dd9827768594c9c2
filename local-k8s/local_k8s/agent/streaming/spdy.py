"""SPDY/3.1 framing, without I/O: frames to bytes and back, and the zlib-compressed header
blocks. Only what Kubernetes' streaming protocols use (spdystream as the peer): no priorities,
no server push, and flow control is left to TCP because the peer never grants window."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

VERSION = 3
FLAG_FIN = 0x01
MAX_HEADER_BLOCK = 1 << 20  # decompressed; a handful of short headers in practice
MAX_DATA_FRAME = 1 << 15  # what we send per DATA frame; the 24-bit length allows 16 MiB

# The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): header
# names and common values, each with a 4-byte big-endian length, then a block of raw text.
_DICT_WORDS = (
    *"options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base content-encoding "
    "content-language content-length content-location content-md5 content-range content-type date "
    "etag expect expires from host if-match if-modified-since if-none-match if-range "
    "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
    "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
    "user-agent vary via warning www-authenticate method get status".split(),
    "200 OK",
    *"version HTTP/1.1 url public set-cookie keep-alive origin".split(),
)
_DICT_TEXT = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICT_WORDS) + _DICT_TEXT.encode()


DICTIONARY = _dictionary()


class FrameType(IntEnum):
    SYN_STREAM = 1
    SYN_REPLY = 2
    RST_STREAM = 3
    SETTINGS = 4
    PING = 6
    GOAWAY = 7
    HEADERS = 8
    WINDOW_UPDATE = 9


class RstStatus(IntEnum):
    PROTOCOL_ERROR = 1
    INVALID_STREAM = 2
    REFUSED_STREAM = 3
    UNSUPPORTED_VERSION = 4
    CANCEL = 5
    INTERNAL_ERROR = 6
    FLOW_CONTROL_ERROR = 7
    STREAM_IN_USE = 8
    STREAM_ALREADY_CLOSED = 9


class GoAwayStatus(IntEnum):
    OK = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3.1; the connection cannot go on."""


Headers = dict[str, list[str]]


@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes
    fin: bool = False


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: Headers
    associated_id: int = 0
    priority: int = 0
    fin: bool = False


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    fin: bool = False


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Ping:
    id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int
    status: int = GoAwayStatus.OK


@dataclass(frozen=True)
class OtherControl:
    """SETTINGS, HEADERS, WINDOW_UPDATE or an unknown type: passed up, never needed here."""

    type: int
    flags: int
    body: bytes


Frame = Data | SynStream | SynReply | RstStream | Ping | GoAway | OtherControl


class HeaderCodec:
    """One connection's header compression: each direction is a single zlib stream that lives
    as long as the connection, so blocks must be encoded and decoded in wire order."""

    def __init__(self) -> None:
        self._compress = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, zdict=DICTIONARY)
        self._decompress = zlib.decompressobj(zdict=DICTIONARY)

    def encode(self, headers: Mapping[str, Sequence[str]]) -> bytes:
        raw = [struct.pack(">I", len(headers))]
        for name, values in headers.items():
            key, value = name.lower().encode(), "\0".join(values).encode()
            raw += [struct.pack(">I", len(key)), key, struct.pack(">I", len(value)), value]
        return self._compress.compress(b"".join(raw)) + self._compress.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, block: bytes) -> Headers:
        try:
            raw = self._decompress.decompress(block, MAX_HEADER_BLOCK)
        except zlib.error as e:
            raise ProtocolError(f"bad header block: {e}") from e
        if self._decompress.unconsumed_tail:
            raise ProtocolError("header block too large")
        return parse_header_pairs(raw)


def parse_header_pairs(raw: bytes) -> Headers:
    """The decompressed block: a count, then length-prefixed names and NUL-joined values."""
    try:
        (count,), pos = struct.unpack_from(">I", raw), 4
        headers: Headers = {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4: pos + 4 + n].decode()
            pos += 4 + n
            (n,) = struct.unpack_from(">I", raw, pos)
            value = raw[pos + 4: pos + 4 + n].decode()
            pos += 4 + n
            if pos > len(raw):
                raise ProtocolError("truncated header block")
            headers.setdefault(name.lower(), []).extend(value.split("\0"))
    except (struct.error, UnicodeDecodeError) as e:
        raise ProtocolError(f"bad header block: {e}") from e
    return headers


def _control(kind: FrameType, flags: int, body: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body


def encode(frame: Frame, codec: HeaderCodec) -> bytes:
    """One frame's bytes. Frames with headers advance the codec: encode them in send order."""
    if isinstance(frame, Data):
        return struct.pack(">II", frame.stream_id & 0x7FFFFFFF, (FLAG_FIN if frame.fin else 0) << 24 | len(frame.data)) \
            + frame.data
    if isinstance(frame, SynStream):
        body = struct.pack(">IIBB", frame.stream_id, frame.associated_id, (frame.priority & 7) << 5, 0)
        return _control(FrameType.SYN_STREAM, FLAG_FIN if frame.fin else 0, body + codec.encode(frame.headers))
    if isinstance(frame, SynReply):
        body = struct.pack(">I", frame.stream_id) + codec.encode(frame.headers)
        return _control(FrameType.SYN_REPLY, FLAG_FIN if frame.fin else 0, body)
    if isinstance(frame, RstStream):
        return _control(FrameType.RST_STREAM, 0, struct.pack(">II", frame.stream_id, frame.status))
    if isinstance(frame, Ping):
        return _control(FrameType.PING, 0, struct.pack(">I", frame.id))
    if isinstance(frame, GoAway):
        return _control(FrameType.GOAWAY, 0, struct.pack(">II", frame.last_good_stream_id, frame.status))
    return _control(FrameType(frame.type), frame.flags, frame.body)


class FrameDecoder:
    """Bytes in, frames out, whatever the chunking of the input."""

    def __init__(self, codec: HeaderCodec) -> None:
        self.codec = codec
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            word, flags_length = struct.unpack_from(">II", self._buffer)
            length = flags_length & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            body = bytes(self._buffer[8: 8 + length])
            del self._buffer[: 8 + length]
            frames.append(self._frame(word, flags_length >> 24, body))
        return frames

    def _frame(self, word: int, flags: int, body: bytes) -> Frame:
        if not word & 0x80000000:
            return Data(word & 0x7FFFFFFF, body, bool(flags & FLAG_FIN))
        version, kind = (word >> 16) & 0x7FFF, word & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"SPDY version {version} is not supported (only {VERSION})")
        fin = bool(flags & FLAG_FIN)
        try:
            if kind == FrameType.SYN_STREAM:
                stream_id, associated, priority = struct.unpack_from(">IIB", body)
                return SynStream(stream_id & 0x7FFFFFFF, self.codec.decode(body[10:]), associated & 0x7FFFFFFF,
                                 priority >> 5, fin)
            if kind == FrameType.SYN_REPLY:
                (stream_id,) = struct.unpack_from(">I", body)
                return SynReply(stream_id & 0x7FFFFFFF, self.codec.decode(body[4:]), fin)
            if kind == FrameType.RST_STREAM:
                stream_id, status = struct.unpack_from(">II", body)
                return RstStream(stream_id & 0x7FFFFFFF, status)
            if kind == FrameType.PING:
                return Ping(struct.unpack_from(">I", body)[0])
            if kind == FrameType.GOAWAY:
                last, status = struct.unpack_from(">II", body)
                return GoAway(last & 0x7FFFFFFF, status)
            if kind == FrameType.HEADERS:
                # Its header block must still go through the shared zlib stream.
                self.codec.decode(body[4:])
        except struct.error as e:
            raise ProtocolError(f"truncated control frame of type {kind}") from e
        return OtherControl(kind, flags, body)


def chunks(data: bytes, size: int = MAX_DATA_FRAME) -> list[bytes]:
    """Split a payload into DATA-frame-sized pieces."""
    return [data[i: i + size] for i in range(0, len(data), size)] or [b""]
