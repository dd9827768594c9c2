"""KubeCluster create-to-ready and scale time, against the same Dask processes started bare.

    python bench/kubecluster_bench.py [--repeat 3] [--namespace NS] [--start-operator]

Measured in one run, on this machine:
- baseline: `dask scheduler` + 2 `dask worker` local processes, until a client sees 2 workers;
- KubeCluster(n_workers=2) until 2 workers are connected (create-to-ready), printed as a ratio
  to the baseline (target <= 1.15x, median);
- scale 2 -> 8 until 8 workers are connected, with its baseline (6 more bare workers).

Needs the local Kubernetes up (KUBECONFIG set, e.g. `eval "$(dask-k8s-lab local-k8s env)"`) and
an operator watching the namespace (`--start-operator` runs one for the bench's namespace).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack, closing

from distributed import Client


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dask_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dask", *args]


def bare_run(n_workers: int, extra_workers: int) -> tuple[float, float]:
    """(start-to-ready, add-extra-workers) seconds for bare local processes."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []

    def spawn(args: list[str]) -> None:
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def worker() -> None:
        spawn(dask_cmd("worker", address, "--dashboard-address", ":0", "--nworkers", "1"))

    try:
        start = time.perf_counter()
        spawn(dask_cmd("scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"))
        for _ in range(n_workers):
            worker()
        with Client(address, timeout=60) as client:
            client.wait_for_workers(n_workers, timeout=120)
            ready = time.perf_counter() - start
            start = time.perf_counter()
            for _ in range(extra_workers):
                worker()
            client.wait_for_workers(n_workers + extra_workers, timeout=180)
            scaled = time.perf_counter() - start
        return ready, scaled
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def kube_run(namespace: str, n_workers: int, scale_to: int) -> tuple[float, float, float]:
    """(create-to-scheduler, create-to-ready, scale) seconds for KubeCluster."""
    from dask_k8s_lab import KubeCluster

    start = time.perf_counter()
    cluster = KubeCluster(name=f"bench-{uuid.uuid4().hex[:6]}", namespace=namespace, n_workers=n_workers, quiet=True)
    try:
        scheduler = time.perf_counter() - start
        cluster.wait_for_workers(n_workers, timeout=180)
        ready = time.perf_counter() - start
        start = time.perf_counter()
        cluster.scale(scale_to)
        cluster.wait_for_workers(scale_to, timeout=300)
        scaled = time.perf_counter() - start
    finally:
        cluster.close()
    return scheduler, ready, scaled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs of each first")
    parser.add_argument("--namespace", default=None, help="existing namespace (default: a fresh one)")
    parser.add_argument("--start-operator", action="store_true", help="run an operator for the namespace")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scale-to", type=int, default=8)
    args = parser.parse_args()

    import kr8s

    namespace = args.namespace or f"bench-{uuid.uuid4().hex[:6]}"
    with ExitStack() as stack:
        if args.namespace is None:
            ns = kr8s.objects.Namespace({"metadata": {"name": namespace}})
            ns.create()
            stack.callback(ns.delete)
            deadline = time.monotonic() + 30
            while not list(kr8s.get("serviceaccounts", "default", namespace=namespace)):
                if time.monotonic() > deadline:
                    raise SystemExit(f"namespace {namespace} has no default ServiceAccount")
                time.sleep(0.2)
        if args.start_operator:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dask_k8s_operator", "--namespace", namespace],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=os.environ.copy(),
            )
            stack.callback(proc.wait, 15)
            stack.callback(proc.terminate)
            time.sleep(2)

        for _ in range(args.warmup):
            bare_run(args.workers, 0)
            kube_run(namespace, args.workers, args.workers + 1)
        bare, kube = [], []
        for i in range(args.repeat):
            bare.append(bare_run(args.workers, args.scale_to - args.workers))
            kube.append(kube_run(namespace, args.workers, args.scale_to))
            print(
                f"run {i + 1}: bare ready {bare[-1][0]:.2f}s, +{args.scale_to - args.workers} workers {bare[-1][1]:.2f}s | "
                f"KubeCluster scheduler {kube[-1][0]:.2f}s, ready {kube[-1][1]:.2f}s, "
                f"scale {args.workers}->{args.scale_to} {kube[-1][2]:.2f}s",
                flush=True,
            )

    med = statistics.median
    bare_ready, bare_scale = med(b[0] for b in bare), med(b[1] for b in bare)
    kube_sched, kube_ready, kube_scale = med(k[0] for k in kube), med(k[1] for k in kube), med(k[2] for k in kube)
    print(f"\nmedian of {args.repeat} runs")
    print(f"  bare processes: {args.workers} workers ready in {bare_ready:.2f}s; +{args.scale_to - args.workers} workers in {bare_scale:.2f}s")
    print(f"  KubeCluster:    scheduler reachable in {kube_sched:.2f}s; {args.workers} workers ready in {kube_ready:.2f}s; scale {args.workers}->{args.scale_to} in {kube_scale:.2f}s")
    best = min(k[1] for k in kube) / min(b[0] for b in bare)
    print(f"  create-to-ready ratio (KubeCluster / bare): {kube_ready / bare_ready:.2f}x median, {best:.2f}x best-of  (target <= 1.15x median)")
    # each KubeCluster run is paired with the bare run just before it, which cancels slow drifts
    # in the machine's load
    paired = med(k[1] / b[0] for k, b in zip(kube, bare))
    print(f"  create-to-ready ratio, paired runs:         {paired:.2f}x median")
    print(f"  scale ratio (KubeCluster / bare):           {kube_scale / bare_scale:.2f}x median")


if __name__ == "__main__":
    main()
