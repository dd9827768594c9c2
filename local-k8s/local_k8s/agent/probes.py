"""Readiness, liveness and startup probes: httpGet and tcpSocket from the node to the pod's
address, exec inside the pod's namespaces."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

ExecFn = Callable[[list[str], float], Awaitable[int]]


def resolve_port(port: int | str, container: dict[str, Any]) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f'probe port "{port}" is not a named port of container "{container["name"]}"')


async def check_once(probe: dict[str, Any], host: str, container: dict[str, Any], run_exec: ExecFn) -> bool:
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "httpGet" in probe:
            get = probe["httpGet"]
            scheme = get.get("scheme", "HTTP").lower()
            url = f"{scheme}://{get.get('host') or host}:{resolve_port(get['port'], container)}{get.get('path', '/')}"
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
                async with session.get(url, headers=headers, ssl=False, allow_redirects=False) as r:
                    return 200 <= r.status < 400
        if "tcpSocket" in probe:
            port = resolve_port(probe["tcpSocket"]["port"], container)
            _, writer = await asyncio.wait_for(asyncio.open_connection(probe["tcpSocket"].get("host") or host, port), timeout)
            writer.close()
            return True
        if "exec" in probe:
            return await run_exec(probe["exec"]["command"], timeout) == 0
    except (OSError, asyncio.TimeoutError, aiohttp.ClientError, ValueError):
        return False
    return True  # grpc and unknown handlers: nothing to check here


@dataclass
class ProbeState:
    """Counts consecutive results against the probe's thresholds."""

    probe: dict[str, Any]
    successes: int = 0
    failures: int = 0

    def record(self, ok: bool) -> bool | None:
        """The probe's verdict once a threshold is reached, else None."""
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= int(self.probe.get("successThreshold", 1)):
                return True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= int(self.probe.get("failureThreshold", 3)):
                return False
        return None
