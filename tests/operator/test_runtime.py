"""Unit tests of the operator's runtime pieces: work queue, plugins, command line, events."""

from __future__ import annotations

import asyncio
import logging
import sys
import textwrap

import kopf
import pytest

from dask_k8s_operator import __main__ as cli
from dask_k8s_operator import events, plugins, workqueue
from dask_k8s_operator.workqueue import WorkQueue


async def test_workqueue_coalesces_bursts_and_serializes_per_object():
    queue = WorkQueue()
    calls: list[str] = []
    running = 0
    max_running = 0

    async def reconcile(namespace: str, name: str) -> float:
        nonlocal running, max_running
        running += 1
        max_running = max(max_running, running)
        calls.append(name)
        await asyncio.sleep(0.05)
        running -= 1
        return 30.0

    queue.register("things", reconcile)
    for _ in range(20):
        queue.trigger("things", "ns", "a")
    queue.trigger("things", "ns", "b")
    await asyncio.sleep(0.01)  # a is being reconciled now
    # not yet due for a resync, but known: the relist safety net must not trigger it again
    assert ("things", "ns", "a") not in queue.tracked() and queue.knows(("things", "ns", "a"))
    assert not queue.knows(("things", "ns", "c"))
    for _ in range(20):
        queue.trigger("things", "ns", "a")
    await asyncio.sleep(0.3)
    # one run for the first burst, one follow-up for everything that came in during it
    assert calls.count("a") == 2
    assert calls.count("b") == 1
    assert max_running == 2  # a and b in parallel, never two of the same object
    assert set(queue.tracked()) == {("things", "ns", "a"), ("things", "ns", "b")}


async def test_workqueue_forgets_gone_objects_and_backs_off_on_errors():
    queue = WorkQueue()
    errors = []

    async def gone(namespace: str, name: str) -> float:
        return -1

    async def broken(namespace: str, name: str) -> float:
        raise RuntimeError("boom")

    async def on_error(key, exc):
        errors.append((key, str(exc)))

    queue.register("gone", gone)
    queue.register("broken", broken)
    queue.on_error(on_error)
    await queue.run_now("gone", "ns", "x")
    await queue.run_now("broken", "ns", "y")
    assert queue.tracked() == [("broken", "ns", "y")]
    assert errors == [(("broken", "ns", "y"), "boom")]


def recording(queue: WorkQueue, wait: float) -> list[str]:
    """Register a reconciler of kind "k" that records the names it reconciles and asks to run
    again after ``wait`` seconds; returns the record."""
    calls: list[str] = []

    async def reconcile(namespace: str, name: str) -> float:
        calls.append(name)
        return wait

    queue.register("k", reconcile)
    return calls


async def settled(queue: WorkQueue) -> None:
    """Until no reconcile runs."""
    while queue._running:
        await asyncio.sleep(0)


async def test_resync_retriggers_due_objects(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(workqueue.time, "monotonic", lambda: clock[0])
    queue = WorkQueue()
    calls = recording(queue, 5.0)
    queue.trigger("k", "ns", "a")
    await settled(queue)
    queue.trigger_due(clock[0] + 4.9)
    await settled(queue)
    assert calls == ["a"]
    for _ in range(2):
        clock[0] += 5.0
        queue.trigger_due(clock[0])
        await settled(queue)
    assert calls == ["a", "a", "a"]


async def test_a_burst_of_soon_triggers_is_one_reconcile_after_the_burst(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(workqueue.time, "monotonic", lambda: clock[0])
    queue = WorkQueue()
    calls = recording(queue, 30.0)
    for _ in range(10):
        queue.trigger_soon("k", "ns", "a", delay=0.5)
        clock[0] += 0.01
    queue.trigger_due(clock[0])
    await settled(queue)
    assert calls == []  # waiting for the rest of the burst
    queue.trigger_due(100.5)
    await settled(queue)
    assert calls == ["a"]
    queue.trigger_soon("k", "ns", "b", delay=0.5)
    queue.trigger("k", "ns", "b")  # a trigger now takes the soon one with it
    await settled(queue)
    queue.trigger_due(clock[0] + 1.0)
    await settled(queue)
    assert calls == ["a", "b"]


def test_plugins_are_loaded_from_entry_points(tmp_path, monkeypatch, caplog):
    (tmp_path / "my_dask_plugin.py").write_text(textwrap.dedent("""
        import kopf
        LOADED = True

        @kopf.on.startup(id="my_dask_plugin_startup")
        async def started(**_):
            pass
    """))
    (tmp_path / "broken_dask_plugin.py").write_text("raise ImportError('missing dependency')\n")
    dist = tmp_path / "my_dask_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-dask-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[dask_operator_plugin]\nmine = my_dask_plugin\nbroken = broken_dask_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.INFO, logger=plugins.__name__):
        loaded = plugins.load_plugins()
    assert loaded["mine"].LOADED is True
    assert "broken" not in loaded
    assert "plugin 'broken' (broken_dask_plugin) failed to load" in caplog.text
    registry = kopf.get_default_registry()
    ids = [h.id for h in registry._activities.get_all_handlers()]
    assert "my_dask_plugin_startup" in ids
    sys.modules.pop("my_dask_plugin", None)


def test_builtin_noop_plugin_says_it_runs(caplog):
    from dask_k8s_operator.plugins import noop

    class Logger:
        def info(self, message):
            logging.getLogger("noop-test").info(message)

    with caplog.at_level(logging.INFO):
        asyncio.run(noop.noop_startup(logger=Logger()))
    assert "Plugin 'noop' running." in caplog.text


@pytest.mark.parametrize(("argv", "expected"), [
    ([], ["run", "-m", "dask_k8s_operator", "--all-namespaces"]),
    (["--verbose"], ["run", "-m", "dask_k8s_operator", "--all-namespaces", "--verbose"]),
    (["--namespace=ns"], ["run", "-m", "dask_k8s_operator", "--namespace=ns"]),
    (["-n", "ns"], ["run", "-m", "dask_k8s_operator", "-n", "ns"]),
    (["-A"], ["run", "-m", "dask_k8s_operator", "-A"]),
])
def test_command_line_defaults_to_all_namespaces(argv, expected):
    assert cli.kopf_arguments(argv) == expected


def test_event_shape():
    obj = {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster",
           "metadata": {"name": "c", "namespace": "n", "uid": "u"}}
    event = events.build_event(obj, "Warning", "RetireFallback", "x" * 2000)
    assert event["involvedObject"] == {"apiVersion": "kubernetes.dask.org/v1",
                                       "kind": "DaskCluster", "name": "c", "namespace": "n",
                                       "uid": "u"}
    assert event["metadata"]["name"].startswith("c.") and event["metadata"]["namespace"] == "n"
    assert event["type"] == "Warning" and len(event["message"]) == 1024
    assert event["reportingComponent"] == "dask-k8s-operator"


async def test_repeated_events_are_posted_once(monkeypatch):
    posted = []

    async def fake_post(cls, body, **_):
        posted.append(body["reason"])

    monkeypatch.setattr(events.kube, "post", fake_post)
    obj = {"apiVersion": "v", "kind": "K", "metadata": {"name": "c", "namespace": "n", "uid": "u9"}}
    await events.post(obj, "A", "same")
    await events.post(obj, "A", "same")
    await events.post(obj, "B", "other")
    await events.post(obj, "A", "same")
    monkeypatch.setenv("DASK_K8S_OPERATOR_EVENT_LEVEL", "WARNING")
    await events.post(obj, "C", "info is below the level")
    await events.post(obj, "D", "warnings pass", warning=True)
    events.forget("u9")
    assert posted == ["A", "B", "A", "D"]


async def test_an_event_that_could_not_be_posted_is_posted_when_asked_again(monkeypatch):
    tries = []

    async def flaky_post(cls, body, **_):
        tries.append(body["reason"])
        if len(tries) <= 2:
            raise ConnectionError("dropped")

    monkeypatch.setattr(events.kube, "post", flaky_post)
    obj = {"apiVersion": "v", "kind": "K", "metadata": {"name": "c", "namespace": "n", "uid": "u8"}}
    assert await events.post(obj, "A", "m") is False  # two tries, both dropped
    assert await events.post(obj, "A", "m") is True  # not taken for a repeat of a posted one
    assert await events.post(obj, "A", "m") is True
    events.forget("u8")
    assert tries == ["A", "A", "A"]


@pytest.mark.parametrize(("argv", "expected"), [
    ([], []),
    (["--namespace", "a", "-n=b", "--namespace=c", "-n", "d", "--verbose"], ["a", "b", "c", "d"]),
])
def test_namespaces_from_the_command_line(argv, expected):
    assert cli.namespaces(argv) == expected


async def test_relist_reconciles_objects_the_watch_did_not_report(monkeypatch):
    from dask_k8s_operator import handlers

    asked = []

    async def list_objects(client, cls, namespace, selector, timeouts):
        asked.append((cls.kind, namespace))
        names = ["known", "missed"] if cls.kind == "DaskCluster" else []
        return [{"metadata": {"namespace": "ns1", "name": name}} for name in names], "1"

    async def fake_api():
        return None

    triggered = []
    monkeypatch.setattr(handlers.kube, "api", fake_api)
    monkeypatch.setattr(handlers.watching, "list_objects", list_objects)
    monkeypatch.setattr(handlers.QUEUE, "knows", lambda key: key == ("daskclusters", "ns1", "known"))
    monkeypatch.setattr(handlers.QUEUE, "trigger", lambda *key: triggered.append(key))
    monkeypatch.setenv("DASK_K8S_OPERATOR_NAMESPACES", "ns1")
    task = asyncio.get_running_loop().create_task(handlers.relist_forever(interval=0.01))
    await asyncio.sleep(0.1)
    task.cancel()
    assert ("daskclusters", "ns1", "missed") in triggered
    assert ("daskclusters", "ns1", "known") not in triggered
    assert {ns for _, ns in asked} == {"ns1"}  # single-namespace mode lists only its namespace


def test_api_errors_are_told_apart():
    from dask_k8s_operator import kube

    class Response:
        def __init__(self, code, body):
            self.status_code, self.body = code, body

        def json(self):
            return self.body

    class ApiError(Exception):
        def __init__(self, code, body):
            super().__init__("server error")
            self.response = Response(code, body)

    invalid = ApiError(422, {"message": 'Pod "x" is invalid: spec.containers[0].image: Required'})
    assert kube.api_error_message(invalid).endswith("spec.containers[0].image: Required")
    assert kube.is_rejection(invalid)
    assert not kube.is_rejection(ApiError(409, {}))
    assert not kube.is_rejection(ApiError(503, {}))
    assert not kube.is_rejection(TimeoutError())
    assert kube.api_error_message(TimeoutError()) == "TimeoutError"
