"""The operator talks to schedulers only through their HTTP JSON API and never unpickles.

Unit tests run ``scheduler_api`` against a local HTTP server that answers what each test says;
the integration tests put a stand-in scheduler (``standin_scheduler.py``) in a pod.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from dask_k8s_operator import builders, scheduler_api
from tests.fixtures.kube import wait_until
from tests.operator.helpers import apply, events, get, group_pods, manifest, small_cluster

STANDIN = (Path(__file__).parent / "standin_scheduler.py").read_text()


class Answers(BaseHTTPRequestHandler):
    """Answers each path with what ``routes`` says: (status, body bytes)."""

    routes: dict[str, tuple[int, bytes]] = {}
    seen: list[tuple[str, str, bytes]] = []

    def log_message(self, *args) -> None:
        pass

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.command, self.path, body))
        status, payload = self.routes.get(self.path, (404, b"404: Not Found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer


@pytest.fixture
def scheduler() -> Iterator[type[Answers]]:
    handler = type("Handler", (Answers,), {"routes": {}, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield handler
    server.shutdown()
    server.server_close()


def route(scheduler, path: str, value, status: int = 200) -> None:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    scheduler.routes[f"/api/v1/{path}"] = (status, body)


class Marker:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


# ---------------------------------------------------------------------------------------------
# unit: the client
# ---------------------------------------------------------------------------------------------


async def test_the_four_calls_parse_what_distributed_sends(scheduler):
    route(scheduler, "get_workers", {"num_workers": 1, "workers": [
        {"name": "w-1", "address": "tcp://10.0.0.5:40000"}]})
    route(scheduler, "retire_workers", {"tcp://10.0.0.5:40000": {"type": "Worker", "id": "w"}})
    route(scheduler, "adaptive_target", {"workers": 3})
    route(scheduler, "check_idle", {"idle_since": 1700000000.5})
    assert await scheduler_api.workers(scheduler.url) == {"tcp://10.0.0.5:40000": {"name": "w-1"}}
    assert await scheduler_api.retire_workers(scheduler.url, ["tcp://10.0.0.5:40000"]) == [
        "tcp://10.0.0.5:40000"]
    assert await scheduler_api.adaptive_target(scheduler.url) == 3
    assert await scheduler_api.idle_since(scheduler.url) == 1700000000.5
    route(scheduler, "check_idle", {"idle_since": None})
    assert await scheduler_api.idle_since(scheduler.url) is None
    method, path, body = scheduler.seen[1]
    assert (method, path) == ("POST", "/api/v1/retire_workers")
    assert json.loads(body) == {"workers": ["tcp://10.0.0.5:40000"]}


async def test_a_list_of_workers_is_shared_for_a_moment_only_when_asked(scheduler, monkeypatch):
    """Reconciles that remove nothing may share an answer at most ``max_age`` old; a call
    without it (before removing workers) always asks the scheduler."""
    clock = [1000.0]
    monkeypatch.setattr(scheduler_api.time, "monotonic", lambda: clock[0])
    route(scheduler, "get_workers", {"workers": [{"name": "a", "address": "tcp://10.0.0.5:1"}]})
    first = await scheduler_api.workers(scheduler.url, max_age=1.0)
    route(scheduler, "get_workers", {"workers": []})
    clock[0] += 0.5
    assert await scheduler_api.workers(scheduler.url, max_age=1.0) == first  # shared
    assert await scheduler_api.workers(scheduler.url) == {}  # asked afresh
    route(scheduler, "get_workers", {"workers": [{"name": "b", "address": "tcp://10.0.0.6:1"}]})
    clock[0] += 1.5
    assert set(await scheduler_api.workers(scheduler.url, max_age=1.0)) == {"tcp://10.0.0.6:1"}
    assert [path for _, path, _ in scheduler.seen] == ["/api/v1/get_workers"] * 3


async def test_a_pickled_answer_is_not_unpickled_and_says_why(scheduler):
    marker = Path(tempfile.mkdtemp()) / "unpickled"
    payload = pickle.dumps(Marker(str(marker)))
    for path in ("get_workers", "retire_workers", "adaptive_target", "check_idle"):
        route(scheduler, path, payload)
    calls = [scheduler_api.workers(scheduler.url),
             scheduler_api.retire_workers(scheduler.url, ["tcp://x:1"]),
             scheduler_api.adaptive_target(scheduler.url), scheduler_api.idle_since(scheduler.url)]
    for call in calls:
        with pytest.raises(scheduler_api.SchedulerUnreachable, match="not JSON"):
            await call
    assert not marker.exists()
    pickle.loads(payload)  # the payload works: had the client unpickled it, the marker would be there
    assert marker.exists()


@pytest.mark.parametrize(("path", "value", "status", "reason"), [
    ("get_workers", b"404: Not Found", 404, "HTTP API is not enabled"),
    ("get_workers", {"Error": "Internal Server Error"}, 500, "HTTP 500"),
    ("get_workers", {"workers": "all of them"}, 200, "no list of workers"),
    ("get_workers", {"workers": [{"name": "w"}]}, 200, "without an address"),
    ("get_workers", [1, 2], 200, "no list of workers"),
    ("retire_workers", ["tcp://a:1"], 200, "not a map of worker addresses"),
    ("adaptive_target", {"workers": "3"}, 200, "no worker count"),
    ("adaptive_target", {"workers": True}, 200, "no worker count"),
    ("adaptive_target", {"workers": -1}, 200, "no worker count"),
    ("check_idle", {}, 200, "no idle_since"),
    ("check_idle", {"idle_since": "yesterday"}, 200, "not a time"),
    ("check_idle", b"[" * 100_000, 200, "not JSON"),
])
async def test_unexpected_answers_make_the_scheduler_unreachable(scheduler, path, value, status,
                                                                 reason):
    route(scheduler, path, value, status)
    call = {"get_workers": lambda: scheduler_api.workers(scheduler.url),
            "retire_workers": lambda: scheduler_api.retire_workers(scheduler.url, []),
            "adaptive_target": lambda: scheduler_api.adaptive_target(scheduler.url),
            "check_idle": lambda: scheduler_api.idle_since(scheduler.url)}[path]
    with pytest.raises(scheduler_api.SchedulerUnreachable, match=reason) as info:
        await call()
    assert str(info.value).startswith(path)


async def test_an_oversized_answer_is_cut_off(scheduler, monkeypatch):
    monkeypatch.setattr(scheduler_api, "MAX_BODY_BYTES", 1000)
    route(scheduler, "get_workers", {"workers": [], "pad": "x" * 5000})
    with pytest.raises(scheduler_api.SchedulerUnreachable, match="larger than 1000 bytes"):
        await scheduler_api.workers(scheduler.url)


async def test_no_answer_within_the_timeout_is_unreachable(monkeypatch):
    async def silent(reader, writer):
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(scheduler_api, "CALL_TIMEOUT", 0.5)
    async with server:
        with pytest.raises(scheduler_api.SchedulerUnreachable, match="no answer within"):
            await scheduler_api.workers(f"http://127.0.0.1:{port}")


async def test_a_closed_port_is_unreachable():
    with pytest.raises(scheduler_api.SchedulerUnreachable, match="ConnectError"):
        await scheduler_api.workers("http://127.0.0.1:9")


def test_api_url_uses_the_dashboard_port_of_the_service_or_the_pod():
    service = {"spec": {"clusterIP": "10.96.0.7", "ports": [
        {"name": "tcp-comm", "port": 8786}, {"name": "http-dashboard", "port": 9787,
                                              "targetPort": 8787}]}}
    assert scheduler_api.api_url(service, "10.244.0.9") == "http://10.96.0.7:9787"
    headless = {"spec": {"clusterIP": "None", "ports": service["spec"]["ports"]}}
    assert scheduler_api.api_url(headless, "10.244.0.9") == "http://10.244.0.9:8787"
    assert scheduler_api.api_url(None, "fd00::9") == "http://[fd00::9]:8787"
    assert scheduler_api.api_url(None, None) is None


# ---------------------------------------------------------------------------------------------
# unit: the scheduler pod enables the API
# ---------------------------------------------------------------------------------------------


def cluster_body() -> dict:
    body = manifest("cluster.yaml")
    body["metadata"].update(namespace="ns", uid="u")
    return body


def routes_env(pod: dict) -> list:
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    return env[builders.SCHEDULER_HTTP_ROUTES_ENV]


def test_the_scheduler_pod_enables_the_api_on_top_of_distributeds_defaults():
    import ast

    import dask.config
    import distributed  # noqa: F401  (loads distributed.yaml into dask.config)

    routes = ast.literal_eval(routes_env(builders.build_scheduler_pod(cluster_body())))
    defaults = dask.config.get("distributed.scheduler.http.routes")
    assert "distributed.http.scheduler.api" not in defaults  # off by default in distributed
    assert routes == [*defaults, "distributed.http.scheduler.api"]


def test_a_routes_value_set_by_the_user_is_kept():
    body = cluster_body()
    container = body["spec"]["scheduler"]["spec"]["containers"][0]
    container["env"] = [{"name": builders.SCHEDULER_HTTP_ROUTES_ENV, "value": "['x']"}]
    pod = builders.build_scheduler_pod(body)
    assert routes_env(pod) == "['x']"
    assert [e["name"] for e in pod["spec"]["containers"][0]["env"]] == [
        builders.SCHEDULER_HTTP_ROUTES_ENV]


def test_the_scheduler_hash_ignores_the_injected_env():
    # a new operator version must not replace every running scheduler
    body = cluster_body()
    pod = builders.build_scheduler_pod(body)
    assert pod["metadata"]["annotations"][builders.SPEC_HASH_ANNOTATION] == builders.spec_hash(
        body["spec"]["scheduler"]["spec"])


# ---------------------------------------------------------------------------------------------
# integration: stand-in schedulers in pods
# ---------------------------------------------------------------------------------------------


def standin_cluster(name: str, mode: str, workers: int = 0, **env: str) -> dict:
    body = small_cluster(name, workers=workers)
    container = body["spec"]["scheduler"]["spec"]["containers"][0]
    container.pop("readinessProbe")
    container.pop("livenessProbe")
    container["command"] = ["python", "-c", STANDIN]
    container.pop("args", None)
    container["env"] = [{"name": "STANDIN_MODE", "value": mode},
                        *({"name": k, "value": v} for k, v in env.items())]
    return body


def service_url(kubectl, cluster: str, port_name: str) -> str:
    service = kubectl.json("service", f"{cluster}-scheduler")
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == port_name)
    return f"{service['spec']['clusterIP']}:{port}"


def warning_events(kubectl, kind: str, name: str, reason: str) -> list[str]:
    return [e["message"] for e in events(kubectl, kind, name)
            if e["reason"] == reason and e["type"] == "Warning"]


@pytest.fixture
def marker_dir() -> Iterator[Path]:
    """A folder the operator's pod could write to (pods share this machine's /tmp)."""
    folder = Path(tempfile.mkdtemp(prefix="dkl-marker-"))
    folder.chmod(0o777)
    yield folder
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


@pytest.mark.integration
@pytest.mark.usefixtures("dask_operator")
def test_a_scheduler_that_answers_with_pickles_is_unreachable_and_not_unpickled(kubectl,
                                                                                 marker_dir):
    marker = marker_dir / "unpickled"
    apply(kubectl, standin_cluster("evil", "pickle", STANDIN_MARKER=str(marker)))
    messages = wait_until(
        lambda: warning_events(kubectl, "DaskCluster", "evil", "SchedulerUnreachable"), 120,
        message="a SchedulerUnreachable event on the cluster")
    assert "not JSON" in messages[0] and "get_workers" in messages[0], messages
    # (the status says the latest attempt's reason: on a loaded machine one attempt may have
    # failed to connect instead)
    status = wait_until(lambda: (s := get(kubectl, "daskcluster", "evil")["status"]) and
                        "not JSON" in s.get("message", "") and s, 60,
                        message="the status saying the scheduler's answer is not JSON")
    assert status["phase"] == "Pending" and status["reason"] == "SchedulerNotAnswering"
    assert not marker.exists()

    # the stand-in's comm port does send a payload that runs when unpickled: a distributed rpc
    # client (what the operator used before) creates the marker
    from distributed.core import rpc

    async def identity():
        async with rpc(f"tcp://{service_url(kubectl, 'evil', 'tcp-comm')}") as comm:
            return await comm.identity()

    asyncio.run(identity())
    assert marker.exists()


WORKER = """
import json, os, signal, time, urllib.request
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only the grace period's end stops this worker
host = os.environ["DASK_SCHEDULER_ADDRESS"].split("://")[1].rsplit(":", 1)[0]
body = json.dumps({"address": f"tcp://{os.environ['POD_IP']}:9999",
                   "name": os.environ["DASK_WORKER_NAME"]}).encode()
while True:
    try:
        urllib.request.urlopen(urllib.request.Request(f"http://{host}:8787/register", body), timeout=5)
        break
    except OSError:
        time.sleep(0.5)
while True:
    time.sleep(3600)
"""


@pytest.mark.integration
@pytest.mark.usefixtures("dask_operator")
def test_a_failed_retirement_is_not_repeated_and_ends_in_graceful_deletion(kubectl):
    body = standin_cluster("noretire", "api", workers=2)
    worker = body["spec"]["worker"]["spec"]
    worker["terminationGracePeriodSeconds"] = 45
    worker["containers"][0].update(
        command=["python", "-c", WORKER], args=[], ports=[],
        env=[{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}])
    apply(kubectl, body)
    group = "noretire-default"
    wait_until(lambda: ((get(kubectl, "daskworkergroup", group) or {}).get("status") or {}
                        ).get("readyReplicas") == 2, 180,
               message="both stand-in workers registered with the stand-in scheduler")
    api = f"http://{service_url(kubectl, 'noretire', 'http-dashboard')}"

    def calls() -> dict[str, int]:
        return httpx.get(f"{api}/calls", timeout=10).json()

    kubectl("scale", "daskworkergroup", group, "--replicas=1")
    first = wait_until(lambda: calls().get("/api/v1/retire_workers") and calls(), 60,
                       message="the operator asking the scheduler to retire a worker")
    # while the scheduler holds the request, the operator keeps reconciling the group (it asks
    # for the workers again) but does not ask a second time
    wait_until(lambda: calls()["/api/v1/get_workers"] >= first["/api/v1/get_workers"] + 3, 60,
               message="three more reconciles of the group")
    assert calls()["/api/v1/retire_workers"] == 1
    live = group_pods(kubectl, group)
    assert len(live) == 2
    retiring = [p for p in live
                if builders.RETIRING_ANNOTATION in (p["metadata"].get("annotations") or {})]
    assert len(retiring) == 1

    httpx.post(f"{api}/release", timeout=10)  # the scheduler now fails with HTTP 500
    name = retiring[0]["metadata"]["name"]

    def terminating():
        pod = kubectl.json("pods", name) if name in kubectl("get", "pods", "-o", "name") else None
        return pod if pod and pod["metadata"].get("deletionTimestamp") else None

    pod = wait_until(terminating, 60, message=f"{name} being deleted")
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 45  # graceful, not killed at once
    messages = warning_events(kubectl, "DaskWorkerGroup", group, "RetireFallback")
    assert messages and "HTTP 500" in messages[0], messages
    assert calls()["/api/v1/retire_workers"] == 1
    kubectl("delete", "daskcluster", "noretire", "--wait=false")
