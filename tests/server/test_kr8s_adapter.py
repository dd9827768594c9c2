"""Pins the kr8s behaviour that dask_k8s_lab/server/kr8s_adapter.py works around: kr8s caches
every client it makes, before it has reached the API server. If the control case fails, kr8s
changed: check whether it now offers an uncached client and the adapter can go."""

from __future__ import annotations

import socket
from pathlib import Path

import kr8s.asyncio
import pytest
import yaml

from dask_k8s_lab.server.kr8s_adapter import uncached_client


@pytest.fixture
def unreachable(tmp_path: Path) -> str:
    """A kubeconfig whose API server refuses connections (a port nobody listens on)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))
    return str(path)


def cached() -> set[int]:
    return {id(api) for instances in kr8s.asyncio.Api._instances.values() for api in instances.values()}


async def test_kr8s_keeps_a_client_that_never_reached_the_server(unreachable):
    before = cached()
    try:
        await kr8s.asyncio.api(kubeconfig=unreachable)
    except Exception:  # the traceback keeps the failed client alive while we look
        assert cached() - before, "kr8s no longer caches a failed client: is kr8s_adapter.py still needed?"
    else:
        pytest.fail("the API server was reachable")
    for instances in kr8s.asyncio.Api._instances.values():  # leave no trace for other tests
        for key, api in list(instances.items()):
            if id(api) not in before:
                del instances[key]


async def test_the_adapter_leaves_nothing_in_the_cache(unreachable):
    before = cached()
    try:
        await uncached_client(lambda: kr8s.asyncio.api(kubeconfig=unreachable))
    except Exception:
        assert cached() == before
    else:
        pytest.fail("the API server was reachable")
