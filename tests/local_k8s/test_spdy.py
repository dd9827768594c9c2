"""Unit tests of the kubelet streaming protocol's pure parts: SPDY/3.1 framing and header
blocks, protocol negotiation, exec/attach options and Status, port-forward stream pairing;
and one SPDY session over a real local socket."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib

import pytest

from local_k8s.agent.streaming import portforward, remotecommand, spdy
from local_k8s.agent.streaming.session import SpdySession, Stream
from local_k8s.agent.streaming.upgrade import is_spdy_upgrade, negotiate, offered_protocols


def test_dictionary_is_the_spdy3_one() -> None:
    # A zlib stream with a preset dictionary names it by its Adler-32; Go's spdystream writes this id.
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2
    assert spdy.DICTIONARY.startswith(b"\0\0\0\x07options\0\0\0\x04head")
    assert spdy.DICTIONARY.endswith(b"enq=0.")


def test_header_blocks_share_one_zlib_stream_per_direction() -> None:
    sender, receiver = spdy.HeaderCodec(), spdy.HeaderCodec()
    first = {"streamType": ["error"], "port": ["8786"], "requestID": ["0"]}
    second = {"streamtype": ["data"], "port": ["8786"], "requestid": ["0"], "multi": ["a", "b"]}
    one, two = sender.encode(first), sender.encode(second)
    assert receiver.decode(one) == {"streamtype": ["error"], "port": ["8786"], "requestid": ["0"]}
    assert receiver.decode(two) == second
    # The second block refers back to the first: alone it cannot be decoded.
    with pytest.raises(spdy.ProtocolError):
        spdy.HeaderCodec().decode(two)


# What Go's SPDY framer (the one kubectl and the API server use) writes for a port-forward
# request's two SYN_STREAMs, a DATA frame with FIN and a PING: generated once with that framer.
GO_FRAMES = bytes.fromhex(
    "800300010000003e0000000100000000000078f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45e0"
    "1c60616e61c6c0c0c0590489c64c50f2663400000000ffff800300010000001800000003000000000000c2aa1954"
    "0e2512d60b000000ffff00000003010000026869800300060000000400000001")


def test_frames_written_by_the_go_framer() -> None:
    frames = spdy.FrameDecoder(spdy.HeaderCodec()).feed(GO_FRAMES)
    assert frames == [
        spdy.SynStream(1, {"port": ["8786"], "requestid": ["0"], "streamtype": ["error"]}),
        spdy.SynStream(3, {"port": ["8786"], "requestid": ["0"], "streamtype": ["data"]}),
        spdy.Data(3, b"hi", fin=True),
        spdy.Ping(1),
    ]


def test_header_block_layout() -> None:
    block = spdy.HeaderCodec().encode({"Port": ["80"], "x": ["1", "2"]})
    raw = zlib.decompressobj(zdict=spdy.DICTIONARY).decompress(block)
    assert raw == (struct.pack(">I", 2) + struct.pack(">I", 4) + b"port" + struct.pack(">I", 2) + b"80"
                   + struct.pack(">I", 1) + b"x" + struct.pack(">I", 3) + b"1\x002")


FRAMES = [
    spdy.Data(3, b"hello"),
    spdy.Data(5, b"", fin=True),
    spdy.SynStream(1, {"streamtype": ["stdout"]}, priority=0),
    spdy.SynStream(7, {"streamtype": ["resize"]}, associated_id=0, priority=3, fin=True),
    spdy.SynReply(1, {}),
    spdy.RstStream(9, spdy.RstStatus.CANCEL),
    spdy.Ping(1),
    spdy.GoAway(11, spdy.GoAwayStatus.OK),
    spdy.OtherControl(spdy.FrameType.WINDOW_UPDATE, 0, struct.pack(">II", 1, 65536)),
]


def test_frames_round_trip_in_any_chunking() -> None:
    codec = spdy.HeaderCodec()
    wire = b"".join(spdy.encode(f, codec) for f in FRAMES)
    whole = spdy.FrameDecoder(spdy.HeaderCodec()).feed(wire)
    assert whole == FRAMES
    decoder = spdy.FrameDecoder(spdy.HeaderCodec())
    one_by_one = [frame for i in range(len(wire)) for frame in decoder.feed(wire[i:i + 1])]
    assert one_by_one == FRAMES


def test_frame_layout() -> None:
    codec = spdy.HeaderCodec()
    assert spdy.encode(spdy.Data(3, b"ab", fin=True), codec) == b"\0\0\0\x03\x01\0\0\x02ab"
    assert spdy.encode(spdy.Ping(5), codec) == b"\x80\x03\0\x06\0\0\0\x04\0\0\0\x05"
    assert spdy.encode(spdy.RstStream(1, 5), codec) == b"\x80\x03\0\x03\0\0\0\x08\0\0\0\x01\0\0\0\x05"
    syn = spdy.encode(spdy.SynReply(1), codec)
    assert syn[:4] == b"\x80\x03\0\x02" and syn[4] == 0 and int.from_bytes(syn[5:8], "big") == len(syn) - 8


def test_other_versions_are_refused() -> None:
    frame = b"\x80\x02\0\x06\0\0\0\x04\0\0\0\x01"
    with pytest.raises(spdy.ProtocolError, match="version 2"):
        spdy.FrameDecoder(spdy.HeaderCodec()).feed(frame)


def test_negotiation_takes_the_clients_first_supported_choice() -> None:
    offered = offered_protocols(["v5.channel.k8s.io, v4.channel.k8s.io", "v3.channel.k8s.io"])
    assert offered == ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io"]
    assert negotiate(offered, remotecommand.SPDY_PROTOCOLS) == "v4.channel.k8s.io"
    assert negotiate(["portforward.k8s.io"], remotecommand.SPDY_PROTOCOLS) is None
    assert is_spdy_upgrade({"Connection": "Upgrade", "Upgrade": "SPDY/3.1"})
    assert not is_spdy_upgrade({"Connection": "Upgrade", "Upgrade": "websocket"})


def test_exec_options() -> None:
    options = remotecommand.parse_options({"input": "1", "output": "1", "error": "1", "tty": "1"}, ["sh"], exec_=True)
    assert options == remotecommand.Options(("sh",), stdin=True, stdout=True, stderr=False, tty=True)
    assert options.stream_types() == {"error", "stdin", "stdout", "resize"}
    plain = remotecommand.parse_options({"output": "1", "error": "1"}, ["ls", "-l"], exec_=True)
    assert plain.stream_types() == {"error", "stdout", "stderr"}
    with pytest.raises(ValueError, match="at least 1 of stdin, stdout, stderr"):
        remotecommand.parse_options({}, ["ls"], exec_=True)
    with pytest.raises(ValueError, match="command"):
        remotecommand.parse_options({"output": "1"}, [], exec_=True)
    assert remotecommand.parse_options({"output": "1"}, [], exec_=False).command == ()


def test_error_stream_payloads() -> None:
    v4 = "v4.channel.k8s.io"
    assert json.loads(remotecommand.error_payload(v4, 0, None)) == {"metadata": {}, "status": "Success"}
    failure = json.loads(remotecommand.error_payload(v4, 3, None))
    assert failure["reason"] == "NonZeroExitCode"
    assert failure["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert json.loads(remotecommand.error_payload(v4, 300, None))["details"]["causes"][0]["message"] == "44"
    assert json.loads(remotecommand.error_payload(v4, None, "no such container"))["message"] == "no such container"
    assert remotecommand.error_payload("v3.channel.k8s.io", 0, None) == b""
    assert b"exit code: 2" in remotecommand.error_payload("v3.channel.k8s.io", 2, None)


def test_resize_events_in_any_chunking() -> None:
    decoder = remotecommand.ResizeDecoder()
    wire = b'{"Width":80,"Height":24}{"Width":120,"Height":40}\n{"Width":0,"Height":5}'
    sizes = [size for i in range(len(wire)) for size in decoder.feed(wire[i:i + 1])]
    assert sizes == [(80, 24), (120, 40)]


def test_port_forward_pairs_and_ports() -> None:
    assert portforward.parse_port("8786") == 8786
    for bad in (None, "", "x", "0", "70000"):
        with pytest.raises(ValueError):
            portforward.parse_port(bad)
    assert portforward.request_key(5, "error", "7") == portforward.request_key(9, "data", "7") == "7"
    assert portforward.request_key(5, "error", None) == portforward.request_key(7, "data", None)


class _Client(asyncio.Protocol):
    """A minimal SPDY client built from the framing module, to drive a session."""

    def __init__(self) -> None:
        self.codec = spdy.HeaderCodec()
        self.decoder = spdy.FrameDecoder(spdy.HeaderCodec())
        self.frames: asyncio.Queue[spdy.Frame] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        for frame in self.decoder.feed(data):
            self.frames.put_nowait(frame)

    def send(self, frame: spdy.Frame) -> None:
        self.transport.write(spdy.encode(frame, self.codec))  # type: ignore[attr-defined]

    async def next(self) -> spdy.Frame:
        return await asyncio.wait_for(self.frames.get(), 10)


async def test_session_accepts_echoes_and_half_closes() -> None:
    accepted: asyncio.Queue[Stream] = asyncio.Queue()

    def on_stream(stream: Stream) -> bool:
        if stream.header("streamtype") != "data":
            return False
        accepted.put_nowait(stream)
        return True

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SpdySession(on_stream), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, client = await loop.create_connection(_Client, "127.0.0.1", port)
    try:
        client.send(spdy.SynStream(1, {"streamtype": ["bogus"]}))
        assert await client.next() == spdy.RstStream(1, spdy.RstStatus.REFUSED_STREAM)
        client.send(spdy.SynStream(3, {"streamtype": ["data"], "port": ["80"]}))
        assert await client.next() == spdy.SynReply(3, {})
        stream = await asyncio.wait_for(accepted.get(), 10)
        assert stream.header("port") == "80"
        client.send(spdy.Ping(1))
        assert await client.next() == spdy.Ping(1)
        client.send(spdy.Data(3, b"ping?"))
        client.send(spdy.Data(3, b"", fin=True))
        assert await stream.read_all() == b"ping?"
        await stream.write(b"pong")
        stream.close()
        assert await client.next() == spdy.Data(3, b"pong")
        assert await client.next() == spdy.Data(3, b"", fin=True)
        await asyncio.wait_for(stream.closed.wait(), 10)
        # Late frames of a finished stream are dropped, the session carries on.
        client.send(spdy.Data(3, b"late"))
        client.send(spdy.Ping(3))
        assert await client.next() == spdy.Ping(3)
    finally:
        client.transport.close()
        server.close()
        await server.wait_closed()
