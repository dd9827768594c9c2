"""A pod's containers, one run after another: pulling the image, building the command line and
environment, starting the container under its shim and watching it end, restarts with back-off,
and stopping with a grace period. Part of PodRunner (podrunner.py), whose state it uses."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from . import events
from .containerspec import ImageNotAvailable, build_env, command_line
from .imagestore import NeverPull, Pulled, PullError
from .podstatus import ContainerState
from .policies import backoff_delay, pull_backoff_delay, pull_policy, should_restart
from .shim import stamp
from .shims import Shim, is_shim, signal_group
from .volumes import VolumeError

TAIL_BYTES = 2048  # how much of a failed container's log goes into its termination message


def append_log(path: Path, text: str) -> None:
    with path.open("ab") as f:
        f.write(b"".join(stamp() + line.encode() + b"\n" for line in text.splitlines()))


class ContainersMixin:
    """Runs the pod's containers (PodRunner's part for them)."""

    async def _supervise(self, spec: dict[str, Any], state: ContainerState, adopt: bool = False) -> None:
        if adopt and state.is_running:
            launch_spec = self.dir / f"{state.name}.launch.json"
            if is_shim(state.pid, launch_spec):
                code = await self._watch(spec, state, Shim(state.pid, self._exit_file(state)), self._log(state))
            else:  # it ended while no agent watched: its shim left the exit code
                code = self._ended_unwatched(state)
            if self.deleting.is_set() or not should_restart(self.policy, code):
                self._changed.set()
                return
            await self._back_off(state)
        elif adopt and "terminated" in state.state:
            if self.deleting.is_set() or not should_restart(self.policy, state.exit_code or 0):
                return
            await self._back_off(state)
        while True:
            code = await self._run_container(spec, state)
            if code is None or self.deleting.is_set() or not should_restart(self.policy, code):
                self._changed.set()
                return
            await self._back_off(state)

    async def _back_off(self, state: ContainerState) -> None:
        state.restarting()
        delay = backoff_delay(state.restart_count)
        state.waiting("CrashLoopBackOff", f"back-off {delay:.0f}s restarting failed container={state.name} "
                                          f"pod={self.name}_{self.namespace}({self.uid})")
        self._changed.set()
        await events.emit(self.ctx.kube, self.pod, "BackOff", f"Back-off restarting failed container {state.name}",
                          warning=True)
        await asyncio.sleep(delay)

    async def _run_container(self, spec: dict[str, Any], state: ContainerState) -> int | None:
        """Start the container and wait for it to end; its exit code, or None if it cannot start."""
        kube = self.ctx.kube
        pulled = await self._pull(spec, state)
        if pulled is None:
            return None
        self._bins[state.name] = pulled.bin_dir
        try:
            await self._env.fetch(spec, self.volumes.read)
            env = build_env(self.pod | {"status": {"podIP": self.ip}}, spec, self._base_env(pulled.bin_dir),
                            self._env.lookup)
            if pulled.is_dask and env.get("EXTRA_CONDA_PACKAGES"):
                raise ValueError(
                    "EXTRA_CONDA_PACKAGES is set, but on local-k8s the Dask images are Python virtual "
                    "environments without conda; install pip packages with EXTRA_PIP_PACKAGES instead")
            argv = command_line(spec, env)
            mounts = self.volumes.mounts(spec)
        except (ValueError, VolumeError, LookupError) as e:
            state.waiting("CreateContainerConfigError", str(e))
            self._changed.set()
            await events.emit(kube, self.pod, "Failed", f"Error: {e}", warning=True)
            return None
        log_path = self._log(state)
        extra = env.get("EXTRA_PIP_PACKAGES", "").split() if pulled.is_dask else []
        if extra:
            code = await self._install_extra(pulled, extra, env, state, log_path)
            if code is not None:
                return code
        if not shutil.which(argv[0], path=env.get("PATH")):
            message = f'exec: "{argv[0]}": executable file not found in $PATH'
            log_path.write_bytes(stamp() + message.encode() + b"\n")
            state.terminated(128, "StartError", message)
            self._changed.set()
            await events.emit(kube, self.pod, "Failed", f"Error: failed to start container \"{state.name}\": {message}",
                              warning=True)
            return 128
        cwd = spec.get("workingDir") or str(self.dir / "work" / state.name)
        launch_spec = self.dir / f"{state.name}.launch.json"
        exit_file = self._exit_file(state)
        exit_file.unlink(missing_ok=True)
        launch_spec.write_text(json.dumps({"argv": argv, "env": env, "cwd": cwd, "mounts": mounts,
                                           "log": str(log_path), "exit_file": str(exit_file)}))
        self.ctx.mountpoints([m["target"] for m in mounts] + ([cwd] if spec.get("workingDir") else []))
        launcher = [sys.executable, "-m", "local_k8s.agent.shim", str(launch_spec)]
        prefix = ["unshare", "--mount", "--propagation", "slave"] if self.host_network else ["ip", "netns", "exec", self.netns]
        with log_path.open("ab") as log:  # the shim's own errors, if it fails before the container
            proc = await asyncio.create_subprocess_exec(
                *prefix, *launcher, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
        state.running(proc.pid)
        if not any(k in spec for k in ("readinessProbe", "startupProbe")):
            state.ready = True
        await events.emit(kube, self.pod, "Started", f"Started container {state.name}")
        return await self._watch(spec, state, Shim(proc.pid, exit_file, proc), log_path)

    def _log(self, state: ContainerState) -> Path:
        return self.dir / "logs" / f"{state.name}-{state.restart_count}.log"

    def _exit_file(self, state: ContainerState) -> Path:
        return self.dir / f"{state.name}-{state.restart_count}.exit"

    async def _watch(self, spec: dict[str, Any], state: ContainerState, shim: Shim, log_path: Path) -> int:
        """Probe a running container until it ends; its exit code."""
        self.procs[state.name] = shim
        self._changed.set()
        started = self._started[state.name] = asyncio.Event()
        if "startupProbe" not in spec or state.ready:  # an adopted container may have passed it
            started.set()
        probes = [asyncio.create_task(self._probe(kind, spec[f"{kind}Probe"], spec, state, shim))
                  for kind in ("startup", "readiness", "liveness") if spec.get(f"{kind}Probe")]
        try:
            code = await shim.wait()
        finally:
            for task in probes:
                task.cancel()
            self.procs.pop(state.name, None)
        self._finish(state, code, log_path)
        return code

    def _ended_unwatched(self, state: ContainerState) -> int:
        try:
            code = int(self._exit_file(state).read_text())
        except (OSError, ValueError):
            code = 128 + signal.SIGKILL
        self._finish(state, code, self._log(state))
        return code

    def _finish(self, state: ContainerState, code: int, log_path: Path) -> None:
        message = ""
        if code != 0:
            message = log_path.read_bytes()[-TAIL_BYTES:].decode(errors="replace") if log_path.exists() else ""
            message = "\n".join(line.split(" ", 1)[-1] for line in message.splitlines()[-20:])
        state.terminated(code, "Completed" if code == 0 else "Error", message)
        self._changed.set()

    async def _pull(self, spec: dict[str, Any], state: ContainerState) -> Pulled | None:
        """The container's image, pulled per its imagePullPolicy; on failure ErrImagePull, then
        ImagePullBackOff, retried with the kubelet's back-off. None if it can never be pulled."""
        image = spec.get("image", "")
        failures = 0

        async def emit(reason: str, message: str, warning: bool) -> None:
            await events.emit(self.ctx.kube, self.pod, reason, message, warning=warning)

        while True:
            try:
                pulled = await self.ctx.images.ensure(image, pull_policy(spec), emit)
                state.image_id = pulled.image_id
                return pulled
            except NeverPull as e:
                state.waiting("ErrImageNeverPull", str(e))
                self._changed.set()
                await emit("Failed", str(e), True)
                return None
            except (ImageNotAvailable, PullError) as e:
                delay = pull_backoff_delay(failures)
                failures += 1
                state.waiting("ErrImagePull", f'failed to pull image "{image}": {e}')
                self._changed.set()
                await emit("Failed", f'Failed to pull image "{image}": {e}', True)
                await emit("Failed", "Error: ErrImagePull", True)
                await asyncio.sleep(1)
                state.waiting("ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: {e}')
                self._changed.set()
                await emit("BackOff", f'Back-off pulling image "{image}"', True)
                await asyncio.sleep(delay - 1)

    async def _install_extra(self, pulled: Pulled, packages: list[str], env: dict[str, str], state: ContainerState,
                             log_path: Path) -> int | None:
        """EXTRA_PIP_PACKAGES, installed at container start as the Dask images' entrypoint does,
        into this container's own environment (see ImageStore.container_env). The container's
        PATH then starts there. Returns an exit code if the install failed, else None."""
        append_log(log_path, "EXTRA_PIP_PACKAGES environment variable found.  Installing.")
        try:
            bin_dir = await self.ctx.images.container_env(
                pulled, packages, self.dir / "envs" / state.name, lambda text: append_log(log_path, text))
        except PullError as e:
            append_log(log_path, e.output or str(e))
            state.terminated(1, "Error", f"EXTRA_PIP_PACKAGES could not be installed: {e}")
            self._changed.set()
            return 1
        env["PATH"] = env.get("PATH", "").replace(str(pulled.bin_dir), str(bin_dir), 1)
        self._bins[state.name] = bin_dir
        return None

    async def _stop(self, proc: Shim, grace: float) -> None:
        signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except asyncio.TimeoutError:
            signal_group(proc.pid, signal.SIGKILL)
