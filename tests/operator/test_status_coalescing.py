"""Status writes coalesced per object (reconcile/status.py): pure timing and the write path with
a fake patch."""

import asyncio

import pytest

from dask_k8s_operator import events, kube, store
from dask_k8s_operator.reconcile import status


class Obj:
    kind, endpoint, namespace = "DaskCluster", "daskclusters", "ns"

    def __init__(self, name: str = "c", current: dict | None = None):
        self.name = name
        self.raw = {"kind": self.kind, "metadata": {"name": name, "namespace": "ns", "uid": name},
                    "status": dict(current or {})}


@pytest.fixture
def writes(monkeypatch):
    written: list[tuple[str, dict]] = []

    async def patch_status(obj, update):
        written.append((obj.name, dict(update)))

    monkeypatch.setattr(kube, "patch_status", patch_status)
    monkeypatch.setattr(status, "WINDOW", 0.2)
    monkeypatch.setattr(status, "PHASE_WINDOW", 0.05)
    monkeypatch.setattr(status, "_pending", {})
    monkeypatch.setattr(store, "update_status", lambda *a: None)
    return written


async def settled() -> None:
    """Until every pending write is made (each waits out its window)."""
    await asyncio.gather(*[p.task for p in status._pending.values()])


async def test_changes_wait_and_go_out_together_with_the_latest_fields(writes):
    obj = Obj()
    await status.set_status(obj, {"phase": "Created"})
    await status.set_status(obj, {"phase": "Pending", "replicas": 0})
    await status.set_status(obj, {"replicas": 20})
    assert writes == [] and obj.raw["status"] == {"phase": "Pending", "replicas": 20}
    await settled()
    assert writes == [("c", {"phase": "Pending", "replicas": 20})]


def test_no_window_writes_at_once(monkeypatch):
    monkeypatch.setattr(status, "WINDOW", 0.0)
    assert status.window({"phase": "Pending"}, {"phase": "Running"}) == 0.0


def test_a_phase_change_waits_less_than_other_fields(monkeypatch):
    monkeypatch.setattr(status, "WINDOW", 2.0)
    monkeypatch.setattr(status, "PHASE_WINDOW", 0.5)
    assert status.window({"phase": "Pending"}, {"phase": "Running", "replicas": 2}) == 0.5
    assert status.window({"phase": "Running"}, {"phase": "Running", "replicas": 2}) == 2.0
    assert status.window({"jobStatus": "ClusterCreated"}, {"jobStatus": "Running"}) == 0.5
    assert status.window(None, {"message": "m"}) == 2.0


async def test_a_pending_write_comes_sooner_when_the_phase_moves(writes):
    obj = Obj(current={"phase": "Pending"})
    await status.set_status(obj, {"message": "b"})  # waits out WINDOW ...
    due = status._pending[("DaskCluster", "ns", "c")].due
    await status.set_status(obj, {"phase": "Running"})  # ... unless the phase moves
    assert status._pending[("DaskCluster", "ns", "c")].due < due
    await settled()
    assert writes == [("c", {"message": "b", "phase": "Running"})]


async def test_a_field_set_back_while_pending_is_written_as_set_last(writes):
    obj = Obj(current={"replicas": 2})
    await status.set_status(obj, {"replicas": 4})
    stale = Obj(current={"replicas": 2})  # (a reader that had not seen 4 yet)
    await status.set_status(stale, {"replicas": 2})
    await settled()
    assert [w for _, w in writes] == [{"replicas": 2}]


async def test_unchanged_status_is_not_written_and_each_object_has_its_own_write(writes):
    await status.set_status(Obj("a", {"phase": "Running"}), {"phase": "Running"})
    assert status._pending == {}
    await status.set_status(Obj("a"), {"phase": "Running"})
    await status.set_status(Obj("b"), {"phase": "Running"})
    await settled()
    assert sorted(name for name, _ in writes) == ["a", "b"]


async def test_a_warning_writes_the_pending_status_first(writes, monkeypatch):
    monkeypatch.setattr(events, "enabled", lambda: True)
    monkeypatch.setattr(events, "_last_posted", {})
    created = []

    async def post(cls, body, **_):
        created.append(body["reason"])
        writes.append(("event", {}))

    monkeypatch.setattr(kube, "post", post)
    obj = Obj()
    await status.set_status(obj, {"phase": "Pending"})
    await events.post(obj.raw | {"apiVersion": "kubernetes.dask.org/v1"}, "SchedulerStarting", "starting")
    assert writes == [("event", {})]  # a Normal event does not hurry the status
    await status.set_status(obj, {"phase": "Error"})
    await events.post(obj.raw | {"apiVersion": "kubernetes.dask.org/v1"}, "SchedulerFailed", "x", warning=True)
    assert writes == [("event", {}), ("c", {"phase": "Error"}), ("event", {})]
    assert status._pending == {}  # not written twice


async def test_routine_events_are_only_logged_by_default(writes, monkeypatch):
    monkeypatch.setattr(events, "_last_posted", {})
    monkeypatch.delenv("DASK_K8S_OPERATOR_EVENT_LEVEL", raising=False)

    async def refuse(*_):
        raise AssertionError("no event should be created")

    monkeypatch.setattr(kube, "post", refuse)
    await events.post(Obj().raw | {"apiVersion": "v"}, "Created", "accepted", routine=True)
    assert events.level(warning=False, routine=True) < events.minimum_level()
    assert events.level(warning=True, routine=True) >= events.minimum_level()
