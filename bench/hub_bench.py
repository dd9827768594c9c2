"""JupyterHub on the local Kubernetes: how long users wait, one user alone and N at once.

    python bench/hub_bench.py [--users 5]

Starts the local hub (deploy/local-hub) in a namespace of its own, then, for one user and then
N users at the same time, measures per user through the hub's and the extension's REST APIs
(what the browser waits for, without the browser):

- **start**: "Start server" until the server's ``GET /dask-k8s/clusters`` answers (the sidebar
  lists clusters);
- **create**: ``POST /dask-k8s/clusters`` (no workers) until the cluster reports Running.

Prints the median of each for N users as a ratio to the single user of the same run.
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
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "dk8s-hub-bench"
TIMEOUT = 600.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kubectl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=120)


async def until(what: str, check, interval: float = 0.5):
    deadline = time.monotonic() + TIMEOUT
    while not (value := await check()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(interval)
    return value


async def one_user(hub: httpx.AsyncClient, user: str) -> tuple[float, float]:
    started = time.monotonic()
    response = await hub.post(f"/hub/api/users/{user}/server")
    assert response.status_code in (201, 202), response.text

    async def lists() -> bool:
        try:
            return (await hub.get(f"/user/{user}/dask-k8s/clusters")).status_code == 200
        except httpx.HTTPError:
            return False

    await until(f"{user}'s server", lists)
    listed = time.monotonic()
    response = await hub.post(f"/user/{user}/dask-k8s/clusters", json={"name": f"{user}-c", "n_workers": 0})
    assert response.status_code == 201, response.text

    async def running() -> bool:
        reply = await hub.get(f"/user/{user}/dask-k8s/clusters/{NAMESPACE}/{user}-c")
        return reply.status_code == 200 and reply.json()["phase"] == "Running"

    await until(f"{user}'s cluster", running)
    return listed - started, time.monotonic() - listed


async def rounds(url: str, token: str, users: int) -> dict[int, list[tuple[float, float]]]:
    results = {}
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"token {token}"}, timeout=60) as hub:
        for n in (1, users):
            names = [f"r{n}u{i}" for i in range(n)]
            results[n] = await asyncio.gather(*(one_user(hub, name) for name in names))
            for name in names:
                await hub.delete(f"/hub/api/users/{name}/server")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=5)
    users = parser.parse_args().users
    kubectl("create", "namespace", NAMESPACE)
    kubectl("apply", "-n", NAMESPACE, "-f", str(ROOT / "deploy" / "jupyterhub" / "rbac.yaml"))
    token, port = secrets.token_hex(16), free_port()
    env = {
        **os.environ, "DK8S_HUB_STATE": tempfile.mkdtemp(prefix="dk8s-hub-bench-"), "DK8S_HUB_NAMESPACE": NAMESPACE,
        "DK8S_HUB_USERS": ",".join(f"r{n}u{i}" for n in (1, users) for i in range(n)),
        "DK8S_HUB_PASSWORD": secrets.token_urlsafe(12), "DK8S_HUB_SERVICE_TOKEN": token, "DK8S_HUB_PORT": str(port),
        "DK8S_HUB_API_PORT": str(free_port()), "DK8S_HUB_PROXY_API_PORT": str(free_port()),
    }
    log = open(Path(env["DK8S_HUB_STATE"]) / "jupyterhub.log", "w")
    hub = subprocess.Popen([str(Path(sys.executable).with_name("jupyterhub")), "-f",
                            str(ROOT / "deploy" / "local-hub" / "jupyterhub_config.py")],
                           cwd=env["DK8S_HUB_STATE"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        async def healthy() -> bool:
            try:
                return httpx.get(f"{url}/hub/health").status_code == 200
            except httpx.HTTPError:
                return False

        asyncio.run(until("the hub", healthy))
        results = asyncio.run(rounds(url, token, users))
    finally:
        hub.terminate()
        hub.wait(timeout=120)
        kubectl("delete", "namespace", NAMESPACE, "--wait=false")
    base_start = statistics.median(r[0] for r in results[1])
    base_create = statistics.median(r[1] for r in results[1])
    print(f"1 user: start -> sidebar lists {base_start:.1f} s, create -> Running {base_create:.1f} s (hub log: {log.name})")
    start = statistics.median(r[0] for r in results[users])
    create = statistics.median(r[1] for r in results[users])
    print(f"{users} users at once (median): start {start:.1f} s = {start / base_start:.2f}x, "
          f"create {create:.1f} s = {create / base_create:.2f}x the single user")


if __name__ == "__main__":
    main()
