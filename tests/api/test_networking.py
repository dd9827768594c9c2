"""Address selection, the direct-reachability probe and the self-healing port-forward."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from dask_k8s_lab.networking import (
    Candidate,
    PortForwarder,
    candidate_addresses,
    find_port,
    node_addresses,
    tcp_reachable,
)


def service(kind="ClusterIP", cluster_ip="10.96.0.10", ingress=None, node_port=None):
    ports = [
        {"name": "tcp-comm", "port": 8786, "targetPort": "tcp-comm"},
        {"name": "http-dashboard", "port": 8787, "targetPort": "http-dashboard"},
    ]
    if node_port:
        ports[0]["nodePort"] = node_port
    svc = {"metadata": {"name": "c-scheduler"}, "spec": {"type": kind, "clusterIP": cluster_ip, "ports": ports}}
    if ingress is not None:
        svc["status"] = {"loadBalancer": {"ingress": ingress}}
    return svc


def test_cluster_ip_is_tried_directly_unless_forwarding_is_forced():
    assert candidate_addresses(service(), "tcp-comm") == [Candidate("cluster-ip", "10.96.0.10", 8786)]
    assert candidate_addresses(service(), "tcp-comm", port_forward_cluster_ip=True) == []
    assert candidate_addresses(service(cluster_ip="None"), "tcp-comm") == []


def test_load_balancer_ingress_comes_first():
    svc = service("LoadBalancer", ingress=[{"hostname": "lb.example.org"}], node_port=31000)
    assert candidate_addresses(svc, "tcp-comm", nodes=["192.0.2.1"]) == [
        Candidate("load-balancer", "lb.example.org", 8786),
        Candidate("node-port", "192.0.2.1", 31000),
        Candidate("cluster-ip", "10.96.0.10", 8786),
    ]


def test_node_port_uses_given_host_and_port():
    svc = service("NodePort", node_port=31000)
    assert candidate_addresses(svc, "tcp-comm", node_host="node.example", node_port=32000)[0] == Candidate(
        "node-port", "node.example", 32000
    )
    assert candidate_addresses(svc, "tcp-comm", nodes=["192.0.2.7"])[0] == Candidate("node-port", "192.0.2.7", 31000)


def test_node_addresses_prefer_external():
    nodes = [
        {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}]}},
        {"status": {"addresses": [{"type": "ExternalIP", "address": "203.0.113.5"}]}},
    ]
    assert node_addresses(nodes) == ["203.0.113.5", "10.0.0.1"]


def test_find_port_by_name_then_number():
    svc = service()
    assert find_port(svc, "http-dashboard")["port"] == 8787
    unnamed = {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 8786}]}}
    assert find_port(unnamed, "tcp-comm", 8786)["port"] == 8786
    with pytest.raises(LookupError, match="no port named 'tcp-comm'"):
        find_port(unnamed, "tcp-comm")


async def test_tcp_probe_is_quick_both_ways():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await tcp_reachable("127.0.0.1", port, 0.5)
    finally:
        server.close()
        await server.wait_closed()
    assert not await tcp_reachable("127.0.0.1", port, 0.5)


# A fake of the pieces of kr8s that PortForward talks to: a Pod whose port-forward websocket
# echoes data back, using the Kubernetes port-forward framing (channel byte + payload; the first
# frame of each channel carries the port number).
class FakeWebSocket:
    def __init__(self):
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        for channel in (0, 1):
            self.queue.put_nowait(bytes([channel]) + (8786).to_bytes(2, "little"))

    async def send_bytes(self, data: bytes) -> None:
        await self.queue.put(b"\x00" + data[1:].upper())

    async def receive_bytes(self) -> bytes:
        return await self.queue.get()


class FakeApi:
    namespace = "ns"

    def __init__(self):
        self.websockets = 0

    @contextlib.asynccontextmanager
    async def open_websocket(self, **kwargs):
        self.websockets += 1
        yield FakeWebSocket()


def fake_pod():
    from kr8s.asyncio.objects import Pod

    pod = Pod({"metadata": {"name": "scheduler-0", "namespace": "ns"}}, namespace="ns")
    pod.api = FakeApi()
    return pod


async def roundtrip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), 5)
    finally:
        writer.close()


async def test_port_forward_is_re_established_on_the_same_port():
    pod = fake_pod()
    forwarder = PortForwarder(pod, 8786, check_interval=0.05)
    port = await forwarder.start()
    try:
        assert await roundtrip(port, b"hello") == b"HELLO"
        # A connection that is open when the forward dies is cut, like a real drop.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x")
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(1), 5) == b"X"
        forwarder.drop()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        # The supervisor brings it back on the same local port.
        deadline = time.monotonic() + 5
        while not (forwarder.restarts >= 1 and forwarder.serving):
            assert time.monotonic() < deadline, "port-forward was not re-established"
            await asyncio.sleep(0.02)
        assert forwarder.local_port == port
        assert await roundtrip(port, b"again") == b"AGAIN"
        assert pod.api.websockets == 3
    finally:
        await forwarder.stop()
    assert not await tcp_reachable("127.0.0.1", port, 0.5)


async def test_port_forward_restarts_when_its_listener_is_closed_from_outside():
    forwarder = PortForwarder(fake_pod(), 8786, check_interval=0.05)
    port = await forwarder.start()
    try:
        forwarder._server.close()  # as if the socket were torn down underneath
        deadline = time.monotonic() + 5
        while forwarder.restarts < 1 or not forwarder.serving:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert await roundtrip(port, b"ok") == b"OK"
    finally:
        await forwarder.stop()


async def test_fixed_local_port_is_used():
    with contextlib.closing(__import__("socket").socket()) as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    forwarder = PortForwarder(fake_pod(), 8786, local_port=free)
    try:
        assert await forwarder.start() == free
    finally:
        await forwarder.stop()


async def test_a_failing_connection_is_closed_quietly_and_the_forward_keeps_serving(caplog):
    class FlakyApi(FakeApi):
        @contextlib.asynccontextmanager
        async def open_websocket(self, **kwargs):
            self.websockets += 1
            if self.websockets == 1:
                raise RuntimeError("API server unavailable")
            yield FakeWebSocket()

    pod = fake_pod()
    pod.api = FlakyApi()
    forwarder = PortForwarder(pod, 8786)
    port = await forwarder.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # this connection failed
        writer.close()
        assert await roundtrip(port, b"next") == b"NEXT"
        assert forwarder.restarts == 0
        assert "Unhandled exception" not in caplog.text
    finally:
        await forwarder.stop()


async def test_websocket_retries_are_bounded_and_reselect_the_pod():
    import httpx_ws

    class RefusingApi(FakeApi):
        def __init__(self, failures):
            super().__init__()
            self.failures = failures

        @contextlib.asynccontextmanager
        async def open_websocket(self, **kwargs):
            self.websockets += 1
            if self.websockets <= self.failures:
                raise httpx_ws.HTTPXWSException("upgrade refused")
            yield FakeWebSocket()

    pod = fake_pod()
    pod.api = RefusingApi(failures=2)
    forwarder = PortForwarder(pod, 8786)
    port = await forwarder.start()
    try:
        assert await roundtrip(port, b"late") == b"LATE"  # succeeded on the third attempt
        assert forwarder.websocket_failures == 2
    finally:
        await forwarder.stop()

    pod = fake_pod()
    pod.api = RefusingApi(failures=10**6)
    forwarder = PortForwarder(pod, 8786)
    port = await forwarder.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # gave up and closed, no busy loop
        writer.close()
        from dask_k8s_lab.networking import WEBSOCKET_ATTEMPTS

        assert pod.api.websockets == WEBSOCKET_ATTEMPTS
    finally:
        await forwarder.stop()


async def test_an_error_frame_closes_that_connection_only():
    class RefusedPortWebSocket(FakeWebSocket):
        async def send_bytes(self, data: bytes) -> None:  # the pod has nothing on that port
            await self.queue.put(b"\x01" + b"error forwarding port 8786: connection refused")

    class HalfBrokenApi(FakeApi):
        @contextlib.asynccontextmanager
        async def open_websocket(self, **kwargs):
            self.websockets += 1
            yield RefusedPortWebSocket() if self.websockets == 1 else FakeWebSocket()

    pod = fake_pod()
    pod.api = HalfBrokenApi()
    forwarder = PortForwarder(pod, 8786)
    port = await forwarder.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        assert await roundtrip(port, b"fine") == b"FINE"
        assert forwarder.restarts == 0
    finally:
        await forwarder.stop()
