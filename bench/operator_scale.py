"""The operator at scale: N DaskClusters x M hollow workers, ours against the original.

    python bench/operator_scale.py [--clusters 100] [--workers 20] [--single 1000] [--out ours.json]
    python bench/operator_scale.py --operator original --out original.json   # on a bare cluster
    python bench/operator_scale.py --compare ours.json original.json

Workers are hollow pods (local-k8s's kubemark-like pods: the node agent reports them Running and
Ready at a kubelet's pace, no process runs) on a hollow node the bench adds (tainted, so nothing
else lands there) and removes again; schedulers are real Dask schedulers, since an operator
talks to them. Per scenario (N x M, then one cluster of --single workers) it measures:

- time from creating the DaskClusters until every cluster's ``status.phase`` is Running and every
  worker pod is Running with Ready=True (pod conditions: the same rule for both operators);
- p50/p99 from a scale of every cluster at once (``spec.worker.replicas`` += --scale-by, what
  ``kubectl scale daskcluster`` sets) to the new worker pods existing;
- then the same for one cluster at a time (--one-by-one of them, +1 each, one after the other
  while the rest stay as they are): what one user's scale meets on an operator that holds all
  the others;
- deletion: from deleting the DaskClusters until none of their pods is left;
- the operator process's CPU seconds and peak RSS (from /proc: our operator runs as a pod of the
  local Kubernetes, found through its node agent's state; the original runs as a host process),
  and its RSS as the pod count grows;
- API requests by verb: the operator's own count (ours: its liveness endpoint, requests in the
  bench's namespace made through kr8s; the original: every HTTP request it sends to the API
  server, counted in its process) and the API server's ``apiserver_request_total`` (whole
  server: also counts the node agents, the controller manager, the bench itself and, on a shared
  cluster, everyone else). ``apiserver_writes_caused`` is the server's writes less the bench's
  own (which it counts as it makes them): what the operator wrote and what that made the node
  agents and controllers write (pod status, endpoints, garbage collection), the figure to
  compare between the two operators on an otherwise quiet cluster.

Readiness: our operator counts a worker ready only once the scheduler lists it (readyReplicas);
a hollow worker never connects, so its group's readyReplicas stays 0 and the group is requeued
every second. The original reports no worker readiness. Hence the pod-condition rule above.

The original (``dask-kubernetes`` from PyPI) is installed at bench time into a virtual
environment under the cache folder, never into the repository; its CRDs come from the installed
package. It needs a cluster without our operator, and its CRDs replace ours (same names) for the
run and are put back after: on this machine that is a second ``up --bare`` after ``down``, as the
local Kubernetes uses fixed ports and cannot run twice side by side. The lead's sequence:

    python bench/operator_scale.py --out /tmp/ours.json              # shared cluster, our operator
    dask-k8s-lab local-k8s down && dask-k8s-lab local-k8s up --bare
    python bench/operator_scale.py --operator original --out /tmp/original.json
    python bench/operator_scale.py --compare /tmp/ours.json /tmp/original.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import kr8s.asyncio
import yaml
from kr8s.asyncio.objects import Namespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dask_k8s_common.resources import DaskCluster  # noqa: E402
from dask_k8s_common import watching  # noqa: E402
from dask_k8s_common.watching import bounded  # noqa: E402
from local_k8s import nodes, settings  # noqa: E402
from local_k8s.cluster import LocalCluster  # noqa: E402

MANIFEST = ROOT / "tests" / "operator" / "manifests" / "cluster.yaml"
HOLLOW_NODE = "hollow-bench"
QUIET_SCHEDULER = {"TICK__INTERVAL": "1s", "SYSTEM_MONITOR__INTERVAL": "5s"}  # idle CPU 2% -> 0.3%
PHASE_GRACE = 60.0  # seconds after the last worker is ready for every cluster to say Running
ORIGINAL_PACKAGE = "dask-kubernetes"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
HTTP_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete", "GET": "get",
              "LIST": "list", "WATCH": "watch", "DELETECOLLECTION": "deletecollection", "APPLY": "patch"}


# ---- the clusters ------------------------------------------------------------------------------


def cluster_manifest(name: str, namespace: str, workers: int) -> dict:
    """The docs' `simple` cluster: a real scheduler (ClusterIP, quick probe), hollow workers."""
    body = yaml.safe_load(MANIFEST.read_text())
    body["metadata"] = {"name": name, "namespace": namespace}
    body["spec"]["worker"]["replicas"] = workers
    body["spec"]["worker"]["metadata"] = {"annotations": {nodes.HOLLOW: "true"}}
    body["spec"]["worker"]["spec"]["nodeSelector"] = {nodes.HOLLOW: "true"}
    body["spec"]["worker"]["spec"]["tolerations"] = [
        {"key": nodes.HOLLOW, "operator": "Exists", "effect": "NoSchedule"}]
    service = body["spec"]["scheduler"]["service"]
    service["type"] = "ClusterIP"
    service["selector"]["dask.org/cluster-name"] = name
    scheduler = body["spec"]["scheduler"]["spec"]["containers"][0]
    scheduler["readinessProbe"].update(initialDelaySeconds=0, periodSeconds=1)
    # an idle scheduler's event-loop tick (20 ms) and system monitor (0.5 s) cost ~2% of a core:
    # 100 of them would starve this 2-core machine; both operators get the same quiet schedulers
    scheduler["env"] = [{"name": f"DASK_DISTRIBUTED__ADMIN__{key}", "value": value}
                        for key, value in QUIET_SCHEDULER.items()]
    return body


def ensure_hollow_node(local: LocalCluster) -> bool:
    """A hollow node (label and taint); True if this run added it."""
    if any(n.hollow for n in local.nodes()):
        return False
    taint = nodes.parse_taint(f"{nodes.HOLLOW}=true:NoSchedule")
    local.add_node(HOLLOW_NODE, labels={nodes.HOLLOW: "true"}, taints=[taint])
    return True


def agent_pid(local: LocalCluster) -> int | None:
    node = next((n for n in local.nodes() if n.hollow), None)
    path = local.layout.pids / f"{node.component}.pid" if node else None
    try:
        return int(path.read_text()) if path else None
    except (OSError, ValueError):
        return None


# ---- the operator process -----------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Ours:
    """Our operator, a pod in dask-operator: its host process through the node agent's state."""

    name = "ours"

    def __init__(self, local: LocalCluster) -> None:
        self.local = local
        self.pod: dict = {}

    async def start(self) -> None:
        pods = [p async for p in kr8s.asyncio.get(
            "pods", namespace="dask-operator", label_selector={"app.kubernetes.io/instance": "dask-k8s-operator"})]
        pods = [p.raw for p in pods if p.status.get("podIP") and not p.metadata.get("deletionTimestamp")]
        if len(pods) != 1:
            sys.exit("expected one operator pod in dask-operator (dask-k8s-lab local-k8s up)")
        self.pod = pods[0]

    def pids(self) -> list[int]:
        """Its process tree; empty once the pod is gone (someone restarted the operator: the
        scenario then reports ``operator_restarted``)."""
        try:
            state = json.loads((self.local.layout.pods / self.pod["metadata"]["uid"] / "state.json").read_text())
            return process_tree(state["main"][0]["pid"])
        except (OSError, ValueError, KeyError, IndexError):
            return []

    async def requests(self, namespace: str, settle: bool = True) -> Counter:
        """Its kr8s requests in `namespace` (new for each scenario), by "verb resource"; kopf
        refreshes probes every 10 s, hence the wait."""
        if not settle:
            return Counter()
        await asyncio.sleep(10.5)
        async with httpx.AsyncClient() as client:
            for attempt in range(3):  # a machine at full load can take its time to answer
                try:
                    r = await client.get(f"http://{self.pod['status']['podIP']}:8080/healthz", timeout=60)
                    break
                except httpx.TransportError:
                    if attempt == 2:
                        raise
        by_kind = r.json()["stats"].get("api_requests_by_namespace", {}).get(namespace, {})
        # older builds count "METHOD resource", newer ones "verb resource"
        return Counter({f"{HTTP_VERBS.get(k.split()[0], k.split()[0].lower())} {k.split()[-1]}": v
                        for k, v in by_kind.items()})

    async def stop(self) -> None:
        pass


# The original runs under this launcher: it counts every HTTP request the process sends to the API
# server, by verb and resource, through the clients' public hooks (httpx event hooks for kr8s,
# aiohttp trace configs for kopf), and writes them to a file every second.
LAUNCHER = r'''
import asyncio, json, sys, threading, time
import aiohttp, httpx, kopf

out, host = sys.argv[1], sys.argv[2]
counts = {}

def resource_of(path):
    """(resource[/subresource], named) of an API path; "discovery" for /api, /apis, /version."""
    parts = [p for p in path.split("/") if p]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:] if parts[:1] == ["apis"] else []
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    if not rest:
        return "discovery", False
    return rest[0] + ("/" + rest[2] if len(rest) >= 3 else ""), len(rest) >= 2


def count(method, url):
    try:
        url = str(url)
        if host not in url:
            return
        path, _, query = url.split(host, 1)[1].partition("?")
        resource, named = resource_of(path)
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
        if verb is None:
            verb = "get" if named else "watch" if "watch=true" in query or "watch=1" in query else "list"
        key = f"{verb} {resource}"
        counts[key] = counts.get(key, 0) + 1
    except Exception as e:  # never break the operator over a count
        counts["uncounted"] = counts.get("uncounted", 0) + 1

def dump():
    while True:
        time.sleep(1)
        with open(out + ".tmp", "w") as f:
            json.dump(counts, f)
        import os; os.replace(out + ".tmp", out)

threading.Thread(target=dump, daemon=True).start()

async def on_start(session, ctx, params):
    count(params.method, params.url)

_aio_init = aiohttp.ClientSession.__init__
def aio_init(self, *a, trace_configs=None, **kw):
    trace = aiohttp.TraceConfig(); trace.on_request_start.append(on_start)
    _aio_init(self, *a, trace_configs=[*(trace_configs or []), trace], **kw)
aiohttp.ClientSession.__init__ = aio_init

_hx_init = httpx.AsyncClient.__init__
def hx_init(self, *a, event_hooks=None, **kw):
    hooks = dict(event_hooks or {})
    async def on_request(request):
        count(request.method, request.url)
    hooks["request"] = [*hooks.get("request", []), on_request]
    _hx_init(self, *a, event_hooks=hooks, **kw)
httpx.AsyncClient.__init__ = hx_init

import dask_kubernetes.operator.controller  # registers the handlers
kopf.run(clusterwide=True, standalone=True, liveness_endpoint=sys.argv[3])
'''


def original_env() -> Path:
    """dask-kubernetes from PyPI in a virtual environment of its own, under the cache folder."""
    venv = settings.cache_root() / "bench" / "original-operator"
    python = venv / "bin" / "python"
    env = {**os.environ, "UV_CACHE_DIR": str(settings.uv_cache()), "VIRTUAL_ENV": str(venv)}
    uv = Path(sys.executable).parent / "uv"
    if not python.exists():
        subprocess.run([str(uv), "venv", "-q", str(venv)], check=True, env=env)
    subprocess.run([str(uv), "pip", "install", "-q", ORIGINAL_PACKAGE], check=True, env=env)
    return venv


class Original:
    """The original operator as a process on this machine, with its own CRDs."""

    name = "original"

    def __init__(self, local: LocalCluster) -> None:
        self.local = local
        self.proc: subprocess.Popen | None = None
        self.counts = settings.cache_root() / "bench" / f"original-requests-{os.getpid()}.json"
        self.version = ""

    def _kubectl(self, *args: str) -> None:
        subprocess.run(["kubectl", *args], check=True, capture_output=True, env={**os.environ, **self.local.env()})

    async def start(self) -> None:
        if subprocess.run(["kubectl", "get", "deployments", "-A", "-l", "app.kubernetes.io/instance=dask-k8s-operator",
                           "-o", "name"], capture_output=True, text=True).stdout.strip():
            sys.exit("our operator is installed: the original needs a bare cluster of its own "
                     "(dask-k8s-lab local-k8s up --bare)")
        venv = original_env()
        python = str(venv / "bin" / "python")
        script = "import dask_kubernetes, os; print(dask_kubernetes.__version__, os.path.dirname(dask_kubernetes.__file__))"
        found = subprocess.run([python, "-c", script],
                               capture_output=True, text=True, check=True).stdout.split()
        self.version, package = found[0], Path(found[1])
        crds = sorted((package / "operator" / "deployment" / "helm" / "dask-kubernetes-operator" / "crds").glob("*.yaml"))
        self._kubectl("apply", "--server-side", "--force-conflicts", *[f"--filename={c}" for c in crds])
        self._kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        port = 18080
        host = self.local.layout.api_url.split("//", 1)[1]
        self.proc = subprocess.Popen(
            [python, "-c", LAUNCHER, str(self.counts), host, f"http://127.0.0.1:{port}/healthz"],
            env={**os.environ, **self.local.env()}, stdout=subprocess.DEVNULL,
            stderr=open(settings.cache_root() / "bench" / "original-operator.log", "w"))
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if self.proc.poll() is not None:
                    sys.exit("the original operator exited; see its log in the cache folder's bench/")
                await asyncio.sleep(0.5)
        sys.exit("the original operator did not answer its liveness probe")

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    async def requests(self, namespace: str, settle: bool = True) -> Counter:
        """Everything it sent to the API server so far, by "verb resource" (the launcher dumps
        its counts every second)."""
        if settle:
            await asyncio.sleep(1.5)
        return Counter(json.loads(self.counts.read_text())) if self.counts.exists() else Counter()

    async def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(30)
        from dask_k8s_operator import install  # put our CRDs back

        self._kubectl("apply", "--server-side", "--force-conflicts", *[f"--filename={c}" for c in install.crd_files()])


# ---- measuring -----------------------------------------------------------------------------------


def apiserver_requests() -> Counter:
    """apiserver_request_total by verb (the whole API server)."""
    text = subprocess.run(["kubectl", "get", "--raw", "/metrics"], capture_output=True, text=True).stdout
    verbs: Counter = Counter()
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{"):
            labels, value = line.rsplit(" ", 1)
            verb = labels.split('verb="', 1)[1].split('"', 1)[0]
            verbs[HTTP_VERBS.get(verb, verb.lower())] += int(float(value))
    return verbs


class PodWatch:
    """Follows the namespace's worker pods: when each cluster has how many, and how many are ready.

    Cheap on purpose: it shares the 2-core machine with what it measures. Pods are followed as
    plain dicts (``watching.follow``, no kr8s object per event) and counted as they change; a
    first version built a kr8s object and recounted all 2,200 pods for every event, and took 75 %
    of a core while 100 clusters scaled."""

    SELECTOR = "dask.org/component=worker"

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.pods: dict[str, tuple[str, bool]] = {}  # name -> (cluster, ready)
        self.counts: Counter = Counter()  # cluster -> pods
        self.ready_count = 0
        self.targets: dict[str, tuple[int, float]] = {}  # cluster -> (pod count, since)
        self.reached: dict[str, float] = {}  # cluster -> seconds to reach its target
        self.wall: dict[str, list[float]] = {}  # cluster -> wall clock: scale asked, sent, pods seen
        self.changed = asyncio.Event()

    def per_cluster(self) -> Counter:
        return Counter(self.counts)

    def ready(self) -> int:
        return self.ready_count

    def expect(self, cluster: str, count: int) -> None:
        self.targets[cluster] = (count, time.monotonic())
        self.reached.pop(cluster, None)
        self.wall[cluster] = [time.time()]

    async def run(self) -> None:
        api = await kr8s.asyncio.api()
        while True:
            try:
                await watching.follow(api, "pods", self.namespace, self.SELECTOR, self._listed, self._seen,
                                      watching.Timeouts(request=60))
            except Exception as e:  # (follow lists again after an expiry itself)
                print(f"  (pod watch restarted: {e})", file=sys.stderr)
                await asyncio.sleep(0.5)

    async def resync(self) -> None:
        """Take a list as the truth: a watch that reconnected can have missed deletions (one run
        waited out its whole timeout for pods long gone)."""
        listed, _ = await watching.list_objects(await kr8s.asyncio.api(), "pods", self.namespace, self.SELECTOR)
        self._listed(listed)

    def _listed(self, bodies: list[dict]) -> None:
        names = {body["metadata"]["name"] for body in bodies}
        for name in set(self.pods) - names:
            self._seen("DELETED", {"metadata": {"name": name}})
        for body in bodies:
            self._seen("MODIFIED", body)

    def _seen(self, kind: str, pod: dict) -> None:
        name = pod["metadata"]["name"]
        before = self.pods.pop(name, None)
        if before is not None:
            self.counts[before[0]] -= 1
            self.ready_count -= before[1]
        if kind == "DELETED":
            self.changed.set()
            return
        status = pod.get("status") or {}
        ready = status.get("phase") == "Running" and any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        cluster = pod["metadata"]["labels"].get("dask.org/cluster-name", "")
        self.pods[name] = (cluster, ready)
        self.counts[cluster] += 1
        self.ready_count += ready
        target = self.targets.get(cluster)
        if target is not None and cluster not in self.reached and self.counts[cluster] >= target[0]:
            self.reached[cluster] = time.monotonic() - target[1]
            self.wall[cluster].append(time.time())
        self.changed.set()

    async def until_none_left(self, bound: float) -> None:
        deadline = time.monotonic() + bound
        while self.pods:
            with contextlib.suppress(TimeoutError):
                await wait_for(lambda: not self.pods, "worker pods gone", 10)
            if self.pods:
                await self.resync()
            if self.pods and time.monotonic() > deadline:
                raise TimeoutError(f"not reached within {bound:.0f} s: worker pods gone")


class Sampler:
    """The operator's RSS once a second, with the pod count at that moment (and the hollow
    node agent's RSS, for the memory a hollow pod costs)."""

    def __init__(self, operator, watch: PodWatch, agent: int | None) -> None:
        self.operator, self.watch, self.agent = operator, watch, agent
        self.samples: list[tuple[int, float]] = []
        self.agent_samples: list[tuple[int, float]] = []

    async def run(self) -> None:
        while True:
            pods = len(self.watch.pods)
            self.samples.append((pods, rss_mib(self.operator.pids())))
            if self.agent:
                self.agent_samples.append((pods, rss_mib([self.agent])))
            await asyncio.sleep(1)

    def agent_cost(self) -> dict[str, float]:
        """The hollow node agent's RSS with no pods and at the most pods seen."""
        if not self.agent_samples:
            return {}
        idle = self.agent_samples[0]
        busiest = max(self.agent_samples)
        per_pod = (busiest[1] - idle[1]) * 1024 / max(1, busiest[0] - idle[0])
        return {"pods": busiest[0], "rss_mib": round(busiest[1], 1), "idle_rss_mib": round(idle[1], 1),
                "kib_per_pod": round(per_pod, 1)}

    def peak(self) -> float:
        return max((rss for _, rss in self.samples), default=float("nan"))

    def at_pods(self, counts: list[int]) -> dict[int, float]:
        """RSS at the first sample with at least that many pods (the largest seen since)."""
        result = {}
        for count in counts:
            seen = [rss for pods, rss in self.samples if pods >= count]
            if seen:
                result[count] = round(max(seen[:5]), 1)
        return result


async def operator_view(namespace: str) -> dict[str, Any]:
    """What the operator reports of the workers once every pod is Ready: readyReplicas summed
    over the worker groups, and their status messages."""
    groups = [g.raw async for g in kr8s.asyncio.get("daskworkergroups", namespace=namespace)]
    statuses = [g.get("status") or {} for g in groups]
    return {"groups": len(groups), "ready_replicas": sum(int(s.get("readyReplicas") or 0) for s in statuses),
            "replicas": sum(int(s.get("replicas") or 0) for s in statuses),
            "messages": sorted({s.get("message", "") for s in statuses if s.get("message")})[:3]}


def p50_p99(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return (round(statistics.median(ordered), 2),
            round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2))


async def wait_for(check, what: str, bound: float) -> None:
    deadline = time.monotonic() + bound
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {bound:.0f} s: {what}")
        await asyncio.sleep(0.2)


async def scale_one_at_a_time(watch: PodWatch, namespace: str, names: list[str], replicas: int,
                              timeout: float) -> list[float]:
    """Scale these clusters to ``replicas`` one after the other, each once the last one's pods
    exist; the seconds each took from the ask to its pods existing."""
    took = []
    for name in names:
        watch.expect(name, replicas)
        obj = await DaskCluster.get(name, namespace=namespace)
        await obj.patch({"spec": {"worker": {"replicas": replicas}}})
        await wait_for(lambda: name in watch.reached, f"{name}'s pods after its scale", timeout)
        took.append(watch.reached[name])
    return took


async def scenario(operator, clusters: int, workers: int, scale_by: int, timeout: float,
                   agent: int | None = None, one_by_one: int = 0) -> dict[str, Any]:
    namespace = f"scale-{uuid.uuid4().hex[:6]}"
    await (await Namespace({"metadata": {"name": namespace}})).create()
    watch = PodWatch(namespace)
    sampler = Sampler(operator, watch, agent)
    tasks = [asyncio.create_task(watch.run()), asyncio.create_task(sampler.run())]
    phases: dict[str, str] = {}

    async def follow_clusters() -> None:
        while True:
            phases.update({c.name: (c.raw.get("status") or {}).get("phase", "")
                           async for c in kr8s.asyncio.get("daskclusters", namespace=namespace)})
            await asyncio.sleep(1)

    result: dict[str, Any] = {"clusters": clusters, "workers_per_cluster": workers}
    own_writes = 1  # the bench's own writes to the API server since api0: the namespace, ...
    try:
        pids = operator.pids()
        cpu0, api0 = cpu_seconds(pids), apiserver_requests()
        requests0 = await operator.requests(namespace, settle=False)
        names = [f"c{i:03d}" for i in range(clusters)]
        gate = asyncio.Semaphore(16)

        async def create(name: str) -> None:
            nonlocal own_writes
            async with gate:
                own_writes += 1  # ... each DaskCluster, ...
                await (await DaskCluster(cluster_manifest(name, namespace, workers))).create()

        started = time.monotonic()
        follower = asyncio.create_task(follow_clusters())
        tasks.append(follower)
        # bounded: one run waited 13 minutes here with nothing created
        await bounded(asyncio.gather(*(create(n) for n in names)), timeout, f"creating {clusters} DaskClusters")
        total = clusters * workers
        await wait_for(lambda: watch.ready() >= total, f"{total} ready workers", timeout)
        result["all_pods_ready_s"] = round(time.monotonic() - started, 2)
        try:  # the original can leave a cluster Pending for good (its create and Service
            # handlers race to write the phase): then "all Running" is never reached
            await wait_for(lambda: sum(p == "Running" for p in phases.values()) == clusters,
                           f"{clusters} clusters Running", PHASE_GRACE)
            result["all_running_s"] = round(time.monotonic() - started, 2)
        except TimeoutError:
            result["all_running_s"] = None
        result["clusters_not_running"] = sum(p != "Running" for p in phases.values()) + clusters - len(phases)
        follower.cancel()  # (a list of every cluster each second: load neither operator makes)
        result["operator_view"] = await operator_view(namespace)
        result["cpu_to_running_s"] = round(cpu_seconds(operator.pids()) - cpu0, 2)

        if scale_by:
            for name in names:
                watch.expect(name, workers + scale_by)
            gate = asyncio.Semaphore(16)

            async def scale(name: str) -> None:
                nonlocal own_writes
                async with gate:
                    own_writes += 1  # ... and each scale
                    watch.expect(name, workers + scale_by)
                    obj = await DaskCluster.get(name, namespace=namespace)
                    await obj.patch({"spec": {"worker": {"replicas": workers + scale_by}}})
                    watch.wall[name].insert(1, time.time())

            await bounded(asyncio.gather(*(scale(n) for n in names)), timeout, f"scaling {clusters} DaskClusters")
            await wait_for(lambda: len(watch.reached) == clusters, "scaled pods exist", timeout)
            latencies = list(watch.reached.values())
            # wall clock (asked, patch answered, pods seen) per cluster, to set beside the
            # operator's own log timestamps when looking for where the time goes
            result["scale_wall"] = {name: [round(t, 3) for t in times] for name, times in watch.wall.items()}
            if latencies:
                result["scale_to_pods_p50_s"], result["scale_to_pods_p99_s"] = p50_p99(latencies)
            # the same from the moment the API server answered the patch: without the bench's own
            # GET and PATCH of 100 clusters, 16 at a time (about 2 s of the figure above)
            answered = [times[2] - times[1] for times in watch.wall.values() if len(times) > 2]
            if answered:
                result["answered_to_pods_p50_s"], result["answered_to_pods_p99_s"] = p50_p99(answered)
            await wait_for(lambda: watch.ready() >= clusters * (workers + scale_by), "scaled pods ready", timeout)

        requests = await operator.requests(namespace) - requests0
        by_verb = Counter()
        for key, n in requests.items():
            by_verb[key.split()[0]] += n
        api1 = apiserver_requests()
        result["operator_cpu_s"] = round(cpu_seconds(operator.pids()) - cpu0, 2)
        result["operator_restarted"] = not operator.pids()
        result["operator_peak_rss_mib"] = round(sampler.peak(), 1)
        result["operator_rss_mib_at_pods"] = sampler.at_pods([0, 100, 500, 1000, 2000])
        result["operator_requests_by_verb"] = dict(sorted(by_verb.items()))
        result["operator_requests"] = dict(requests.most_common())
        result["operator_writes"] = sum(v for k, v in by_verb.items() if k in WRITE_VERBS)
        result["operator_requests_total"] = sum(by_verb.values())
        result["apiserver_requests_by_verb"] = {k: v for k, v in sorted((api1 - api0).items())}
        result["apiserver_writes"] = sum(v for k, v in (api1 - api0).items() if k in WRITE_VERBS)
        result["bench_writes"] = own_writes
        result["apiserver_writes_caused"] = result["apiserver_writes"] - own_writes
        result["hollow_agent"] = sampler.agent_cost()
        if scale_by and one_by_one:
            # what one user's `kubectl scale` meets on a busy operator: the others stay as they are
            lone = await scale_one_at_a_time(watch, namespace, names[:one_by_one],
                                             workers + scale_by + 1, timeout)
            result["one_scale_to_pods_p50_s"], result["one_scale_to_pods_p99_s"] = p50_p99(lone)

        started = time.monotonic()
        await asyncio.gather(*[(await DaskCluster.get(n, namespace=namespace)).delete() for n in names])
        await watch.until_none_left(timeout)
        result["delete_s"] = round(time.monotonic() - started, 2)
        return result
    except BaseException:
        print(f"partial result before the failure: {json.dumps(result)}", file=sys.stderr)
        raise
    finally:
        for task in tasks:
            task.cancel()
        await (await Namespace.get(namespace)).delete()


# ---- output ---------------------------------------------------------------------------------------

ROWS = [("all_pods_ready_s", "time to all workers ready (s)"), ("all_running_s", "time to all Running (s)"),
        ("clusters_not_running", "clusters never Running"), ("scale_to_pods_p50_s", "scale -> pods p50 (s)"),
        ("scale_to_pods_p99_s", "scale -> pods p99 (s)"),
        ("answered_to_pods_p50_s", "  from the patch's answer p50"),
        ("answered_to_pods_p99_s", "  from the patch's answer p99"),
        ("one_scale_to_pods_p50_s", "one scale at a time p50 (s)"),
        ("one_scale_to_pods_p99_s", "one scale at a time p99 (s)"), ("delete_s", "deletion (s)"),
        ("operator_cpu_s", "operator CPU (s)"), ("operator_peak_rss_mib", "operator peak RSS (MiB)"),
        ("operator_writes", "operator API writes"), ("operator_requests_total", "operator API requests"),
        ("apiserver_writes", "API server writes (all)"),
        ("apiserver_writes_caused", "API server writes - bench's")]


def table(runs: dict[str, dict]) -> str:
    names = list(runs)
    width = max(12, *(len(n) + 2 for n in names))
    lines = []
    for scenario_name in runs[names[0]]["scenarios"]:
        lines.append(f"\n{scenario_name}")
        ratio_head = f"  {names[0]}/{names[1]}" if len(names) == 2 else ""
        lines.append(f"  {'':28}" + "".join(f"{n:>{width}}" for n in names) + ratio_head)
        for key, label in ROWS:
            values = [runs[n]["scenarios"].get(scenario_name, {}).get(key) for n in names]
            ratio = ""
            if len(values) == 2 and all(isinstance(v, (int, float)) and v for v in values):
                ratio = f"  {values[0] / values[1]:.2f}x"
            lines.append(f"  {label:28}" + "".join(f"{'-' if v is None else v:>{width}}" for v in values) + ratio)
        for n in names:
            found = runs[n]["scenarios"].get(scenario_name, {})
            lines.append(f"  {n}: RSS (MiB) by pods {found.get('operator_rss_mib_at_pods')}; "
                         f"hollow agent {found.get('hollow_agent')}; operator view {found.get('operator_view')}")
    lines.append(READINESS)
    return "\n".join(lines)


READINESS = ("\nReadiness: our operator counts a worker ready once the scheduler lists it (readyReplicas stays 0 "
             "with hollow workers, see 'operator view'); 'all Running' here is every cluster's phase Running and "
             "every worker pod Running with Ready=True, for both operators.")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    local = LocalCluster()
    if not local.is_up():
        sys.exit("the local Kubernetes is not up: dask-k8s-lab local-k8s up (or up --bare for the original)")
    os.environ.update(local.env())
    added = ensure_hollow_node(local)
    operator = (Ours if args.operator == "ours" else Original)(local)
    agent = agent_pid(local)
    await operator.start()
    report: dict[str, Any] = {"operator": operator.name, "scenarios": {}}
    try:
        plan = [(f"{args.clusters} x {args.workers}", args.clusters, args.workers)] if args.clusters else []
        if args.single:
            plan.append((f"1 x {args.single}", 1, args.single))
        for label, clusters, workers in plan:
            print(f"{operator.name}: {label} ...", file=sys.stderr)
            result = await scenario(operator, clusters, workers, args.scale_by, args.timeout, agent,
                                    min(args.one_by_one, clusters) if clusters > 1 else 0)
            report["scenarios"][label] = result
            print(json.dumps(result), file=sys.stderr)
        if getattr(operator, "version", ""):
            report["original_version"] = operator.version
    finally:
        await operator.stop()
        if added and not args.keep_node:
            local.remove_node(HOLLOW_NODE)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=100, help="clusters of the N x M run (0: skip it)")
    parser.add_argument("--workers", type=int, default=20, help="hollow workers per cluster")
    parser.add_argument("--single", type=int, default=1000, help="workers of the one-cluster run (0: skip it)")
    parser.add_argument("--scale-by", type=int, default=2, help="workers added per cluster for the scale latency")
    parser.add_argument("--one-by-one", type=int, default=20,
                        help="clusters then scaled by one more worker one at a time, the others idle")
    parser.add_argument("--operator", choices=("ours", "original"), default="ours")
    parser.add_argument("--timeout", type=float, default=900, help="bound on each wait (s)")
    parser.add_argument("--keep-node", action="store_true", help="leave the hollow node for the next run")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OURS", "ORIGINAL"),
                        help="print the table and ratios of two earlier runs")
    args = parser.parse_args()
    if args.compare:
        loaded = [json.loads(p.read_text()) for p in args.compare]
        names = [r["operator"] for r in loaded]
        if len(set(names)) < len(names):  # two runs of one operator: name them by file
            names = [p.stem for p in args.compare]
        runs = dict(zip(names, loaded))
        print(table(runs))
        return
    report = asyncio.run(run(args))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    print(table({report["operator"]: report}))


if __name__ == "__main__":
    main()
