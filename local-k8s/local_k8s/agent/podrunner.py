"""One pod's life on the node: its sandbox (sandbox.py), init containers, containers with restarts
(containers.py) and probes (containerprobes.py), the status it reports, what a restarted agent
needs to adopt it (adoption.py), and graceful deletion."""

from __future__ import annotations

import asyncio
import shutil
import signal
from pathlib import Path
from typing import Any

from . import events
from .adoption import STATE_FILE, AdoptionMixin, read_json
from .containerprobes import ProbesMixin
from .containers import TAIL_BYTES, ContainersMixin, append_log
from .podbase import NodeContext, PodBase
from .podenv import EnvSources, base_env
from .policies import (
    MAX_BACKOFF,
    MAX_PULL_BACKOFF,
    PULL_BACKOFF,
    backoff_delay,
    pull_policy,
    should_restart,
)
from .sandbox import SandboxMixin
from .shims import Shim, is_shim, signal_group, wait_pid_gone
from .volumes import Volumes

# Kept importable from here, where they were first defined.
__all__ = ["MAX_BACKOFF", "MAX_PULL_BACKOFF", "PULL_BACKOFF", "STATE_FILE", "TAIL_BYTES", "NodeContext", "PodRunner",
           "Shim", "append_log", "backoff_delay", "is_shim", "pull_policy", "read_json", "should_restart",
           "wait_pid_gone"]


class PodRunner(SandboxMixin, ContainersMixin, ProbesMixin, AdoptionMixin, PodBase):
    def __init__(self, ctx: NodeContext, pod: dict[str, Any]) -> None:
        super().__init__(ctx, pod)
        self.dir = ctx.root / self.uid
        spec = pod["spec"]
        self.host_network = bool(spec.get("hostNetwork"))
        self.policy = spec.get("restartPolicy", "Always")
        self.initialized = not self.init
        self.netns: str | None = None
        self.sandbox_ready = False
        self.procs: dict[str, Shim] = {}
        self.volumes = Volumes(ctx.kube, pod, self.dir / "volumes")
        self._changed = asyncio.Event()
        self._last_status: dict | None = None
        self._started: dict[str, asyncio.Event] = {}  # startup probe passed, per container
        self._env = EnvSources()
        self._bins: dict[str, Path] = {}  # container -> the bin folder of its image's environment
        # What an earlier agent wrote about this pod (see _save_state): the pod is adopted.
        self._saved = read_json(self.dir / STATE_FILE)

    # ---- called by the pod manager ------------------------------------------------------

    def update(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        super().update(pod)

    def log_path(self, container: str, previous: bool = False) -> Path | None:
        for state in self.init + self.main:
            if state.name == container:
                run = state.restart_count - (1 if previous else 0)
                return self.dir / "logs" / f"{container}-{run}.log" if run >= 0 else None
        return None

    def is_running(self, container: str) -> bool:
        return container in self.procs

    # ---- life -----------------------------------------------------------------------------

    async def run(self) -> None:
        publisher = asyncio.create_task(self._publish_loop())
        life = asyncio.create_task(self._lifecycle())
        deleting = asyncio.create_task(self.deleting.wait())
        try:
            await asyncio.wait({life, deleting}, return_when=asyncio.FIRST_COMPLETED)
            if not self.deleting.is_set():
                # Every container ended for good: free the sandbox, keep logs until deletion.
                await self._publish()
                self._teardown_sandbox()
                await self.deleting.wait()
            await self._stop_containers()
            life.cancel()
            await asyncio.gather(life, return_exceptions=True)
            self._teardown_sandbox()
            if not self.gone:
                await self._publish()
                await self._delete_from_api()
        finally:
            publisher.cancel()
            deleting.cancel()
            await self.kill_now()
            shutil.rmtree(self.dir, ignore_errors=True)

    async def kill_now(self) -> None:
        """Agent shutdown or forced removal: no grace, no API calls."""
        for proc in list(self.procs.values()):
            signal_group(proc.pid, signal.SIGKILL)
        self._teardown_sandbox()

    async def _lifecycle(self) -> None:
        specs = self.pod["spec"]
        if self._saved and self._restore(self._saved):
            # Adopted: the sandbox and init containers are done; containers still running are
            # watched again, the others go on as their restart policy says.
            await asyncio.gather(*(self._supervise(spec, state, adopt=True)
                                   for spec, state in zip(specs["containers"], self.main)))
            return
        await self._setup_sandbox()
        for spec, state in zip(specs.get("initContainers") or [], self.init):
            while True:
                code = await self._run_container(spec, state)
                if code == 0:
                    break
                if code is None or self.policy == "Never":
                    self._changed.set()
                    return
                await self._back_off(state)
        self.initialized = True
        self._changed.set()
        await asyncio.gather(*(self._supervise(spec, state) for spec, state in zip(specs["containers"], self.main)))

    async def _stop_containers(self) -> None:
        meta = self.pod["metadata"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        if self.procs:
            await events.emit(self.ctx.kube, self.pod, "Killing", "Stopping container(s) "
                              + ", ".join(self.procs))
        await asyncio.gather(*(self._stop(p, float(grace)) for p in list(self.procs.values())))

    def _base_env(self, bin_dir: Path | None) -> dict[str, str]:
        return base_env(self.dir, self.name, bin_dir)

    # ---- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        will_restart = not self.deleting.is_set() and any(
            "terminated" in c.state and should_restart(self.policy, c.exit_code or 0) for c in self.main)
        if not self.initialized and any(c.exit_code not in (None, 0) for c in self.init):
            will_restart = self.policy != "Never" and not self.deleting.is_set()
        return self._pod_status(initialized=self.initialized, will_restart=will_restart,
                                sandbox_ready=self.sandbox_ready)

    async def _publish(self) -> None:
        self._save_state()
        status = self.status()
        if status == self._last_status:
            return
        if await self._post_status(status):
            self._last_status = status

    async def _publish_loop(self) -> None:
        while True:
            await self._changed.wait()
            await asyncio.sleep(0.02)  # let a burst of changes settle into one patch
            self._changed.clear()
            await self._publish()
