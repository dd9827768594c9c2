"""Server extension: latency of ``GET /dask-k8s/clusters`` with 50 clusters, served from the cache.

    python bench/server_bench.py [--clusters 50] [--requests 300]

Starts a Jupyter server (subprocess) with the extension on an in-memory backend holding N
DaskClusters (each with its default worker group, an autoscaler on every other one, a scheduler
and two worker pods), then times sequential authenticated requests. Prints, measured in this run:

- ``GET /dask-k8s/clusters`` against ``GET /api/status`` (Jupyter's cheapest authenticated JSON
  endpoint: the floor any handler pays) — target <= 3x;
- when a Kubernetes API is reachable (KUBECONFIG set): the four list calls a cache-less handler
  would make per request (DaskClusters, DaskWorkerGroups, DaskAutoscalers, pods; kr8s, in the
  ``default`` namespace, so a lower bound) against the cached list — higher is better.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server.fake import FakeBackend  # noqa: E402

CLUSTERS = int(os.environ.get("SERVER_BENCH_CLUSTERS", "50"))


class PopulatedBackend(FakeBackend):
    """The fake API server, filled with CLUSTERS DaskClusters in namespace ``bench``."""

    def __init__(self, config=None) -> None:
        super().__init__(config)
        for i in range(CLUSTERS):
            name = f"cluster-{i:03d}"
            worker = {"replicas": 2, "spec": {"containers": [{"name": "worker", "image": "dask/dask:bench"}]}}
            self.put("DaskCluster", {
                "metadata": {"name": name, "namespace": "bench"},
                "spec": {"worker": worker, "scheduler": {}}, "status": {"phase": "Running"},
            })
            self.put("DaskWorkerGroup", {
                "metadata": {"name": f"{name}-default", "namespace": "bench"},
                "spec": {"cluster": name, "worker": worker},
            })
            if i % 2:
                self.put("DaskAutoscaler", {
                    "metadata": {"name": name, "namespace": "bench"},
                    "spec": {"cluster": name, "minimum": 1, "maximum": 5},
                })
            for j in range(2):
                self.add_worker_pod("bench", name, "default", j)


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def timed(fetch, url: str, headers: dict, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = await fetch(url, headers=headers)
        times.append(time.perf_counter() - start)
        assert response.code == 200, (url, response.code)
    return times


async def uncached_lists(n: int) -> list[float] | None:
    if not os.environ.get("KUBECONFIG"):
        return None
    import kr8s.asyncio
    from kr8s.asyncio.objects import Pod

    from dask_k8s_common.resources import DaskAutoscaler, DaskCluster, DaskWorkerGroup

    try:
        api = await kr8s.asyncio.api()
        times = []
        for _ in range(n):
            start = time.perf_counter()
            for cls in (DaskCluster, DaskWorkerGroup, DaskAutoscaler, Pod):
                async with api.async_get_kind(cls, namespace="default") as (_, response):
                    response.json()
            times.append(time.perf_counter() - start)
        return times
    except Exception as e:
        print(f"(no Kubernetes baseline: {e})")
        return None


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(times) * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=CLUSTERS)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    from tornado.httpclient import AsyncHTTPClient

    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "SERVER_BENCH_CLUSTERS": str(args.clusters), "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}"}
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}", "--ServerApp.jpserver_extensions={'dask_k8s_lab.server': True}",
            "--DaskK8sLab.namespaces=bench", "--DaskK8sLab.query_schedulers=False", "--DaskK8sLab.kube_backend_class=server_bench.PopulatedBackend",
            "--log-level=ERROR", "--allow-root",
        ],
        env=env, cwd="/tmp", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    client = AsyncHTTPClient()
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
    try:
        for _ in range(300):
            try:
                response = await client.fetch(f"{base}/dask-k8s/clusters", headers=headers, raise_error=False)
                if response.code == 200:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.1)
        else:
            raise SystemExit(f"server did not start: {server.stderr.read().decode() if server.poll() is not None else ''}")
        import json

        listed = len(json.loads(response.body)["clusters"])
        assert listed == args.clusters, listed
        for url in ("/api/status", "/dask-k8s/clusters"):  # warm up
            await timed(client.fetch, base + url, headers, 20)
        floor = await timed(client.fetch, f"{base}/api/status", headers, args.requests)
        cached = await timed(client.fetch, f"{base}/dask-k8s/clusters", headers, args.requests)
        uncached = await uncached_lists(min(args.requests, 100))
    finally:
        server.terminate()
        server.wait(10)

    print(f"GET /dask-k8s/clusters with {args.clusters} clusters, {args.requests} sequential requests")
    print(f"  baseline GET /api/status           {summary(floor)}")
    print(f"  GET /dask-k8s/clusters (cache)     {summary(cached)}")
    print(f"  ratio cached list / api/status     {statistics.median(cached) / statistics.median(floor):5.2f}x  (target <= 3x)")
    if uncached:
        print(f"  baseline 4 kr8s lists (no cache)   {summary(uncached)}")
        print(f"  ratio uncached lists / cached list {statistics.median(uncached) / statistics.median(cached):5.2f}x  (higher is better)")


if __name__ == "__main__":
    asyncio.run(main())
