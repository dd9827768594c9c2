"""Bring the local Kubernetes up and down: etcd, kube-apiserver, kube-controller-manager and
the node agent as processes, with their state in one folder."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from rich.console import Console

from . import binaries, components, network, nodes, pki, processes, settings
from .nodecontrol import NodeControl
from .processes import alive, kill_group, processes_naming

# Started in this order, stopped in reverse.
COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "node-agent"]


class LocalCluster(NodeControl):
    """One local Kubernetes, identified by its state folder."""

    def __init__(self, state_dir: Path | str | None = None, console: Console | None = None) -> None:
        self.layout = settings.Layout(Path(state_dir) if state_dir else settings.default_state_dir())
        self.console = console or Console(stderr=True)
        self.started_here = False  # whether this object's `up` started the cluster
        self._lock_depth = 0

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One `up` or `down` of a state folder at a time, across processes: a second `up`
        waits and then finds the cluster running, instead of tearing down a half-started one.
        The lock file lives in the cache folder, which `down` leaves in place."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        key = hashlib.sha256(str(self.layout.root.resolve()).encode()).hexdigest()[:12]
        path = settings.cache_root() / f"local-k8s-{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(f, fcntl.LOCK_UN)

    # ---- queries -------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Environment for clients: KUBECONFIG and a PATH that has kubectl and helm."""
        path = os.pathsep.join([*map(str, binaries.bin_dirs()), os.environ.get("PATH", "")])
        return {"KUBECONFIG": str(self.layout.kubeconfig), "PATH": path}

    def _pid(self, component: str) -> int | None:
        try:
            return int((self.layout.pids / f"{component}.pid").read_text())
        except (OSError, ValueError):
            return None

    def nodes(self) -> list[nodes.NodeConfig]:
        return nodes.load(self.layout.nodes_file)

    def _components(self) -> list[str]:
        """The control plane and every node's agent, in start order."""
        extra = [n.component for n in self.nodes() if n.index > 0]
        return [*COMPONENTS, *extra]

    def running_components(self) -> dict[str, bool]:
        return {c: alive(self._pid(c)) for c in self._components()}

    def is_up(self) -> bool:
        """The control plane and the first node (which also schedules and proxies) run; a
        stopped extra node is a node loss to try, not a cluster to start again."""
        running = self.running_components()
        return all(running[c] for c in COMPONENTS) and self._node_ready()

    def _token(self) -> str:
        return (self.layout.pki / "tokens.csv").read_text().split(",", 1)[0]

    def _http(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.layout.pki / "ca.crt"))
        return httpx.Client(base_url=self.layout.api_url, verify=context,
                            headers={"Authorization": f"Bearer {self._token()}"}, timeout=5)

    def _api_ready(self) -> bool:
        try:
            with self._http() as http:
                return http.get("/readyz").status_code == 200
        except (httpx.HTTPError, OSError):
            return False

    def _node_ready(self, name: str = settings.NODE_NAME, since: str = "") -> bool:
        """Whether the node is Ready, by a heartbeat at or after `since` (UTC, to the second)
        when given: a restarted agent's node still shows its predecessor's Ready for a while."""
        try:
            with self._http() as http:
                node = http.get(f"/api/v1/nodes/{name}").json()
        except (httpx.HTTPError, OSError, ValueError):
            return False
        if node.get("kind") != "Node":
            return False
        conditions = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" and c.get("lastHeartbeatTime", "") >= since
                   for c in conditions)

    def status(self) -> dict:
        running = self.running_components()
        return {
            "state_dir": str(self.layout.root),
            "kubeconfig": str(self.layout.kubeconfig),
            "components": running,
            "api_ready": any(running.values()) and self._api_ready(),
            "node_ready": any(running.values()) and self._node_ready(),
        }

    # ---- up ------------------------------------------------------------------------------

    def up(self, *, install_operator: bool = True, timeout: float = 180, node_count: int = 1,
           taints: dict[str, list[dict[str, str]]] | None = None) -> dict[str, float]:
        """Start everything (building binaries first if needed); returns seconds per step.
        `taints` maps node names to their taints."""
        with self._exclusive():
            return self._up(install_operator, timeout, node_count, taints)

    def _up(self, install_operator: bool, timeout: float, node_count: int,
            taints: dict[str, list[dict[str, str]]] | None) -> dict[str, float]:
        timings: dict[str, float] = {}
        if self._recovering(timeout):
            self.console.print("local Kubernetes was restarting a component; it is back")
        if self.is_up():
            count = len(self.nodes())
            if count != node_count:
                self.console.print(f"[yellow]local Kubernetes already up with {count} node(s); "
                                   f"`down` first for {node_count}")
            self.console.print(f"local Kubernetes already up; kubeconfig: {self.layout.kubeconfig}")
            return timings
        planned = nodes.plan(node_count, taints)  # bad input fails here, before anything starts
        if self.layout.root.exists() or network.leftovers():
            self.console.print("cleaning up an earlier run first")
            self.down(quiet=True)

        def step(name: str, fn: Callable[[], None]) -> None:
            started = time.monotonic()
            with self.console.status(f"{name}..."):
                fn()
            timings[name] = time.monotonic() - started
            self.console.print(f"[green]✓[/] {name} ({timings[name]:.1f} s)")

        built = binaries.build_all(self.console)
        timings.update({f"build {k}": v for k, v in built.items() if v})
        try:
            step("network", network.setup_host)
            step("certificates", self._write_pki)
            nodes.save(self.layout.nodes_file, planned)
            step("etcd", lambda: self._start_etcd(timeout))
            step("kube-apiserver", lambda: self._start_apiserver(timeout))
            step("custom resource definitions", self._apply_crds)
            step("kube-controller-manager", self._start_controller_manager)
            for node in planned:
                step(f"node {node.name}", lambda: self._start_agent(node, timeout))
            for image in settings.PREPULLED_IMAGES:
                step(f"image {image}", lambda: self._prepull(image))
            if install_operator:
                step("operator", self._install_operator)
        except BaseException:
            self.console.print("[red]start failed; logs are in[/]", self.layout.logs)
            self._stop_processes()
            network.teardown_host()
            raise
        self.started_here = True
        self.console.print(f"kubeconfig: {self.layout.kubeconfig}")
        return timings

    def _recovering(self, timeout: float) -> bool:
        """While etcd and the node agent run, a not-ready cluster is one whose API server or
        controller-manager is being restarted: wait for it rather than tear down everyone's pods."""
        running = self.running_components()
        if not (running["etcd"] and running["node-agent"]) or self.is_up():
            return False
        deadline = time.monotonic() + min(timeout, 90)
        with self.console.status("waiting for a restarting component..."):
            while time.monotonic() < deadline:
                if self.is_up():
                    return True
                time.sleep(1)
        return False

    def _write_pki(self) -> None:
        for folder in (self.layout.root, self.layout.logs, self.layout.pids, self.layout.pods):
            folder.mkdir(parents=True, exist_ok=True)
        token = pki.generate(self.layout.pki)
        pki.write_kubeconfig(self.layout.kubeconfig, self.layout.api_url, self.layout.pki / "ca.crt", token)

    def _spawn(self, component: str, cmd: list[str]) -> subprocess.Popen:
        return processes.spawn(cmd, self.layout.logs / f"{component}.log",
                               self.layout.pids / f"{component}.pid", self.layout.root)

    def _wait(self, what: str, check: Callable[[], bool], proc: subprocess.Popen, timeout: float) -> None:
        processes.wait_until(what, check, proc, timeout, self.layout.logs)

    def _start_etcd(self, timeout: float) -> None:
        client = components.etcd_client_url(self.layout)
        proc = self._spawn("etcd", components.etcd(self.layout))

        def healthy() -> bool:
            try:
                return httpx.get(f"{client}/health", timeout=1).json().get("health") == "true"
            except (httpx.HTTPError, ValueError):
                return False

        self._wait("etcd", healthy, proc, timeout)

    def _start_apiserver(self, timeout: float) -> None:
        proc = self._spawn("kube-apiserver", components.apiserver(self.layout))
        self._wait("kube-apiserver", self._api_ready, proc, timeout)

    def restart_apiserver(self, timeout: float = 60, grace: float = 10) -> float:
        """Stop the kube-apiserver (SIGTERM; SIGKILL after ``grace`` s) and start it again with
        the same command line (certificates, etcd, ports), until /readyz answers; returns the
        seconds it was away. Holds the state folder's lock, so a concurrent `up` waits."""
        with self._exclusive():
            pid = self._pid("kube-apiserver")
            if not alive(pid):
                raise ValueError("kube-apiserver is not running; `up` starts the cluster")
            started = time.monotonic()
            kill_group(pid, grace)
            if alive(pid):
                raise TimeoutError(f"kube-apiserver (pid {pid}) did not exit within {2 * grace:g} s")
            self._start_apiserver(timeout)
            return time.monotonic() - started

    def _kubectl(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run([str(binaries.binary("kubectl")), *args], input=stdin, text=True,
                                capture_output=True, env={**os.environ, **self.env()})
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def _apply_crds(self) -> None:
        # Before the controller manager starts: its garbage collector only learns of kinds
        # through discovery, so CRDs installed first get cascading deletion from the start.
        from dask_k8s_operator import install  # imported late to keep `down` light

        crds = install.crd_files()
        if not crds:
            return
        self._kubectl("apply", "--server-side", *[f"--filename={c}" for c in crds])
        deadline = time.monotonic() + 60
        while True:
            try:
                self._kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
                return
            except RuntimeError as e:
                # A CRD created a moment ago has no status yet, and `kubectl wait` fails on it
                # instead of waiting.
                if "accessor error" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _start_controller_manager(self) -> None:
        self._spawn("kube-controller-manager", components.controller_manager(self.layout))

    def _start_agent(self, node: nodes.NodeConfig, timeout: float) -> None:
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        proc = self._spawn(node.component, components.agent(self.layout, node))
        self._wait(node.component, lambda: self._node_ready(node.name, since), proc, timeout)

    def _prepull(self, image: str) -> None:
        """Pull the default Dask image once at start, so the first cluster does not wait for it
        (and a session's first test does not carry the time of a cold pull)."""
        try:
            seconds = pull(image)
        except Exception as e:  # the image is pulled again when a pod needs it, with the reason
            self.console.print(f"[yellow]could not pre-pull {image}: {e}")
        else:
            self.console.print(f"  {image}: {seconds:.1f} s")

    def _install_operator(self) -> None:
        from dask_k8s_operator import install  # imported late to keep `down` light

        install.install({**os.environ, **self.env()})

    # ---- down ----------------------------------------------------------------------------

    def _stop_processes(self) -> list[str]:
        stopped = []
        for component in reversed(self._components()):
            pid = self._pid(component)
            if alive(pid):
                kill_group(pid, grace=10 if component.startswith("node-agent") else 5)
                stopped.append(f"{component} (pid {pid})")
        # Anything still running inside a pod namespace (e.g. the agent was killed hard).
        for ns in network.list_pod_netns():
            out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
            for pid in map(int, out.split()):
                kill_group(pid, grace=2)
                stopped.append(f"pod process {pid}")
        # A component whose pid file was overwritten (two `up`s racing, a component restarted by
        # hand) still names this state folder on its command line.
        for pid in processes_naming(self.layout.root):
            kill_group(pid, grace=5)
            stopped.append(f"stray process {pid}")
        return stopped

    def down(self, quiet: bool = False) -> list[str]:
        """Stop every process and remove every namespace, link, route and file of this run."""
        with self._exclusive():
            return self._down(quiet)

    def _down(self, quiet: bool) -> list[str]:
        removed = self._stop_processes()
        removed += network.teardown_host()
        mounts = self.layout.root / "mountpoints.json"
        if mounts.exists():
            for path in sorted(json.loads(mounts.read_text()), key=len, reverse=True):
                try:
                    os.rmdir(path)
                except OSError:
                    pass
        if self.layout.root.exists():
            subprocess.run(["rm", "-rf", str(self.layout.root)], check=False)
            removed.append(str(self.layout.root))
        if not quiet:
            for item in removed:
                self.console.print(f"removed {item}")
        return removed


def pull(image: str) -> float:
    """Pull `image` into this machine's image store, as the node agent would; returns seconds.
    A present image is only checked (for `latest`: which release is newest)."""
    from .agent import images
    from .agent.imagestore import ImageStore

    started = time.monotonic()
    store = ImageStore()
    env = images.environment_for(image)
    if not env.is_project:
        asyncio.run(store.pull(image, env))
    return time.monotonic() - started


async def wait_for_default_service_account(namespace: str, timeout: float = 30) -> None:
    """Pods are refused until the namespace's `default` ServiceAccount exists."""
    import kr8s.asyncio

    deadline = time.monotonic() + timeout
    while True:
        try:
            await kr8s.asyncio.objects.ServiceAccount.get("default", namespace=namespace)
            return
        except kr8s.NotFoundError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no default ServiceAccount in namespace {namespace}") from None
            await asyncio.sleep(0.1)
