"""One pod's life on the node: its network namespace and volumes, init containers, containers
with restarts and probes, the status it reports, and graceful deletion."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import network, settings
from . import events
from .containerspec import ImageNotAvailable, build_env, command_line
from .images import parse as parse_image
from .imagestore import ImageStore, NeverPull, Pulled, PullError
from .kube import ApiError, Kube
from .node import now
from .podstatus import ContainerState, pod_status
from .probes import ProbeState, check_once
from .volumes import VolumeError, Volumes

log = logging.getLogger(__name__)

STATE_FILE = "state.json"  # the pod as this node runs it, for an agent that restarts
TAIL_BYTES = 2048  # how much of a failed container's log goes into its termination message
MAX_BACKOFF = 30.0
# The kubelet's image pull back-off: 10 s doubling up to 5 min.
PULL_BACKOFF, MAX_PULL_BACKOFF = 10.0, 300.0


@dataclass
class NodeContext:
    """What every pod runner shares."""

    kube: Kube
    root: Path  # the state folder's pods/ folder
    ips: network.PodIPs
    hosts_for: Callable[[str, str, str], str]  # (namespace, pod name, pod ip) -> hosts file
    mountpoints: Callable[[list[str]], None]  # remember host folders made for mounts
    images: ImageStore
    node_name: str = settings.NODE_NAME
    hollow_node: bool = False  # every pod here is hollow (agent/hollow.py)


def _timestamp() -> bytes:
    t = datetime.now(timezone.utc)
    return (t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z ").encode()


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def backoff_delay(restarts: int) -> float:
    return min(MAX_BACKOFF, 2.0 ** max(0, restarts - 1))


def should_restart(policy: str, exit_code: int) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def pull_policy(spec: dict[str, Any]) -> str:
    """The API server defaults it; a pod made without that defaulting gets the same rule."""
    default = "Always" if parse_image(spec.get("image", "")).tag == "latest" else "IfNotPresent"
    return spec.get("imagePullPolicy") or default


class Shim:
    """A container's shim process (shim.py): started by this agent, or found again after the
    agent restarted. Its exit code is the container's, read from the file the shim writes."""

    def __init__(self, pid: int, exit_file: Path, proc: asyncio.subprocess.Process | None = None) -> None:
        self.pid = pid
        self.exit_file = exit_file
        self.proc = proc
        self._done = asyncio.ensure_future(self._wait())

    @property
    def returncode(self) -> int | None:
        return self._done.result() if self._done.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    async def _wait(self) -> int:
        if self.proc is not None:
            raw: int | None = await self.proc.wait()
        else:
            await wait_pid_gone(self.pid)
            raw = None
        try:
            return int(self.exit_file.read_text())
        except (OSError, ValueError):  # the shim itself was killed (SIGKILL to the group)
            return _exit_code(raw) if raw is not None else 128 + signal.SIGKILL


async def wait_pid_gone(pid: int) -> None:
    """Wait for a process that is not this one's child to end (a pidfd turns readable)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    ended = loop.create_future()
    loop.add_reader(fd, lambda: ended.done() or ended.set_result(None))
    try:
        await ended
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def is_shim(pid: int | None, launch_spec: Path) -> bool:
    """Whether `pid` is still the shim started with `launch_spec` (not a reused pid)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        alive = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False
    return alive and str(launch_spec).encode() in cmdline


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def append_log(path: Path, text: str) -> None:
    with path.open("ab") as f:
        f.write(b"".join(_timestamp() + line.encode() + b"\n" for line in text.splitlines()))


class PodRunner:
    def __init__(self, ctx: NodeContext, pod: dict[str, Any]) -> None:
        self.ctx = ctx
        self.pod = pod
        meta = pod["metadata"]
        self.uid, self.name, self.namespace = meta["uid"], meta["name"], meta["namespace"]
        self.dir = ctx.root / self.uid
        spec = pod["spec"]
        self.host_network = bool(spec.get("hostNetwork"))
        self.policy = spec.get("restartPolicy", "Always")
        self.init = [ContainerState(c["name"], c.get("image", "")) for c in spec.get("initContainers") or []]
        self.main = [ContainerState(c["name"], c.get("image", "")) for c in spec["containers"]]
        self.initialized = not self.init
        self.ip: str | None = None
        self.netns: str | None = None
        self.sandbox_ready = False
        self.start_time = now()
        self.transitions: dict[str, str] = {}
        self.procs: dict[str, Shim] = {}
        self.volumes = Volumes(ctx.kube, pod, self.dir / "volumes")
        self.deleting = asyncio.Event()
        self.gone = False  # the API object is gone already (deleted with no grace)
        self._changed = asyncio.Event()
        self._last_status: dict | None = None
        self._started: dict[str, asyncio.Event] = {}  # startup probe passed, per container
        self._env_sources: dict[tuple[str, str], dict[str, str] | None] = {}
        self._ip_taken = False
        self._bins: dict[str, Path] = {}  # container -> the bin folder of its image's environment
        # What an earlier agent wrote about this pod (see _save_state): the pod is adopted.
        self._saved = read_json(self.dir / STATE_FILE)

    # ---- called by the pod manager ------------------------------------------------------

    def update(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self.deleting.set()

    def removed(self) -> None:
        self.gone = True
        self.deleting.set()

    def refresh_hosts(self) -> None:
        if self.netns and self.ip:
            network.update_hosts(self.uid, self.ctx.hosts_for(self.namespace, self.name, self.ip))

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
            _signal_group(proc.pid, signal.SIGKILL)
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

    async def _setup_sandbox(self) -> None:
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        if self.host_network:
            self.ip = settings.NODE_IP
        else:
            self.ip = self.ctx.ips.take()
            self._ip_taken = True
            search = [f"{self.namespace}.svc.{settings.CLUSTER_DOMAIN}", f"svc.{settings.CLUSTER_DOMAIN}",
                      settings.CLUSTER_DOMAIN]
            self.netns = await asyncio.to_thread(
                network.create_pod_netns, self.uid, self.ip, self.ctx.hosts_for(self.namespace, self.name, self.ip), search)
        self.sandbox_ready = True
        self._changed.set()
        while True:
            try:
                await self.volumes.setup()
                return
            except VolumeError as e:
                for state in self.init + self.main:
                    state.waiting("ContainerCreating", str(e))
                self._changed.set()
                await events.emit(self.ctx.kube, self.pod, "FailedMount", f"MountVolume.SetUp failed: {e}", warning=True)
                await asyncio.sleep(5)

    def _teardown_sandbox(self) -> None:
        if self.netns:
            network.delete_pod_netns(self.uid)
            self.netns = None
        if self._ip_taken and self.ip:
            # The status keeps showing the address, as for any finished pod.
            self.ctx.ips.give_back(self.ip)
            self._ip_taken = False
        self.sandbox_ready = False

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
            await self._fetch_env_sources(spec)
            env = build_env(self.pod | {"status": {"podIP": self.ip}}, spec, self._base_env(pulled.bin_dir),
                            self._lookup_sync)
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
            log_path.write_bytes(_timestamp() + message.encode() + b"\n")
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
                delay = min(MAX_PULL_BACKOFF, PULL_BACKOFF * 2 ** failures)
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

    def _exec_probe(self, spec: dict[str, Any]):
        async def run(command: list[str], timeout: float) -> int:
            prefix = [] if self.host_network else ["ip", "netns", "exec", self.netns or ""]
            env = build_env(self.pod, spec, self._base_env(self._bins.get(spec["name"])), self._lookup_sync)
            proc = await asyncio.create_subprocess_exec(*prefix, *command, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
            try:
                return await asyncio.wait_for(proc.wait(), timeout)
            except asyncio.TimeoutError:
                _signal_group(proc.pid, signal.SIGKILL)
                return 1

        return run

    async def _stop(self, proc: Shim, grace: float) -> None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except asyncio.TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)

    async def _stop_containers(self) -> None:
        meta = self.pod["metadata"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        if self.procs:
            await events.emit(self.ctx.kube, self.pod, "Killing", "Stopping container(s) "
                              + ", ".join(self.procs))
        await asyncio.gather(*(self._stop(p, float(grace)) for p in list(self.procs.values())))

    async def _delete_from_api(self) -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": self.uid}}
        try:
            await self.ctx.kube.request("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{self.name}", body)
        except ApiError as e:
            if e.code not in (404, 409):
                log.warning("deleting pod %s/%s failed: %s", self.namespace, self.name, e)

    # ---- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        will_restart = not self.deleting.is_set() and any(
            "terminated" in c.state and should_restart(self.policy, c.exit_code or 0) for c in self.main)
        if not self.initialized and any(c.exit_code not in (None, 0) for c in self.init):
            will_restart = self.policy != "Never" and not self.deleting.is_set()
        return pod_status(self.pod, ip=self.ip, start_time=self.start_time, init=self.init, main=self.main,
                          initialized=self.initialized, will_restart=will_restart,
                          sandbox_ready=self.sandbox_ready, transitions=self.transitions)

    def _save_state(self) -> None:
        """What a restarted agent needs to adopt this pod (written with every status change)."""
        if not self.dir.exists():
            return
        state = {"node": self.ctx.node_name, "ip": self.ip, "ip_taken": self._ip_taken, "netns": self.netns,
                 "sandbox_ready": self.sandbox_ready, "start_time": self.start_time, "initialized": self.initialized,
                 "transitions": self.transitions, "bins": {k: str(v) for k, v in self._bins.items()},
                 "volumes": {k: str(v) for k, v in self.volumes.paths.items()},
                 "init": [dataclasses.asdict(c) for c in self.init], "main": [dataclasses.asdict(c) for c in self.main]}
        tmp = self.dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.dir / STATE_FILE)

    def _restore(self, saved: dict[str, Any]) -> bool:
        """Take over a pod an earlier agent ran; False if there is not enough left to adopt."""
        names = [c["name"] for c in saved.get("main", [])]
        if not saved.get("initialized") or names != [c.name for c in self.main]:
            return False
        if saved.get("netns") and saved["netns"] not in network.list_pod_netns():
            return False
        self.ip, self.netns, self._ip_taken = saved["ip"], saved.get("netns"), bool(saved.get("ip_taken"))
        if self._ip_taken and self.ip:
            self.ctx.ips.claim(self.ip)
        self.sandbox_ready, self.start_time = saved["sandbox_ready"], saved["start_time"]
        self.initialized, self.transitions = True, saved["transitions"]
        self._bins = {k: Path(v) for k, v in saved.get("bins", {}).items()}
        self.volumes.paths = {k: Path(v) for k, v in saved.get("volumes", {}).items()}
        self.init = [ContainerState(**c) for c in saved["init"]]
        self.main = [ContainerState(**c) for c in saved["main"]]
        self._changed.set()
        return True

    async def _publish(self) -> None:
        self._save_state()
        status = self.status()
        if status == self._last_status:
            return
        try:
            await self.ctx.kube.merge_patch(f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status",
                                            {"status": status})
            self._last_status = status
        except ApiError as e:
            if e.code == 404:
                self.removed()
            else:
                log.warning("status of %s/%s not posted: %s", self.namespace, self.name, e)

    async def _publish_loop(self) -> None:
        while True:
            await self._changed.wait()
            await asyncio.sleep(0.02)  # let a burst of changes settle into one patch
            self._changed.clear()
            await self._publish()

    # ---- environment ----------------------------------------------------------------------

    def _base_env(self, bin_dir: Path | None) -> dict[str, str]:
        """What the image would set: its environment's bin folder first on PATH."""
        home = self.dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        path = os.pathsep.join([str(bin_dir or settings.python_env_bin()), "/usr/local/sbin", "/usr/local/bin",
                                "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        apiserver_port = str(settings.Ports().apiserver)
        return {
            "PATH": path, "HOME": str(home), "HOSTNAME": self.name, "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            # In-cluster clients go straight to the API server rather than through the
            # `kubernetes` Service's ClusterIP: long watches then skip the user-space proxy.
            "KUBERNETES_SERVICE_HOST": settings.NODE_IP, "KUBERNETES_SERVICE_PORT": apiserver_port,
            "KUBERNETES_SERVICE_PORT_HTTPS": apiserver_port,
        }

    async def _fetch_env_sources(self, spec: dict[str, Any]) -> None:
        """Read the ConfigMaps and Secrets the container's env refers to, for `_lookup_sync`."""
        refs = set()
        for source in spec.get("envFrom") or []:
            for kind in ("configMap", "secret"):
                if source.get(f"{kind}Ref"):
                    refs.add((kind, source[f"{kind}Ref"]["name"]))
        for var in spec.get("env") or []:
            for kind in ("configMap", "secret"):
                ref = (var.get("valueFrom") or {}).get(f"{kind}KeyRef")
                if ref:
                    refs.add((kind, ref["name"]))
        for kind, name in refs:
            try:
                data = await self.volumes.read(kind, name)
            except ApiError as e:
                if e.code != 404:
                    raise LookupError(f'{kind} "{name}": {e}') from e
                data = None
            self._env_sources[(kind, name)] = data

    def _lookup_sync(self, kind: str, name: str, key: str, optional: bool):
        """ConfigMap/Secret values for env, from what `_fetch_env_sources` read."""
        data = self._env_sources.get((kind, name))
        if data is None:
            if optional:
                return None if key else {}
            raise LookupError(f'{kind} "{name}" not found')
        if not key:
            return data
        if key not in data:
            if optional:
                return None
            raise LookupError(f'key "{key}" not found in {kind} "{name}"')
        return data[key]


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
