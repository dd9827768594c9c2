"""The worker-group reconciler against an in-memory fake of the kube layer and the scheduler."""

from __future__ import annotations

import asyncio
import copy
import itertools
from pathlib import Path

import pytest
import yaml

from dask_k8s_common.resources import DaskCluster, DaskWorkerGroup
from dask_k8s_operator import builders, events, kube, reconcile, scheduler_api
from dask_k8s_operator.reconcile import clusters, retirement, status

MANIFESTS = Path(__file__).parent / "manifests"
_ips = itertools.count(10)


class FakePod:
    endpoint = "pods"

    def __init__(self, world: World, name: str):
        self.world, self.name, self.namespace = world, name, "ns"

    def annotate(self, patch: dict) -> None:
        pod = self.world.pods[self.name]
        pod["metadata"].setdefault("annotations", {}).update(patch["metadata"]["annotations"])


class World:
    """Objects by name, the scheduler's workers by address, and what the reconciler did."""

    def __init__(self, replicas: int, pods: int, scheduler_up: bool = True):
        cluster = yaml.safe_load((MANIFESTS / "cluster.yaml").read_text())
        cluster["metadata"].update(namespace="ns", uid="c-uid", resourceVersion="1")
        self.cluster = cluster
        group = builders.build_default_worker_group(cluster)
        group["metadata"].update(uid="g-uid", resourceVersion="1")
        group["spec"]["worker"]["replicas"] = replicas
        self.group = group
        self.pods: dict[str, dict] = {}
        self.workers: dict[str, dict] = {}
        self.scheduler_up = scheduler_up
        self.deleted: list[str] = []
        self.retire_calls: list[list[str]] = []
        self.events: list[tuple[str, bool]] = []
        self.status: dict = {}
        self.retire_error: str | None = None
        self.asked_max_age: list[float] = []  # of each scheduler_api.workers call
        for _ in range(pods):
            self.add_worker(connected=True)

    def add_worker(self, connected: bool, data: int = 0) -> str:
        name = builders.new_worker_pod_name("simple-default")
        pod = builders.build_worker_pod(self.group, name)
        ip = f"10.0.0.{next(_ips)}"
        pod["status"] = {"phase": "Running", "podIP": ip,
                         "conditions": [{"type": "Ready", "status": "True"}]}
        pod["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
        self.pods[name] = pod
        if connected:
            self.workers[f"tcp://{ip}:4000"] = {"metrics": {"managed_bytes": data}}
        return name

    def install(self, monkeypatch):
        scheduler_pod = {"metadata": {"name": "simple-scheduler"},
                         "status": {"phase": "Running", "podIP": "10.0.0.2",
                                    "conditions": [{"type": "Ready", "status": "True"}]}}
        service = {"metadata": {"name": "simple-scheduler"},
                   "spec": {"clusterIP": "10.96.0.50", "ports": [{"name": "tcp-comm",
                                                                    "port": 8786}]}}

        async def fetch(cls, name, namespace, cached=True):
            if cls is DaskWorkerGroup:
                return DaskWorkerGroup(copy.deepcopy(self.group))
            if cls is DaskCluster:
                return DaskCluster(copy.deepcopy(self.cluster))
            if cls.kind == "Service":
                return cls(copy.deepcopy(service))
            return cls(copy.deepcopy(scheduler_pod))

        async def list_pods(namespace, selector, live=False):
            return [copy.deepcopy(p) for p in self.pods.values()]

        async def create_raw(cls, manifest):
            self.pods[manifest["metadata"]["name"]] = copy.deepcopy(manifest)
            return copy.deepcopy(manifest), True

        def ref(cls, name, namespace):
            return FakePod(self, name)

        async def delete(obj, propagation_policy="Background"):
            self.deleted.append(obj.name)
            self.pods.pop(obj.name, None)
            return True

        async def patch_status(obj, status):
            self.status.update(status)

        async def patch(obj, patch, **_):
            obj.annotate(patch)

        async def workers(address, max_age=0.0):
            self.asked_max_age.append(max_age)
            if not self.scheduler_up:
                raise scheduler_api.SchedulerUnreachable("down")
            return copy.deepcopy(self.workers)

        async def retire_workers(address, addresses):
            self.retire_calls.append(sorted(addresses))
            if self.retire_error:
                raise scheduler_api.SchedulerUnreachable(self.retire_error)
            retired = []
            for address in addresses:
                if self.workers[address]["metrics"].get("unique"):
                    continue  # the scheduler keeps a worker whose data nobody can take
                self.workers.pop(address)
                retired.append(address)
            return retired

        async def post(obj, reason, message, warning=False):
            self.events.append((reason, warning))

        for name, fn in [("fetch", fetch), ("list_pods", list_pods), ("create_raw", create_raw),
                         ("ref", ref), ("delete", delete), ("patch_status", patch_status),
                         ("patch", patch)]:
            monkeypatch.setattr(kube, name, fn)
        monkeypatch.setattr(scheduler_api, "workers", workers)
        monkeypatch.setattr(scheduler_api, "retire_workers", retire_workers)
        monkeypatch.setattr(events, "post", post)
        monkeypatch.setattr(retirement, "UNREACHABLE_SINCE", {})
        monkeypatch.setattr(retirement, "RUNNING", {})
        return self

    def reasons(self) -> list[str]:
        return [reason for reason, _ in self.events]


async def reconcile_and_retire(name: str = "simple-default") -> float:
    """One reconcile, then wait for the retirement it started (retirement runs beside it)."""
    wait = await reconcile.reconcile_worker_group("ns", name)
    await asyncio.gather(*(r.task for r in retirement.RUNNING.values()))
    return wait


async def test_scale_up_creates_the_missing_pods(monkeypatch):
    world = World(replicas=3, pods=1).install(monkeypatch)
    await reconcile.reconcile_worker_group("ns", "simple-default")
    assert len(world.pods) == 3
    assert world.status["replicas"] == 3 and world.status["readyReplicas"] == 1
    assert world.reasons() == ["ScalingUp"]
    assert world.asked_max_age == [scheduler_api.SHARED_FOR]  # removing nothing: may share


async def test_a_reconcile_that_removes_workers_asks_the_scheduler_afresh(monkeypatch):
    world = World(replicas=1, pods=3).install(monkeypatch)
    await reconcile_and_retire()
    assert world.asked_max_age and set(world.asked_max_age) == {0.0}
    assert len(world.retire_calls) == 1


async def test_scale_up_does_not_wait_for_a_slow_scheduler(monkeypatch):
    world = World(replicas=3, pods=1).install(monkeypatch)
    answered = asyncio.Event()
    pods_when_asked: list[int] = []

    async def slow_workers(address, max_age=0.0):
        await answered.wait()  # a busy scheduler: answers only once the pods exist
        pods_when_asked.append(len(world.pods))
        return copy.deepcopy(world.workers)

    monkeypatch.setattr(scheduler_api, "workers", slow_workers)
    reconciling = asyncio.ensure_future(reconcile.reconcile_worker_group("ns", "simple-default"))
    for _ in range(100):
        if len(world.pods) == 3:
            break
        await asyncio.sleep(0)
    assert len(world.pods) == 3 and not reconciling.done()
    answered.set()
    await reconciling
    assert pods_when_asked == [3] and len(world.pods) == 3  # made once, not again after the answer
    assert world.status["replicas"] == 3 and world.status["readyReplicas"] == 1


async def test_scale_down_retires_through_the_scheduler_then_deletes(monkeypatch):
    world = World(replicas=1, pods=0).install(monkeypatch)
    keep = world.add_worker(connected=True, data=10_000)
    light = [world.add_worker(connected=True, data=5) for _ in range(2)]
    await reconcile_and_retire()
    assert len(world.retire_calls) == 1 and len(world.retire_calls[0]) == 2
    assert sorted(world.deleted) == sorted(light)
    assert list(world.pods) == [keep]
    assert "RetiredWorkers" in world.reasons() and "RetireFallback" not in world.reasons()


async def test_workers_the_scheduler_refuses_to_retire_are_kept(monkeypatch):
    world = World(replicas=0, pods=1).install(monkeypatch)
    only = next(iter(world.pods))
    next(iter(world.workers.values()))["metrics"]["unique"] = True
    await reconcile_and_retire()
    assert world.deleted == [] and only in world.pods
    assert world.pods[only]["metadata"]["annotations"][builders.RETIRING_ANNOTATION]
    assert ("RetireIncomplete", True) in world.events


async def test_unready_pods_go_at_once_but_ready_ones_wait_for_the_scheduler(monkeypatch):
    world = World(replicas=1, pods=2, scheduler_up=False).install(monkeypatch)
    pending = world.add_worker(connected=False)
    world.pods[pending]["status"] = {"phase": "Pending"}
    await reconcile.reconcile_worker_group("ns", "simple-default")
    assert world.deleted == [pending]  # held no data
    assert len(world.pods) == 2  # the ready one is kept for now
    assert world.status["message"].startswith("waiting for the scheduler")
    assert "RetireFallback" not in world.reasons()

    monkeypatch.setattr(retirement, "FALLBACK_GRACE", 0.0)
    await reconcile.reconcile_worker_group("ns", "simple-default")
    assert len(world.pods) == 1
    assert ("RetireFallback", True) in world.events
    assert world.retire_calls == []


async def test_a_stale_replica_count_does_not_remove_workers(monkeypatch):
    world = World(replicas=1, pods=3).install(monkeypatch)
    stale = copy.deepcopy(world.group)
    world.group["spec"]["worker"]["replicas"] = 3  # what the API server says now
    real_fetch = kube.fetch

    async def fetch(cls, name, namespace, cached=True):
        if cls is DaskWorkerGroup and cached:
            return DaskWorkerGroup(copy.deepcopy(stale))
        return await real_fetch(cls, name, namespace, cached)

    monkeypatch.setattr(kube, "fetch", fetch)
    wait = await reconcile.reconcile_worker_group("ns", "simple-default")
    assert wait == reconcile.FAST
    assert world.deleted == [] and world.retire_calls == []


async def test_a_changed_worker_spec_surges_one_new_pod_first(monkeypatch):
    world = World(replicas=2, pods=2).install(monkeypatch)
    world.group["spec"]["worker"]["spec"]["containers"][0]["image"] = "dask/dask:new"
    await reconcile.reconcile_worker_group("ns", "simple-default")
    images = [p["spec"]["containers"][0]["image"] for p in world.pods.values()]
    assert sorted(images) == ["dask/dask:latest", "dask/dask:latest", "dask/dask:new"]
    assert world.retire_calls == [] and world.reasons() == ["RollingUpdate"]


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
async def test_finished_worker_pods_are_replaced(monkeypatch, phase):
    world = World(replicas=2, pods=2).install(monkeypatch)
    done = next(iter(world.pods))
    world.pods[done]["status"]["phase"] = phase
    await reconcile.reconcile_worker_group("ns", "simple-default")
    assert done in world.deleted and done not in world.pods
    assert len(world.pods) == 2


async def test_workers_that_cannot_start_are_reported_on_the_group_and_cluster(monkeypatch):
    world = World(replicas=1, pods=1).install(monkeypatch)
    pod = next(iter(world.pods.values()))
    pod["status"] = {"phase": "Pending", "containerStatuses": [{
        "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff",
                                                 "message": "no such image"}}}]}
    posted = []

    async def post(obj, reason, message, warning=False):
        posted.append((obj["kind"], reason, warning, message))

    monkeypatch.setattr(events, "post", post)
    await reconcile.reconcile_worker_group("ns", "simple-default")
    kinds = {(kind, reason, warning) for kind, reason, warning, _ in posted}
    assert {("DaskWorkerGroup", "WorkersFailing", True),
            ("DaskCluster", "WorkersFailing", True)} <= kinds
    assert "ImagePullBackOff" in posted[-1][3]


async def test_workers_lost_with_their_node_are_reported_until_replaced(monkeypatch):
    world = World(replicas=2, pods=2).install(monkeypatch)
    for name in world.pods:  # the node lifecycle evicts both: Terminating on a node that is gone
        world.pods[name]["metadata"]["deletionTimestamp"] = "2026-01-01T00:01:00Z"
        world.pods[name]["spec"]["nodeName"] = "node-2"
        world.pods[name]["status"]["conditions"] = [
            {"type": "Ready", "status": "False"},
            {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager"}]
    world.workers.clear()  # (their workers left the scheduler)
    posted = []

    async def post(obj, reason, message, warning=False):
        posted.append((obj["kind"], reason, warning, message))

    async def patch_status(obj, status):
        world.status.update(status)
        world.group["status"] = dict(world.status)

    monkeypatch.setattr(events, "post", post)
    monkeypatch.setattr(kube, "patch_status", patch_status)
    expected = "2 worker pod(s) were lost with node node-2 (NotReady); replacing them"
    await reconcile.reconcile_worker_group("ns", "simple-default")
    assert len(world.pods) == 4 and world.deleted == []  # two replacements, the lost left alone
    assert world.status["message"] == expected
    lost = [(kind, warning, message) for kind, reason, warning, message in posted
            if reason == "WorkersLost"]
    assert lost == [("DaskWorkerGroup", True, expected), ("DaskCluster", True, expected)]

    await reconcile.reconcile_worker_group("ns", "simple-default")  # replacements still starting
    assert sum(reason == "WorkersLost" for _, reason, _, _ in posted) == 2  # not again
    assert world.status["message"] == expected
    for name, pod in world.pods.items():  # the replacements connect
        if not pod["metadata"].get("deletionTimestamp"):
            ip = f"10.0.1.{len(world.workers)}"
            pod["status"] = {"phase": "Running", "podIP": ip,
                             "conditions": [{"type": "Ready", "status": "True"}]}
            world.workers[f"tcp://{ip}:4000"] = {"metrics": {}}
    await reconcile.reconcile_worker_group("ns", "simple-default")
    replaced = "2 worker pod(s) were lost with node node-2 (NotReady); replaced"
    assert world.status["message"] == replaced and world.status["readyReplicas"] == 2
    assert posted[-2:] == [("DaskWorkerGroup", "WorkersReplaced", False, replaced),
                           ("DaskCluster", "WorkersReplaced", False, replaced)]
    for name in [n for n, p in world.pods.items() if p["metadata"].get("deletionTimestamp")]:
        del world.pods[name]  # the lost pods are gone at last (the node was removed)
    await reconcile.reconcile_worker_group("ns", "simple-default")
    assert world.status["message"] == ""


def _cluster_and_group(cluster_replicas: int, group_replicas: int, synced: int | None):
    cluster = yaml.safe_load((MANIFESTS / "cluster.yaml").read_text())
    cluster["metadata"].update(namespace="ns", uid="c")
    group = builders.build_default_worker_group(cluster)
    cluster["spec"]["worker"]["replicas"] = cluster_replicas
    group["spec"]["worker"]["replicas"] = group_replicas
    if synced is None:
        del group["metadata"]["annotations"][builders.SYNCED_REPLICAS_ANNOTATION]
    else:
        group["metadata"]["annotations"][builders.SYNCED_REPLICAS_ANNOTATION] = str(synced)
    return cluster, group


def test_default_group_in_step_needs_nothing():
    assert clusters.default_group_changes(*_cluster_and_group(2, 2, 2)) == ([], None, False)


def test_scaling_the_cluster_scales_its_default_group():
    ops, cluster_replicas, spec_changed = clusters.default_group_changes(
        *_cluster_and_group(5, 2, 2))
    assert cluster_replicas is None and not spec_changed
    assert ops[0]["path"] == "/spec/worker" and ops[0]["value"]["replicas"] == 5
    assert ops[1]["value"] == "5"


def test_scaling_the_default_group_is_written_back_to_the_cluster():
    ops, cluster_replicas, _ = clusters.default_group_changes(*_cluster_and_group(2, 4, 2))
    assert cluster_replicas == 4
    assert [op["path"] for op in ops] == [
        "/metadata/annotations/kubernetes.dask.org~1synced-replicas"]


def test_a_worker_spec_change_is_copied_to_the_default_group():
    cluster, group = _cluster_and_group(2, 2, 2)
    cluster["spec"]["worker"]["spec"]["containers"][0]["image"] = "dask/dask:new"
    ops, cluster_replicas, spec_changed = clusters.default_group_changes(cluster, group)
    assert spec_changed and cluster_replicas is None
    assert ops[0]["value"]["spec"]["containers"][0]["image"] == "dask/dask:new"


async def test_the_default_group_is_written_from_the_store_and_read_afresh_on_a_conflict(monkeypatch):
    """A scale is written with the resourceVersion the store holds; only when that precondition
    fails (the store was a moment behind) are both read from the API server, and the change is
    decided again on what they say."""
    import httpx
    from kr8s import ServerError

    cluster, group = _cluster_and_group(3, 2, 2)
    group["metadata"].update(namespace="ns", resourceVersion="10")
    cluster["metadata"]["resourceVersion"] = "11"
    server_group = copy.deepcopy(group)
    server_group["metadata"]["resourceVersion"] = "12"  # the store has not seen this one yet
    server_group["spec"]["worker"]["replicas"] = 4  # scaled directly meanwhile
    reads, writes = [], []

    async def fetch(cls, name, namespace, cached=True):
        reads.append((cls.kind, cached))
        if cls is DaskWorkerGroup:
            return kube.Obj(cls, copy.deepcopy(group if cached else server_group))
        return kube.Obj(cls, copy.deepcopy(cluster))

    async def patch(obj, body, **_):
        if obj.kind == "DaskWorkerGroup":
            rv = body[0]["value"]
            writes.append(("DaskWorkerGroup", rv, [op["path"] for op in body[1:]]))
            if rv != server_group["metadata"]["resourceVersion"]:
                raise ServerError("test failed", response=httpx.Response(422))
            return {**server_group, "metadata": {**server_group["metadata"], "resourceVersion": "14"}}
        writes.append(("DaskCluster", body["metadata"]["resourceVersion"], body["spec"]))
        return {**cluster, "metadata": {**cluster["metadata"], "resourceVersion": "13"}}

    async def post(*_, **__):
        pass

    monkeypatch.setattr(kube, "fetch", fetch)
    monkeypatch.setattr(kube, "patch", patch)
    monkeypatch.setattr(events, "post", post)
    remembered = []  # (into the store)
    monkeypatch.setattr(kube, "remember", lambda plural, body: remembered.append(
        (plural, body["metadata"]["resourceVersion"])))
    result = await clusters._sync_default_group(kube.Obj(DaskCluster, cluster))
    assert reads == [("DaskWorkerGroup", True), ("DaskCluster", False), ("DaskWorkerGroup", False)]
    synced = "/metadata/annotations/kubernetes.dask.org~1synced-replicas"
    assert writes == [
        ("DaskWorkerGroup", "10", ["/spec/worker", synced]),  # the store's view: cluster -> 3
        # afresh: the cluster was scaled (3) and so was the group (4); the cluster's count
        # wins, as it would have had the store been current
        ("DaskWorkerGroup", "12", ["/spec/worker", synced]),
    ]
    assert result.raw["metadata"]["resourceVersion"] == "14"
    assert remembered == [("daskworkergroups", "14")]


async def test_a_phase_move_is_told_once_even_when_its_write_answer_was_lost(monkeypatch):
    """The phase event compares with the phase the last event told of, not with the status read:
    a status write that reached the API server but whose answer was lost shows Running at the
    next reconcile, and SchedulerReady must still be told (once). An operator that starts anew
    and reads Running tells nothing."""
    cluster = yaml.safe_load((MANIFESTS / "cluster.yaml").read_text())
    cluster["metadata"].update(namespace="ns", uid="phase-uid", resourceVersion="1")
    cluster["status"] = {"phase": "Pending"}
    pod = {"metadata": {"name": "simple-scheduler"},
           "status": {"phase": "Running", "podIP": "10.0.0.2",
                      "conditions": [{"type": "Ready", "status": "True"}]}}
    service = {"metadata": {"name": "simple-scheduler"},
               "spec": {"clusterIP": "10.96.0.50", "ports": [{"name": "tcp-comm", "port": 8786}]}}
    posted, server = [], {"lose_answer": True}

    async def fetch_live(cls, name, namespace):
        return kube.Obj(cls, copy.deepcopy(cluster))

    async def child(body):
        return kube.Obj(DaskCluster, copy.deepcopy(body))

    async def patch_status(obj, update):
        cluster["status"].update(update)  # the API server applied it ...
        if server.pop("lose_answer", False):
            raise TimeoutError("... but its answer never came")

    async def post(cls, body, **_):
        posted.append(body["reason"])

    monkeypatch.setattr(kube, "fetch_live", fetch_live)
    monkeypatch.setattr(clusters, "_sync_scheduler_pod", lambda c: child(pod))
    monkeypatch.setattr(clusters, "_sync_scheduler_service", lambda c: child(service))
    monkeypatch.setattr(clusters, "_sync_default_group", lambda c: child(
        {"metadata": {"name": "simple-default"}, "status": {}}))
    monkeypatch.setattr(scheduler_api, "workers", lambda url: asyncio.sleep(0, {}))
    monkeypatch.setattr(kube, "patch_status", patch_status)
    monkeypatch.setattr(kube, "post", post)
    monkeypatch.setattr(status, "WINDOW", 0.0)
    with pytest.raises(TimeoutError):
        await clusters.reconcile_cluster("ns", "simple")
    assert cluster["status"]["phase"] == "Running" and posted == []
    await clusters.reconcile_cluster("ns", "simple")
    await clusters.reconcile_cluster("ns", "simple")
    assert posted == ["SchedulerReady"]
    events.forget("phase-uid")  # as after a restart: the status shows Running, nothing to tell
    await clusters.reconcile_cluster("ns", "simple")
    assert posted == ["SchedulerReady"]
