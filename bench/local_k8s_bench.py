"""Local Kubernetes: `up` time with cached binaries, pod create-to-Ready, memory, and image pulls.

Prints ratios against baselines measured in the same run:
- `up` against the API server alone becoming ready (what any local control plane must pay);
- pod create-to-Ready against (a) the same command started as a bare process and
  (b) an API round trip (create a ConfigMap and see it come back through a watch).

Image pulls (a Dask version's environment, built with uv) against making an empty virtual
environment: the first pull on a machine (empty wheel cache), a pull whose wheels are cached (the
environment removed), and a pull of an image that is present (policy IfNotPresent and Always).
They run in a throwaway cache, so the machine's own cache is neither used nor changed.

Run as root: python bench/local_k8s_bench.py [--samples N] [--pull-version V] [--pulls-only].
Without --pulls-only it takes the cluster down first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import kr8s.asyncio

from local_k8s.agent import images
from local_k8s.agent.imagestore import ImageStore, base_python, run_uv
from local_k8s.cluster import LocalCluster


def rss_mib(pid: int) -> float:
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total = int(line.split()[1])
    return total / 1024


def bare_process_start() -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(["sleep", "30"])
    while Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")[0] != b"sleep":
        time.sleep(0.0005)
    elapsed = time.perf_counter() - started
    proc.kill()
    proc.wait()
    return elapsed


async def api_round_trip(namespace: str) -> float:
    name = f"rt-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    cm = await kr8s.asyncio.objects.ConfigMap({"metadata": {"name": name, "namespace": namespace}, "data": {"a": "b"}})
    await cm.create()
    async for _, obj in kr8s.asyncio.watch("configmaps", namespace=namespace, field_selector=f"metadata.name={name}"):
        break
    elapsed = time.perf_counter() - started
    await cm.delete()
    return elapsed


async def pod_create_to_ready(namespace: str) -> float:
    name = f"p-{uuid.uuid4().hex[:6]}"
    pod = await kr8s.asyncio.objects.Pod({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "python", "command": ["sleep", "300"]}],
                 "terminationGracePeriodSeconds": 0},
    })
    started = time.perf_counter()
    await pod.create()
    async for _, obj in kr8s.asyncio.watch("pods", namespace=namespace, field_selector=f"metadata.name={name}"):
        if any(c["type"] == "Ready" and c["status"] == "True" for c in obj.raw.get("status", {}).get("conditions", [])):
            break
    elapsed = time.perf_counter() - started
    await pod.delete()
    return elapsed


async def measure(samples: int) -> dict[str, list[float]]:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    ns = await kr8s.asyncio.objects.Namespace({"metadata": {"name": namespace}})
    await ns.create()
    from local_k8s.cluster import wait_for_default_service_account

    await wait_for_default_service_account(namespace)
    results: dict[str, list[float]] = {"pod": [], "api": [], "bare": []}
    for _ in range(samples):
        results["pod"].append(await pod_create_to_ready(namespace))
        results["api"].append(await api_round_trip(namespace))
        results["bare"].append(bare_process_start())
    await ns.delete()
    return results


async def image_pulls(image: str) -> dict[str, float]:
    async def noop(reason: str, message: str, warning: bool) -> None:
        pass

    async def timed(coro) -> float:
        started = time.perf_counter()
        await coro
        return time.perf_counter() - started

    saved = os.environ.get("XDG_CACHE_HOME")
    with tempfile.TemporaryDirectory(prefix="dkl-pull-bench-") as tmp:
        os.environ["XDG_CACHE_HOME"] = tmp  # uv's wheel cache follows the cache root
        try:
            store = ImageStore(Path(tmp) / "images")
            env = images.environment_for(image)
            result = {"empty venv": await timed(run_uv("venv", "--quiet", "--python", base_python(),
                                                       str(Path(tmp) / "empty")))}
            result["first pull"] = await timed(store.pull(image, env))
            shutil.rmtree(store.root)
            result["pull, wheels cached"] = await timed(store.pull(image, env))
            result["present, IfNotPresent"] = await timed(store.ensure(image, "IfNotPresent", noop))
            result["present, Always"] = await timed(store.ensure(image, "Always", noop))
        finally:
            if saved is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = saved
    return result


def print_pulls(image: str) -> None:
    pulls = asyncio.run(image_pulls(image))
    base = pulls.pop("empty venv")
    print(f"image {image}; baseline, an empty virtual environment: {base:.2f} s")
    for name, seconds in pulls.items():
        print(f"  {name}: {seconds:.3f} s ({seconds / base:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="leave the cluster up afterwards")
    parser.add_argument("--pull-version", default="2025.1.0", help="Dask version whose image pulls are timed")
    parser.add_argument("--pulls-only", action="store_true", help="time image pulls only (no cluster)")
    args = parser.parse_args()
    print_pulls(f"ghcr.io/dask/dask:{args.pull_version}")
    if args.pulls_only:
        return
    cluster = LocalCluster()
    cluster.down(quiet=True)
    timings = cluster.up(install_operator=False)
    up_total = sum(v for k, v in timings.items() if not k.startswith("build"))
    os.environ.update(cluster.env())
    results = asyncio.run(measure(args.samples))
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"up (binaries cached): {up_total:.2f} s; kube-apiserver alone: {timings['kube-apiserver']:.2f} s; "
          f"ratio {up_total / timings['kube-apiserver']:.2f}x")
    print(f"pod create-to-Ready, median of {args.samples}: {med['pod'] * 1000:.0f} ms")
    print(f"  vs bare process start ({med['bare'] * 1000:.1f} ms): {med['pod'] / med['bare']:.0f}x")
    print(f"  vs API create+watch round trip ({med['api'] * 1000:.0f} ms): {med['pod'] / med['api']:.1f}x")
    for component, pid_alive in cluster.running_components().items():
        pid = cluster._pid(component)
        if pid_alive and pid:
            print(f"RSS {component}: {rss_mib(pid):.0f} MiB")
    if not args.keep:
        cluster.down(quiet=True)


if __name__ == "__main__":
    main()
