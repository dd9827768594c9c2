"""Bring the local Kubernetes up and down: etcd, kube-apiserver, kube-controller-manager and
the node agent as processes, with their state in one folder."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from rich.console import Console

from . import binaries, network, nodes, pki, settings

# The controller-manager's default set ("*"), as on any cluster, less the three controllers that
# only act through a cloud provider's API: cloud-node-lifecycle (asks the cloud whether a NotReady
# node's machine still exists), service-lb (provisions cloud load balancers for LoadBalancer
# Services) and node-route (programs cloud routes for pod CIDRs). There is no cloud here: the
# node agent gives LoadBalancer Services their ClusterIP as ingress, and the pod bridge needs no
# routes. Without --cloud-provider they would only log that they are skipped; naming them says why.
CLOUD_CONTROLLERS = ["cloud-node-lifecycle-controller", "service-lb-controller", "node-route-controller"]
CONTROLLERS = ["*", *(f"-{c}" for c in CLOUD_CONTROLLERS)]
# Started in this order, stopped in reverse.
COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "node-agent"]


class LocalCluster:
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
        return {c: _alive(self._pid(c)) for c in self._components()}

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
        log = (self.layout.logs / f"{component}.log").open("ab")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=self.layout.root)
        (self.layout.pids / f"{component}.pid").write_text(str(proc.pid))
        return proc

    def _wait(self, what: str, check: Callable[[], bool], proc: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with code {proc.returncode}; see "
                                   f"{self.layout.logs / (what + '.log')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not ready after {timeout:.0f} s; see {self.layout.logs}")
            time.sleep(0.2)

    def _start_etcd(self, timeout: float) -> None:
        p = self.layout.ports
        client = f"http://127.0.0.1:{p.etcd_client}"
        proc = self._spawn("etcd", [
            str(binaries.binary("etcd")), "--name", "local", "--data-dir", str(self.layout.etcd_data),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", f"http://127.0.0.1:{p.etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{p.etcd_peer}",
            "--initial-cluster", f"local=http://127.0.0.1:{p.etcd_peer}",
            "--unsafe-no-fsync", "--log-level", "warn",
        ])

        def healthy() -> bool:
            try:
                return httpx.get(f"{client}/health", timeout=1).json().get("health") == "true"
            except (httpx.HTTPError, ValueError):
                return False

        self._wait("etcd", healthy, proc, timeout)

    def _start_apiserver(self, timeout: float) -> None:
        pki_dir, p = self.layout.pki, self.layout.ports
        proc = self._spawn("kube-apiserver", [
            str(binaries.binary("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{p.etcd_client}",
            f"--bind-address={settings.NODE_IP}", f"--secure-port={p.apiserver}",
            f"--advertise-address={settings.NODE_IP}",
            f"--tls-cert-file={pki_dir / 'apiserver.crt'}", f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
            f"--client-ca-file={pki_dir / 'ca.crt'}",
            f"--token-auth-file={pki_dir / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={settings.SERVICE_CIDR}",
            f"--service-account-issuer=https://kubernetes.default.svc.{settings.CLUSTER_DOMAIN}",
            f"--service-account-key-file={pki_dir / 'sa.pub'}",
            f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
            "--allow-privileged=true",
            "--kubelet-preferred-address-types=InternalIP",
            # Pods tolerate a NotReady/unreachable node this long before the node lifecycle
            # controller evicts them (300 s on a default cluster; short here, see settings).
            f"--default-not-ready-toleration-seconds={settings.NODE_LOSS_TOLERATION_SECONDS}",
            f"--default-unreachable-toleration-seconds={settings.NODE_LOSS_TOLERATION_SECONDS}",
            "--enable-priority-and-fairness=false",
            "--profiling=false", "--v=1",
        ])
        self._wait("kube-apiserver", self._api_ready, proc, timeout)

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
        pki_dir = self.layout.pki
        self._spawn("kube-controller-manager", [
            str(binaries.binary("kube-controller-manager")),
            f"--kubeconfig={self.layout.kubeconfig}",
            "--leader-elect=false", "--secure-port=0",
            f"--service-account-private-key-file={pki_dir / 'sa.key'}",
            f"--root-ca-file={pki_dir / 'ca.crt'}",
            # CertificateSigningRequests are signed with the cluster CA, as kubeadm sets it up.
            f"--cluster-signing-cert-file={pki_dir / 'ca.crt'}",
            f"--cluster-signing-key-file={pki_dir / 'ca.key'}",
            f"--controllers={','.join(CONTROLLERS)}",
            f"--node-monitor-grace-period={settings.NODE_MONITOR_GRACE_SECONDS}s",
            "--concurrent-gc-syncs=5", "--v=1",
        ])

    def _start_agent(self, node: nodes.NodeConfig, timeout: float) -> None:
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        proc = self._spawn(node.component, [sys.executable, "-m", "local_k8s.agent",
                                            "--state-dir", str(self.layout.root), "--node", node.name])
        self._wait(node.component, lambda: self._node_ready(node.name, since), proc, timeout)

    # ---- nodes ---------------------------------------------------------------------------

    def add_node(self, name: str | None = None, *, zone: str | None = None, labels: dict[str, str] | None = None,
                 taints: list[dict[str, str]] | None = None, timeout: float = 60) -> nodes.NodeConfig:
        """Register one more node (its own agent) with the running cluster."""
        known = self.nodes()
        index = nodes.free_index(known)
        node = nodes.new_node(index, name, zone, labels, taints)
        if any(n.name == node.name for n in known):
            raise ValueError(f"node {node.name} exists already")
        nodes.save(self.layout.nodes_file, [*known, node])
        self._start_agent(node, timeout)
        return node

    def _node(self, name: str) -> nodes.NodeConfig:
        node = next((n for n in self.nodes() if n.name == name), None)
        if node is None:
            raise ValueError(f"no node {name}; the nodes are {', '.join(n.name for n in self.nodes())}")
        return node

    def stop_node(self, name: str) -> list[str]:
        """The node's machine goes away: its agent and its pods' processes are killed, their
        network namespaces removed. The API server is not told: the Node turns NotReady once
        its Lease expires, and the node lifecycle controller evicts its pods (see settings)."""
        node = self._node(name)
        if node.runs_cluster_services:
            raise ValueError(f"{name} also runs the cluster's scheduler and service proxy; stop another node")
        stopped = []
        pid = self._pid(node.component)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
            stopped.append(f"{node.component} (pid {pid})")
        with self._http() as http:
            pods = http.get("/api/v1/pods", params={"fieldSelector": f"spec.nodeName={name}"}).json()["items"]
        on_node = {network.netns_name(p["metadata"]["uid"]) for p in pods}
        for ns in set(network.list_pod_netns()) & on_node:
            out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
            for proc in map(int, out.split()):
                _kill_group(proc, grace=0)
            network.delete_netns(ns)
            stopped.append(f"netns {ns}")
        return stopped

    def restart_agent(self, name: str, timeout: float = 60) -> None:
        """Kill the node's agent hard (SIGKILL, as a crash would) and start it again: it adopts
        the pods that are still running, from the state it keeps on disk."""
        node = self._node(name)
        pid = self._pid(node.component)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self._start_agent(node, timeout)

    def start_node(self, name: str, timeout: float = 60) -> None:
        node = self._node(name)
        if not _alive(self._pid(node.component)):
            self._start_agent(node, timeout)

    def remove_node(self, name: str) -> None:
        """Stop the node and delete it from the API (its pods are then garbage-collected)."""
        node = self._node(name)
        self.stop_node(name)
        with self._http() as http:
            http.delete(f"/api/v1/nodes/{name}")
            http.delete(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}")
        nodes.save(self.layout.nodes_file, [n for n in self.nodes() if n.name != node.name])
        (self.layout.pids / f"{node.component}.pid").unlink(missing_ok=True)

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
            if _alive(pid):
                _kill_group(pid, grace=10 if component.startswith("node-agent") else 5)
                stopped.append(f"{component} (pid {pid})")
        # Anything still running inside a pod namespace (e.g. the agent was killed hard).
        for ns in network.list_pod_netns():
            out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
            for pid in map(int, out.split()):
                _kill_group(pid, grace=2)
                stopped.append(f"pod process {pid}")
        # A component whose pid file was overwritten (two `up`s racing, a component restarted by
        # hand) still names this state folder on its command line.
        for pid in _processes_naming(self.layout.root):
            _kill_group(pid, grace=5)
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


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _processes_naming(root: Path) -> list[int]:
    """Running processes with `root` on their command line, other than this one and its parents."""
    mine, pid = set(), os.getpid()
    while pid > 1:
        mine.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    needle = str(root).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in mine:
            try:
                if needle in (entry / "cmdline").read_bytes() and _alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _kill_group(pid: int, grace: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


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
