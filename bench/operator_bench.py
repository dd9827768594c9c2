"""Operator: create N DaskClusters at once; time until all are Running with their workers connected.

    python bench/operator_bench.py [--clusters 10] [--workers 1]

Measured in one run, on this machine:
- baseline: the same Dask processes started bare (N `dask scheduler` + N*workers `dask worker`,
  all at once), until every scheduler sees its workers;
- operator: N DaskCluster objects created at once through kr8s, until every cluster reports
  ``phase: Running`` and ``readyReplicas == workers`` (the operator counts a worker ready only
  once the scheduler knows it). Printed as a ratio to the baseline;
- the operator's CPU seconds and kr8s API requests per cluster, read from its /healthz payload
  (the ``stats`` probe) before and after (the after-value includes 10 s of settling, as kopf
  refreshes probes every 10 s). Requests are those made in the bench's namespace; kopf's
  long-lived watch streams are not counted.

Needs the local Kubernetes up with the operator installed (``dask-k8s-lab local-k8s up``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import closing
import socket
from pathlib import Path

import httpx
import kr8s.asyncio
import yaml
from distributed.core import rpc
from kr8s.asyncio.objects import Namespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dask_k8s_common.resources import LABEL_CLUSTER, DaskCluster  # noqa: E402
from local_k8s.cluster import LocalCluster  # noqa: E402

MANIFEST = Path(__file__).resolve().parents[1] / "tests" / "operator" / "manifests" / "cluster.yaml"


def cluster_manifest(name: str, namespace: str, workers: int) -> dict:
    body = yaml.safe_load(MANIFEST.read_text())
    body["metadata"] = {"name": name, "namespace": namespace}
    body["spec"]["worker"]["replicas"] = workers
    service = body["spec"]["scheduler"]["service"]
    service["type"] = "ClusterIP"
    service["selector"][LABEL_CLUSTER] = name
    probe = body["spec"]["scheduler"]["spec"]["containers"][0]["readinessProbe"]
    probe.update(initialDelaySeconds=0, periodSeconds=1)
    return body


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def count_workers(address: str) -> int:
    try:
        async with rpc(address, timeout=2) as scheduler:
            return len((await scheduler.identity())["workers"])
    except Exception:
        return -1


async def bare(clusters: int, workers: int) -> float:
    """Seconds until N bare schedulers each see their workers."""
    procs = []
    addresses = []
    started = time.monotonic()
    try:
        for _ in range(clusters):
            port = free_port()
            address = f"tcp://127.0.0.1:{port}"
            addresses.append(address)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "scheduler", "--port", str(port),
                 "--dashboard-address", ":0"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for _ in range(workers):
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "dask", "worker", address, "--dashboard-address", ":0"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        while True:
            counts = await asyncio.gather(*(count_workers(a) for a in addresses))
            if all(c == workers for c in counts):
                return time.monotonic() - started
            if time.monotonic() - started > 600:
                raise TimeoutError(f"bare processes not ready: {counts}")
            await asyncio.sleep(0.1)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


async def operator_stats() -> dict:
    """The operator's stats probe. kopf recomputes probes at most every 10 s, so wait that long
    since the last read to get a fresh value."""
    await asyncio.sleep(10.5)
    pods = [p async for p in kr8s.asyncio.get(
        "pods", namespace="dask-operator",
        label_selector={"app.kubernetes.io/instance": "dask-k8s-operator"})]
    pods = [p for p in pods if p.status.get("podIP") and not p.metadata.get("deletionTimestamp")]
    if len(pods) != 1:
        raise RuntimeError("expected one operator pod in dask-operator (dask-k8s-lab local-k8s up)")
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://{pods[0].status['podIP']}:8080/healthz", timeout=5)
    return response.json()["stats"]


async def with_operator(clusters: int, workers: int) -> tuple[float, dict]:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    ns = await Namespace({"metadata": {"name": namespace}})
    await ns.create()
    try:
        before = await operator_stats()
        started = time.monotonic()
        objs = [await DaskCluster(cluster_manifest(f"c{i}", namespace, workers))
                for i in range(clusters)]
        await asyncio.gather(*(obj.create() for obj in objs))
        while True:
            ready = 0
            async for cluster in kr8s.asyncio.get("daskclusters", namespace=namespace):
                status = cluster.raw.get("status") or {}
                if status.get("phase") == "Running" and status.get("readyReplicas") == workers:
                    ready += 1
            if ready == clusters:
                elapsed = time.monotonic() - started
                break
            if time.monotonic() - started > 600:
                raise TimeoutError(f"only {ready} of {clusters} clusters ready")
            await asyncio.sleep(0.2)
        after = await operator_stats()
        pod_count = len([p async for p in kr8s.asyncio.get("pods", namespace=namespace)])
        # requests made in the bench's namespace (other users of the cluster are not counted)
        mine = after.get("api_requests_by_namespace", {}).get(namespace, {})
        cost = {
            "by_kind": {k: round(v / clusters, 1) for k, v in sorted(mine.items())},
            "cpu_seconds_per_cluster": (after["cpu_seconds"] - before["cpu_seconds"]) / clusters,
            "api_requests_per_cluster": sum(mine.values()) / clusters,
            "all_namespaces_requests_per_cluster": (
                after["api_requests"] - before["api_requests"]) / clusters,
            "pods": pod_count,
        }
        return elapsed, cost
    finally:
        await ns.delete()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    local = LocalCluster()
    if not local.is_up():
        sys.exit("the local Kubernetes is not up: run `dask-k8s-lab local-k8s up` first")
    os.environ.update(local.env())

    baseline = await bare(args.clusters, args.workers)
    elapsed, cost = await with_operator(args.clusters, args.workers)
    print(json.dumps({
        "clusters": args.clusters,
        "workers_per_cluster": args.workers,
        "bare_processes_ready_s": round(baseline, 2),
        "operator_all_running_s": round(elapsed, 2),
        "ratio_operator_to_bare": round(elapsed / baseline, 2),
        "operator_cpu_s_per_cluster": round(cost["cpu_seconds_per_cluster"], 3),
        "operator_api_requests_per_cluster": round(cost["api_requests_per_cluster"], 1),
        "operator_api_requests_per_cluster_by_kind": cost["by_kind"],
        "operator_api_requests_all_namespaces_per_cluster": round(
            cost["all_namespaces_requests_per_cluster"], 1),
        "note": "CPU seconds cover the whole operator process, including other users' clusters",
    }, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
