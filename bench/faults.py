"""Fault suite: the operator and the server extension through the faults a real cluster has.

    python bench/faults.py [--kills 20] [--apiserver-restarts 3] [--log-mib 1024] [--seed 1]
                           [--only kills,scheduler,apiserver,proxy-restart,expiry,logs]

Needs the local Kubernetes up with the operator (``dask-k8s-lab local-k8s up``). Runs, in a
fresh namespace, and prints one table:

- kills: the operator pod force-deleted (its process SIGKILLed, no grace) at ``--kills`` random
  points (0-3 s) into a create, a scale-up, a scale-down or a delete of a small DaskCluster
  (1-2 workers); each run must converge: one scheduler pod, a Service, ready workers equal to the
  replicas, nothing left of deleted clusters. The scale-downs carry 40 keys held by the workers
  (a Dask client on the scheduler's ClusterIP) that must survive: the scheduler could retire;
- scheduler: the scheduler pod force-deleted during a scale-down from 2 to 1 worker: the cluster
  must converge again (keys are lost with the scheduler, so none are counted);
- apiserver: the real kube-apiserver restarted (``local-k8s restart apiserver``: SIGTERM, the
  same command line started again; under ``flock /tmp/dkl-restart.lock``, the lock the
  local-Kubernetes tools take) ``--apiserver-restarts`` times while the operator and an in-process
  server extension watch, each followed at once by a scale of a DaskCluster from 1 to 2 workers;
  recovery = from /readyz answering until (a) the operator has created the new worker pod and
  (b) the server extension's cluster list shows 2 workers requested (target <= 10 s; the same
  scale without a fault, in the same run, is the baseline);
- proxy-restart: the same recovery with the restart played by the proxy below (streams cut,
  connections refused for 5 s), three times, for the server extension's informers and the
  operator's cache in this process (leaves the shared API server alone);
- expiry: one watch answered with 410 Gone (tests/fixtures/apiproxy.py in front of the API
  server): lists made by the server extension's informer and the operator's cache afterwards
  (one each is right; the proxy refuses that version for good, so where a list returns it again
  each follower backs off, 1 s doubling up to the watch timeout; a loop would show many);
- logs: the server extension's logs read (100 000 lines, the REST API's most) of a pod whose log is ``--log-mib`` MiB in
  64 KiB lines: this process's RSS growth.

For every run: converged or not, seconds to converge, duplicate pods (more scheduler pods than
one, or worker pods than replicas, at convergence) and orphan pods (pods of a cluster that no
longer exists, 10 s after convergence).

Measured once on the 2-core development machine (seconds include the operator pod's restart):
20 operator kills (5 each of create/scale-up/scale-down/delete) and the scheduler kill all
converged, 0 duplicate and 0 orphan pods, 0 of 200 keys lost on the 5 scale-downs; a 410 led to
one list per watcher; reading a 1 GiB log grew the RSS by 0.7 MiB; after a proxy-played restart
the informer and the operator cache saw a new cluster 2.7-2.9 s after the API answered again
(0.18 s without a fault). Three real API server restarts (away 6.9-9.0 s: ~1 s to exit, ~2 s
to serve, the rest until /readyz), each followed by a scale 1 -> 2: the operator made the new
worker pod 2.0-3.9 s after /readyz (0.71 s without a fault), the server extension's list showed
2 workers requested after 1.5-3.3 s (0.45 s without a fault).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import kr8s.asyncio
from kr8s.asyncio.objects import Namespace, Pod, Service

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dask_k8s_common import watching  # noqa: E402
from dask_k8s_common.contract import COMPONENT_WORKER  # noqa: E402
from dask_k8s_common.resources import LABEL_CLUSTER, LABEL_COMPONENT, DaskCluster  # noqa: E402
from operator_bench import cluster_manifest  # noqa: E402  (bench/ is the script's folder)

OPERATOR_NAMESPACE = "dask-operator"
OPERATOR_SELECTOR = {"app.kubernetes.io/instance": "dask-k8s-operator"}
CONVERGE_WITHIN = 240.0
RESTART_LOCK = "/tmp/dkl-restart.lock"


@dataclass
class Run:
    scenario: str
    action: str
    converged: bool = False
    seconds: float = float("nan")
    duplicates: int = 0
    orphans: int = 0
    keys_lost: int | None = None
    note: str = ""


@dataclass
class Report:
    runs: list[Run] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


async def pods_of(namespace: str) -> list[dict]:
    return [p.raw async for p in kr8s.asyncio.get("pods", namespace=namespace, label_selector=LABEL_CLUSTER)
            if not p.metadata.get("deletionTimestamp")]


async def clusters_in(namespace: str) -> dict[str, dict]:
    return {c.name: c.raw async for c in kr8s.asyncio.get("daskclusters", namespace=namespace)
            if not c.metadata.get("deletionTimestamp")}


async def assess(namespace: str) -> tuple[bool, int, int]:
    """(converged, duplicate pods, orphan pods) of every DaskCluster in the namespace now."""
    clusters = await clusters_in(namespace)
    pods = await pods_of(namespace)
    services = {s.name async for s in kr8s.asyncio.get("services", namespace=namespace)}
    converged, duplicates = True, 0
    orphans = sum(1 for p in pods if p["metadata"]["labels"][LABEL_CLUSTER] not in clusters)
    for name, body in clusters.items():
        mine = [p for p in pods if p["metadata"]["labels"][LABEL_CLUSTER] == name]
        schedulers = [p for p in mine if p["metadata"]["labels"].get(LABEL_COMPONENT) == "scheduler"]
        workers = [p for p in mine if p["metadata"]["labels"].get(LABEL_COMPONENT) == "worker"]
        want = body["spec"]["worker"]["replicas"]
        duplicates += max(0, len(schedulers) - 1) + max(0, len(workers) - want)
        status = body.get("status") or {}
        converged &= (len(schedulers) == 1 and all(ready(p) for p in schedulers)
                      and f"{name}-scheduler" in services
                      and len(workers) == want and all(ready(p) for p in workers)
                      and status.get("phase") == "Running" and status.get("readyReplicas") == want)
    return converged and orphans == 0, duplicates, orphans


async def converge(run: Run, namespace: str, started: float) -> None:
    while time.monotonic() - started < CONVERGE_WITHIN:
        done, run.duplicates, run.orphans = await assess(namespace)
        if done:
            run.converged, run.seconds = True, time.monotonic() - started
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(10)  # anything made late by a confused operator shows up by now
    _, late_duplicates, run.orphans = await assess(namespace)
    run.duplicates = max(run.duplicates, late_duplicates)


async def operator_pod() -> Pod | None:
    pods = [p async for p in kr8s.asyncio.get("pods", namespace=OPERATOR_NAMESPACE, label_selector=OPERATOR_SELECTOR)
            if not p.metadata.get("deletionTimestamp")]
    return pods[0] if pods else None


async def kill_operator() -> None:
    """Force-delete the operator's pod: its process gets SIGKILL at once, no grace, and the
    Deployment starts a new one (a SIGKILL of the process alone would meet the restart back-off)."""
    pod = await operator_pod()
    if pod is not None:
        await pod.delete(force=True)


async def wait_operator() -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pod = await operator_pod()
        if pod is not None and ready(pod.raw):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError("the operator did not come back")


async def scheduler_address(namespace: str, cluster: str) -> str:
    service = await Service.get(f"{cluster}-scheduler", namespace=namespace)
    port = next(p["port"] for p in service.spec["ports"] if p["name"] == "tcp-comm")
    return f"tcp://{service.spec['clusterIP']}:{port}"


async def hold_keys(namespace: str, cluster: str, n: int = 40):
    """A client with ``n`` small results held by the cluster's workers."""
    from distributed import Client

    client = await Client(await scheduler_address(namespace, cluster), asynchronous=True, timeout=30)
    futures = client.map(lambda i: i * i, range(n), pure=False)
    await client.gather(futures)
    return client, futures


async def keys_lost(client, futures) -> int:
    lost = 0
    for future in futures:
        try:
            await asyncio.wait_for(future.result(), 30)
        except Exception:
            lost += 1
    return lost


async def scale(namespace: str, name: str, workers: int) -> None:
    cluster = await DaskCluster.get(name, namespace=namespace)
    await cluster.patch({"spec": {"worker": {"replicas": workers}}})


async def kills(report: Report, namespace: str, count: int, rng: random.Random) -> None:
    """Cycles of create (1 worker) -> scale up (2) -> scale down (1, keys held) -> delete, the
    operator killed a random 0-3 s into each action, until ``count`` kills."""
    done = 0
    cycle = 0
    while done < count:
        name = f"k{cycle}"
        cycle += 1
        for action in ("create", "scale-up", "scale-down", "delete"):
            if done >= count:
                break
            run = Run("operator SIGKILL", action)
            client = futures = None
            if action == "scale-down":
                try:
                    client, futures = await hold_keys(namespace, name)
                except Exception as e:  # noqa: BLE001  (reported, the run still counts)
                    run.note = f"no client: {watching.describe(e)}"
            started = time.monotonic()
            if action == "create":
                await (await DaskCluster(cluster_manifest(name, namespace, 1))).create()
            elif action == "scale-up":
                await scale(namespace, name, 2)
            elif action == "scale-down":
                await scale(namespace, name, 1)
            else:
                await (await DaskCluster.get(name, namespace=namespace)).delete()
            await asyncio.sleep(rng.uniform(0, 3))
            await kill_operator()
            done += 1
            await converge(run, namespace, started)
            if client is not None:
                run.keys_lost = await keys_lost(client, futures)
                await client.close()
            report.runs.append(run)
            print(f"  {run}", flush=True)
            await wait_operator()


async def scheduler_killed(report: Report, namespace: str) -> None:
    run = Run("scheduler killed", "scale-down 2->1")
    await (await DaskCluster(cluster_manifest("s0", namespace, 2))).create()
    await converge(Run("", ""), namespace, time.monotonic())
    started = time.monotonic()
    await scale(namespace, "s0", 1)
    await (await Pod.get("s0-scheduler", namespace=namespace)).delete(force=True)
    await converge(run, namespace, started)
    report.runs.append(run)
    print(f"  {run}", flush=True)
    await (await DaskCluster.get("s0", namespace=namespace)).delete()


class Watcher:
    """The server extension's service and kr8s backend, in this process, on one namespace."""

    def __init__(self, namespace: str, kubeconfig: str | None = None) -> None:
        from dask_k8s_lab.server.config import DaskK8sLab
        from dask_k8s_lab.server.kube import Kr8sBackend
        from dask_k8s_lab.server.service import ClusterService

        config = DaskK8sLab(namespaces=[namespace], request_timeout=5.0, watch_timeout=30.0,
                            **({"kubeconfig": kubeconfig} if kubeconfig else {}))
        self.backend = Kr8sBackend(config)
        self.service = ClusterService(config, self.backend)

    async def __aenter__(self) -> Watcher:
        await self.service.start()
        await self.service.ready(30)
        return self

    async def __aexit__(self, *_) -> None:
        await self.service.close()

    def sees(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.service.store.models

    def requested(self, namespace: str, name: str) -> int | None:
        return (self.service.store.models.get((namespace, name)) or {}).get("workers_requested")

    def ready_workers(self, namespace: str, name: str) -> int | None:
        return (self.service.store.models.get((namespace, name)) or {}).get("workers_ready")


async def worker_pods(namespace: str, name: str) -> int:
    selector = {LABEL_CLUSTER: name, LABEL_COMPONENT: COMPONENT_WORKER}
    return len([p async for p in kr8s.asyncio.get("pods", namespace=namespace, label_selector=selector)
                if not p.metadata.get("deletionTimestamp")])


async def restart_apiserver() -> tuple[float, float]:
    """The real kube-apiserver restarted (``local-k8s restart apiserver``) under the lock the
    local-Kubernetes tools take; returns (seconds it was away, monotonic time /readyz answered)."""
    from local_k8s.cluster import LocalCluster

    with open(RESTART_LOCK, "a") as lock:
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        try:
            down = await asyncio.to_thread(LocalCluster().restart_apiserver)
            return down, time.monotonic()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def scale_seen(watcher: Watcher, namespace: str, name: str, workers: int, since: float) -> tuple[float, float]:
    """Scale to ``workers`` (retried while the API settles); seconds from ``since`` until (the
    operator has created the worker pods, the server extension's list shows them requested)."""
    deadline = since + 120
    while True:
        try:
            await scale(namespace, name, workers)
            break
        except Exception:  # connections of the old API server: retried until the deadline
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
    made = listed = None
    while made is None or listed is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"scale of {name} to {workers}: pods {made}, list {listed}")
        if listed is None and watcher.requested(namespace, name) == workers:
            listed = time.monotonic() - since
        if made is None:
            with contextlib.suppress(Exception):
                if await worker_pods(namespace, name) >= workers:
                    made = time.monotonic() - since
        await asyncio.sleep(0.05)
    return made, listed


async def settle(watcher: Watcher, namespace: str, name: str, workers: int) -> None:
    """Until the cluster runs exactly ``workers`` ready workers, as the server's list shows it."""
    deadline = time.monotonic() + CONVERGE_WITHIN
    while not (watcher.ready_workers(namespace, name) == workers and await worker_pods(namespace, name) == workers):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} did not settle at {workers} workers")
        await asyncio.sleep(0.2)


async def apiserver_restart(report: Report, namespace: str, restarts: int) -> None:
    """The real API server restarted, then the cluster scaled 1 -> 2 at once: recovery is from
    /readyz answering until the operator has made the new worker pod (its watches are back) and
    until the server extension's list shows 2 workers requested; baseline: the same scale
    without a fault, in the same run."""
    name = "ar"
    await (await DaskCluster(cluster_manifest(name, namespace, 1))).create()
    async with Watcher(namespace) as watcher:
        await settle(watcher, namespace, name, 1)
        base_made, base_listed = await scale_seen(watcher, namespace, name, 2, time.monotonic())
        report.lines.append(f"scale 1->2 without a fault: operator pods {base_made:.2f} s, "
                            f"server list {base_listed:.2f} s")
        for i in range(restarts):
            await scale(namespace, name, 1)
            await settle(watcher, namespace, name, 1)
            down, back = await restart_apiserver()
            pods = Run("apiserver restart", "scale 1->2: operator made the pod")
            listed = Run("apiserver restart", "scale 1->2: server list shows it")
            try:
                made_s, listed_s = await scale_seen(watcher, namespace, name, 2, back)
            except TimeoutError as e:
                pods.note = listed.note = str(e)
            else:
                pods.converged, pods.seconds = made_s <= 10, made_s
                listed.converged, listed.seconds = listed_s <= 10, listed_s
                pods.note = f"{made_s:.2f} s after /readyz ({made_s / base_made:.1f}x baseline); API away {down:.1f} s"
                listed.note = f"{listed_s:.2f} s after /readyz ({listed_s / base_listed:.1f}x baseline)"
            report.runs += [pods, listed]
            print(f"  restart {i + 1}: API away {down:.1f} s; {pods}; {listed}", flush=True)
    await (await DaskCluster.get(name, namespace=namespace)).delete()


async def proxy_restart(report: Report, namespace: str, down_for: float) -> None:
    """The same recovery, with the restart played by the proxy of tests/fixtures/apiproxy.py in
    front of the API server (open streams cut, connections refused for ``down_for`` s), for the
    server extension's informers and the operator's cache in this process: it leaves the shared
    API server alone, so it can run any number of times."""
    from dask_k8s_operator import store

    async with _followers(namespace, watch_timeout=30.0) as (proxy, watcher):
        async def seen_by_both(name: str) -> float:
            started = time.monotonic()
            await (await DaskCluster(cluster_manifest(name, namespace, 0))).create()
            while not (watcher.sees(namespace, name) and store.get("daskclusters", namespace, name)):
                if time.monotonic() - started > 120:
                    raise TimeoutError(f"{name} not seen")
                await asyncio.sleep(0.02)
            return time.monotonic() - started

        async with watcher:
            while not store.fresh("daskclusters", namespace):
                await asyncio.sleep(0.1)
            base = statistics.median([await seen_by_both(f"pbase{i}") for i in range(3)])
            for i in range(3):
                run = Run("apiserver restart (proxy)", f"{down_for:g} s outage")
                await proxy.restart(down_for)
                try:
                    took = await seen_by_both(f"prestart{i}")
                except TimeoutError as e:
                    run.note = str(e)
                else:
                    run.converged, run.seconds = True, took
                    run.note = (f"server informer and operator cache see a new cluster {took:.2f} s after the "
                                f"API answers again ({took / base:.0f}x the {base:.2f} s without a fault)")
                report.runs.append(run)
                print(f"  {run}", flush=True)


async def expiry(report: Report, namespace: str) -> None:
    run = Run("watch 410", "server informer + operator cache")
    async with _followers(namespace, watch_timeout=3.0) as (proxy, watcher):
        async with watcher:
            path = f"/namespaces/{namespace}/daskclusters"
            lists = lambda: proxy.count(lambda s: s.path.endswith(path) and not s.watch)  # noqa: E731
            watches = lambda: proxy.count(lambda s: s.path.endswith(path) and s.watch)  # noqa: E731
            while lists() < 2:  # both followers listed once
                await asyncio.sleep(0.1)
            before_lists, before_watches = lists(), watches()
            expired: set[str] = set()

            def expire(seen) -> bool:
                if not seen.path.endswith(path):
                    return False
                if len(expired) < 2:  # the next watch of each follower, at its version
                    expired.add(seen.query.get("resourceVersion", ""))
                return seen.query.get("resourceVersion", "") in expired

            proxy.expire = expire
            started = time.monotonic()
            while watches() < before_watches + 4 and time.monotonic() - started < 60:
                await asyncio.sleep(0.1)
            await asyncio.sleep(5)  # a relist loop would pile up lists by now
            relists = lists() - before_lists
            run.seconds = time.monotonic() - started
            # The proxy refuses the expired version for good, and an idle namespace lists at that
            # same version again: each follower then lists again after each back-off pause.
            allowed = 2 * lists_allowed(run.seconds, watch_timeout=3.0)
            run.converged = relists <= allowed
            run.note = (f"{len(expired)} watches expired; lists afterwards: {relists} (2 = one each; at most "
                        f"{allowed} with the back-off while the list stays at the expired version)")
    report.runs.append(run)
    print(f"  {run}", flush=True)


def lists_allowed(seconds: float, watch_timeout: float) -> int:
    """Lists one follower makes in ``seconds`` after an expiry when every list returns the
    expired version again: one at once, then one after each pause of the back-off."""
    backoff, lists, spent = watching.ExpiryBackoff(limit=watch_timeout), 1, 0.0
    while True:
        backoff.expired_at("stuck")
        spent += backoff.pause("stuck")
        if spent > seconds:
            return lists
        lists += 1


@contextlib.asynccontextmanager
async def _followers(namespace: str, watch_timeout: float):
    """The server extension's informer (a Watcher, entered by the caller) and the operator's
    cache of DaskClusters (running), both through the fault proxy of tests/fixtures/apiproxy.py."""
    from dask_k8s_operator import handlers, store
    from tests.fixtures.apiproxy import api_proxy

    async with api_proxy() as proxy:
        with tempfile.TemporaryDirectory() as tmp:
            kubeconfig = proxy.kubeconfig(Path(tmp), namespace)
            timeouts = watching.Timeouts(request=5.0, watch=watch_timeout)
            client = await watching.connect(lambda: kr8s.asyncio.api(kubeconfig=kubeconfig), timeouts)

            async def same():
                return client

            kind, selector = handlers.CACHED["daskclusters"]
            follower = asyncio.ensure_future(store.follow(same, "daskclusters", kind, namespace,
                                                          selector, timeouts, lambda *_: None))
            watcher = Watcher(namespace, kubeconfig)
            watcher.backend.timeouts = timeouts
            try:
                yield proxy, watcher
            finally:
                follower.cancel()


async def huge_log(report: Report, namespace: str, mib: int) -> None:
    from dask_k8s_lab.server.config import DaskK8sLab
    from dask_k8s_lab.server.kube import Kr8sBackend

    from tests.server.test_bounded_reads import chatty_pod

    run = Run("log read", f"{mib} MiB in 64 KiB lines")
    pod = await Pod(chatty_pod("chatty", mib), namespace=namespace)
    await pod.create()
    backend = Kr8sBackend(DaskK8sLab(namespaces=[namespace], request_timeout=300))  # the local agent cuts slowly
    started = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            if (await backend.pod_logs(namespace, "chatty", None, 1)).strip() == "done":
                break
        if time.monotonic() - started > 300:
            raise TimeoutError("the log was not written")
        await asyncio.sleep(2)
    before = rss()
    read_started = time.monotonic()
    text = await backend.pod_logs(namespace, "chatty", None, 100_000)  # the most lines the REST API allows
    run.seconds = time.monotonic() - read_started
    grown = rss() - before
    run.converged = grown < 50 * 2**20
    run.note = f"RSS growth {grown / 2**20:.1f} MiB, {len(text)} characters returned"
    await backend.close()
    await pod.delete(force=True)
    report.runs.append(run)
    print(f"  {run}", flush=True)


def rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def table(report: Report) -> str:
    rows = ["| scenario | action | runs | converged | median s | max s | duplicate pods | orphan pods | keys lost |",
            "|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in report.runs:
        groups.setdefault((run.scenario, run.action), []).append(run)
    for (scenario, action), runs in groups.items():
        times = [r.seconds for r in runs if r.converged]
        keys = [r.keys_lost for r in runs if r.keys_lost is not None]
        median, longest = (f"{statistics.median(times):.1f}", f"{max(times):.1f}") if times else ("-", "-")
        rows.append(f"| {scenario} | {action} | {len(runs)} | {sum(r.converged for r in runs)} | {median} | "
                    f"{longest} | {sum(r.duplicates for r in runs)} | {sum(r.orphans for r in runs)} | "
                    f"{sum(keys) if keys else '-'} |")
    notes = [f"- {r.scenario} / {r.action}: {r.note}" for r in report.runs if r.note]
    return "\n".join([*rows, "", *report.lines, *notes])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--apiserver-restarts", type=int, default=3, choices=(0, 1, 2, 3))
    parser.add_argument("--log-mib", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default="kills,scheduler,apiserver,proxy-restart,expiry,logs")
    args = parser.parse_args()
    only = set(args.only.split(","))
    rng = random.Random(args.seed)
    report = Report()
    namespace = f"faults-{uuid.uuid4().hex[:6]}"
    await (await Namespace({"metadata": {"name": namespace}})).create()
    try:
        if "expiry" in only:
            print("watch expiry", flush=True)
            await expiry(report, namespace)
        if "logs" in only:
            print("huge log", flush=True)
            await huge_log(report, namespace, args.log_mib)
        if "kills" in only:
            print(f"operator kills ({args.kills})", flush=True)
            await kills(report, namespace, args.kills, rng)
        if "scheduler" in only:
            print("scheduler killed during a scale-down", flush=True)
            await scheduler_killed(report, namespace)
        if "proxy-restart" in only:
            print("API server restarts played by a proxy", flush=True)
            await proxy_restart(report, namespace, 5.0)
        if "apiserver" in only and args.apiserver_restarts:
            print(f"kube-apiserver restarts ({args.apiserver_restarts})", flush=True)
            await apiserver_restart(report, namespace, args.apiserver_restarts)
    finally:
        print(table(report), flush=True)
        with contextlib.suppress(Exception):
            await (await Namespace.get(namespace)).delete()


if __name__ == "__main__":
    asyncio.run(main())
