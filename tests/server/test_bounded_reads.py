"""Logs and events are read in bounded amounts: the API server cuts each log (lines and bytes),
few logs are read at once, and events are asked for per object by field selector."""

from __future__ import annotations

import asyncio

import pytest
from kr8s.asyncio.objects import Pod

from dask_k8s_lab.server.config import DaskK8sLab
from dask_k8s_lab.server.kube import Kr8sBackend
from tests.fixtures.apiproxy import api_proxy
from tests.fixtures import waiting

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

BOUND = 120.0
LOG_MIB = 256  # bench/faults.py reads a 1 GiB one


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")



async def until(predicate, what: str, bound: float = BOUND, interval: float = 0.2):
    return await waiting.until(predicate, what, bound, interval)


def chatty_pod(name: str, mib: int) -> dict:
    """A pod whose log is ``mib`` MiB in 64 KiB lines (200 of them are far more than the byte
    limit, so the API server's limitBytes is what bounds the read), then a line "done"."""
    script = (f"import sys, time; line = 'x' * (2**16 - 1)\n"
              f"for _ in range({mib} * 16): print(line)\n"
              f"print('done', flush=True); time.sleep(3600)")
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "main", "image": "dask/dask:latest", "command": ["python", "-c", script]}]},
    }


async def written(backend: Kr8sBackend, namespace: str, name: str) -> bool:
    try:
        return (await backend.pod_logs(namespace, name, None, 1)).strip() == "done"
    except Exception:
        return False


async def test_a_huge_log_is_read_in_bounded_memory(namespace, dask_operator):
    # the local node agent takes a while to cut a big log: allow it more than the default 10 s
    backend = Kr8sBackend(DaskK8sLab(namespaces=[namespace], log_limit_bytes=256 * 1024, request_timeout=120))
    pod = await Pod(chatty_pod("chatty", LOG_MIB), namespace=namespace)
    await pod.create()
    await until(lambda: written(backend, namespace, "chatty"), f"{LOG_MIB} MiB written", interval=1.0)

    before = rss_bytes()
    text = await backend.pod_logs(namespace, "chatty", None, 100_000)  # the most lines the REST API allows
    grown = rss_bytes() - before
    assert text.startswith("xxxx") and "cut at 262144 bytes" in text
    assert len(text) < 300 * 1024
    assert grown < 50 * 2**20, f"RSS grew by {grown / 2**20:.0f} MiB reading a {LOG_MIB} MiB log"
    await backend.close()


@pytest.fixture
async def proxy(kube):
    async with api_proxy() as proxy:
        yield proxy


@pytest.fixture
def jp_server_config(proxy, namespace, dask_operator, tmp_path):
    return {
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
        "DaskK8sLab": {"namespaces": [namespace], "kubeconfig": proxy.kubeconfig(tmp_path, namespace),
                       "read_concurrency": 1},
    }


async def test_logs_one_at_a_time_and_events_by_field_selector(api, proxy, namespace):
    status, cluster = await api("POST", "clusters", body={"name": "reads", "n_workers": 2})
    assert status == 201, cluster

    async def three_pods():
        status, cluster = await api("GET", "clusters", namespace, "reads")
        return status == 200 and cluster["phase"] == "Running" and cluster["workers_ready"] == 2

    await until(three_pods, "the scheduler and two workers running")

    proxy.held = lambda seen: seen.path.endswith("/log")  # log reads wait at the proxy
    reading = asyncio.ensure_future(api("GET", "clusters", namespace, "reads", "logs"))
    await until(lambda: proxy.in_flight.get("log", 0) >= 1, "a log read at the proxy")
    await asyncio.sleep(0.5)  # time for any further reads to arrive; none may
    assert proxy.most_in_flight["log"] == 1
    proxy.release()
    status, body = await asyncio.wait_for(reading, BOUND)
    assert status == 200 and len(body["logs"]) == 3 and "reads-scheduler" in body["logs"], body
    assert proxy.most_in_flight["log"] == 1

    async def cluster_events():
        status, body = await api("GET", "clusters", namespace, "reads", "events")
        return status == 200 and any(e["object"] == "DaskCluster/reads" for e in body["events"]) and body

    body = await until(cluster_events, "the cluster's events")
    listed = [s for s in proxy.requests if s.path.endswith("/events")]
    assert listed and all("involvedObject.name=" in s.query.get("fieldSelector", "") for s in listed), listed
