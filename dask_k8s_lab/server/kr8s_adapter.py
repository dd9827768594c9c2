"""The one place the server relies on a kr8s internal: its client cache.

``kr8s.asyncio.api()`` caches every client it makes (per thread and event loop, keyed by its
arguments) and registers it *before* it has reached the API server. kr8s has no public way to make
a client it does not keep (the factory and its cache came with kr8s-org/kr8s#20; there is no
opt-out as of kr8s 0.20), and this server needs one for two reasons:

- a client that failed (TLS with an old CA after the cluster was recreated) would be handed back,
  stale session and all, on every retry with the same arguments;
- a later ``kr8s.api()`` without arguments anywhere in the Jupyter server would get this server's
  client, hence its kubeconfig and identity.

So a client made here is taken out of ``kr8s.asyncio.Api._instances`` again. Remove this module
when kr8s offers an uncached client; tests/server/test_kr8s_adapter.py pins the behaviour relied on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import kr8s.asyncio


async def uncached_client(connect: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``connect`` (which calls ``kr8s.asyncio.api(...)``) and keep the clients it made, if
    any, out of kr8s's cache, whether it succeeded or not."""
    cache = kr8s.asyncio.Api._instances
    known = {id(api) for instances in cache.values() for api in instances.values()}
    try:
        return await connect()
    finally:
        for instances in cache.values():
            for key, api in list(instances.items()):
                if id(api) not in known:
                    del instances[key]
