"""A running container's probes (startup, readiness, liveness), each in a loop until the
container ends, and what their verdicts do to it. Part of PodRunner (podrunner.py); how one probe
is checked is probes.py."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from .. import settings
from . import events
from .containerspec import build_env
from .podstatus import ContainerState
from .probes import ExecFn, ProbeState, check_once
from .shims import Shim, signal_group


class ProbesMixin:
    """Probes the pod's running containers (PodRunner's part for them)."""

    async def _probe(self, kind: str, probe: dict[str, Any], spec: dict[str, Any], state: ContainerState,
                     proc: Shim) -> None:
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        started = self._started[state.name]
        if kind != "startup":
            await started.wait()
        counter = ProbeState(probe)
        while proc.returncode is None:
            ok = await check_once(probe, self.ip or settings.NODE_IP, spec, self._exec_probe(spec))
            verdict = counter.record(ok)
            if kind == "readiness" and verdict is not None and state.ready != verdict:
                state.ready = verdict
                self._changed.set()
            elif kind == "startup" and verdict is True:
                state.started = True
                if "readinessProbe" not in spec:
                    state.ready = True
                started.set()
                self._changed.set()
                return
            elif verdict is False and kind in ("liveness", "startup"):
                await events.emit(self.ctx.kube, self.pod, "Unhealthy",
                                  f"{kind.capitalize()} probe failed; container {state.name} will be restarted",
                                  warning=True)
                await self._stop(proc, float(self.pod["spec"].get("terminationGracePeriodSeconds", 30)))
                return
            await asyncio.sleep(float(probe.get("periodSeconds", 10)))

    def _exec_probe(self, spec: dict[str, Any]) -> ExecFn:
        async def run(command: list[str], timeout: float) -> int:
            prefix = [] if self.host_network else ["ip", "netns", "exec", self.netns or ""]
            env = build_env(self.pod, spec, self._base_env(self._bins.get(spec["name"])), self._env.lookup)
            proc = await asyncio.create_subprocess_exec(*prefix, *command, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
            try:
                return await asyncio.wait_for(proc.wait(), timeout)
            except asyncio.TimeoutError:
                signal_group(proc.pid, signal.SIGKILL)
                return 1

        return run
