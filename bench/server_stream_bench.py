"""Server extension against the local Kubernetes: live-stream latency and memory.

    python bench/server_stream_bench.py [--changes 20]

Needs the local Kubernetes with the operator (``dask-k8s-lab local-k8s up``). Starts a Jupyter
server (subprocess) with the extension watching one fresh namespace, creates a DaskCluster there,
then scales its default worker group N times with ``kubectl``-equivalent patches and times, for
each change, how long until

- a plain kr8s watch on DaskWorkerGroups in this process sees it (the baseline: the API
  server's own delivery), and
- the extension's ``/dask-k8s/stream`` websocket reports the new ``workers_requested``.

Prints both, their ratio, and the RSS of the Jupyter server process (extension loaded, one
watch cache, one stream subscriber) against a plain Jupyter server started the same way.
The issue's target: a scale change reaches the stream within a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from server_bench import free_port  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(namespace: str, extension: bool) -> tuple[subprocess.Popen, str, str]:
    port, token = free_port(), secrets.token_hex(16)
    args = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}", "--log-level=ERROR", "--allow-root"]
    if extension:
        args += ["--ServerApp.jpserver_extensions={'dask_k8s_lab.server': True}",
                 f"--DaskK8sLab.namespaces={namespace}"]
    else:
        args += ["--ServerApp.jpserver_extensions={'dask_k8s_lab.server': False}"]
    server = subprocess.Popen(args, cwd="/tmp", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    return server, f"127.0.0.1:{port}", token


async def wait_http(address: str, token: str, path: str) -> None:
    from tornado.httpclient import AsyncHTTPClient

    client = AsyncHTTPClient()
    for _ in range(600):
        try:
            response = await client.fetch(f"http://{address}{path}", raise_error=False,
                                          headers={"Authorization": f"token {token}"})
            if response.code == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"Jupyter server at {address} did not answer {path}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()

    import kr8s.asyncio
    from kr8s.asyncio.objects import Namespace
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    from dask_k8s_lab import make_cluster_spec
    from dask_k8s_common.resources import DaskCluster, DaskWorkerGroup

    api = await kr8s.asyncio.api()
    namespace = f"bench-stream-{uuid.uuid4().hex[:6]}"
    ns = await Namespace({"metadata": {"name": namespace}}, api=api)
    await ns.create()
    plain, plain_address, plain_token = start_server(namespace, extension=False)
    server, address, token = start_server(namespace, extension=True)
    try:
        await wait_http(plain_address, plain_token, "/api/status")
        await wait_http(address, token, "/dask-k8s/clusters")
        spec = make_cluster_spec(name="stream", n_workers=0)
        # worker pods that never fit the node: scaling creates and deletes pod objects, not processes
        spec["spec"]["worker"]["spec"]["containers"][0]["resources"] = {"requests": {"memory": "100Ti"}}
        cluster = await DaskCluster(spec, namespace=namespace, api=api)
        await cluster.create()
        group_name = "stream-default"

        ws = await websocket_connect(HTTPRequest(f"ws://{address}/dask-k8s/stream",
                                                 headers={"Authorization": f"token {token}"}))
        assert json.loads(await ws.read_message())["type"] == "snapshot"

        seen_by_watch: dict[int, float] = {}
        seen_by_stream: dict[int, float] = {}

        async def follow_watch() -> None:
            async for _event, obj in api.async_watch(DaskWorkerGroup, namespace=namespace):
                if obj.name == group_name:
                    seen_by_watch.setdefault(obj.raw["spec"]["worker"].get("replicas", 0), time.perf_counter())

        async def follow_stream() -> None:
            while (text := await ws.read_message()) is not None:
                message = json.loads(text)
                if message.get("type") == "updated" and message["cluster"]["name"] == "stream":
                    seen_by_stream.setdefault(message["cluster"]["workers_requested"], time.perf_counter())

        followers = [asyncio.ensure_future(follow_watch()), asyncio.ensure_future(follow_stream())]
        # wait until the operator made the default group and the stream reported the cluster
        deadline = time.monotonic() + 60
        while not (0 in seen_by_stream and 0 in seen_by_watch):
            if time.monotonic() > deadline:
                raise SystemExit("the default worker group never appeared")
            await asyncio.sleep(0.05)
        group = await DaskWorkerGroup.get(group_name, namespace=namespace, api=api)

        watch_lat, stream_lat = [], []
        for change in range(args.changes):
            target = 1 + change % 2
            seen_by_stream.pop(target, None)
            seen_by_watch.pop(target, None)
            sent = time.perf_counter()
            await group.patch({"spec": {"worker": {"replicas": target}}})
            while not (target in seen_by_stream and target in seen_by_watch):
                if time.perf_counter() - sent > 30:
                    raise SystemExit(f"change to {target} not seen within 30 s")
                await asyncio.sleep(0.002)
            watch_lat.append(seen_by_watch[target] - sent)
            stream_lat.append(seen_by_stream[target] - sent)
            await asyncio.sleep(0.3)
        await group.patch({"spec": {"worker": {"replicas": 0}}})
        server_rss, plain_rss = rss_mib(server.pid), rss_mib(plain.pid)
        for task in followers:
            task.cancel()
        ws.close()
    finally:
        for process in (server, plain):
            process.terminate()
            process.wait(10)
        await ns.delete()

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"

    print(f"scale change -> seen, {args.changes} changes (patch sent to message received)")
    print(f"  baseline kr8s watch (same process)   {ms(watch_lat)}")
    print(f"  /dask-k8s/stream websocket           {ms(stream_lat)}   (target: within 1 s)")
    print(f"  ratio stream / watch                 {statistics.median(stream_lat) / statistics.median(watch_lat):5.2f}x")
    print(f"RSS Jupyter server with the extension  {server_rss:6.0f} MiB")
    print(f"RSS plain Jupyter server (baseline)    {plain_rss:6.0f} MiB   (extension adds {server_rss - plain_rss:.0f} MiB)")


if __name__ == "__main__":
    asyncio.run(main())
