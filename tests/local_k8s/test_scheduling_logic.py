"""Several nodes: planning them, and the scheduler's choice among them (pure logic)."""

from __future__ import annotations

import pytest

from local_k8s import nodes
from local_k8s.agent.scheduler import NodeLoad, NodeView, choose_node, tolerates

ALLOCATABLE = {"cpu": "16", "memory": "64Gi"}


def pod(name: str = "p", owner: str | None = "rs-1", cpu: str | None = None, **spec) -> dict:
    container: dict = {"name": "c"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    meta: dict = {"name": name}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True}]
    return {"metadata": meta, "spec": {"containers": [container], **spec}}


def view(name: str, zone: str = "local-a", taints: list | None = None, **labels: str) -> NodeView:
    return NodeView(name, {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone, **labels},
                    dict(ALLOCATABLE), taints or [])


def test_plan_names_zones_ports_and_pod_ranges() -> None:
    planned = nodes.plan(3, {"local-node-3": [nodes.parse_taint("dedicated=gpu:NoSchedule")]})
    assert [n.name for n in planned] == ["local-node", "local-node-2", "local-node-3"]
    assert [n.zone for n in planned] == ["local-a", "local-b", "local-c"]
    assert [n.kubelet_port for n in planned] == [10250, 10251, 10252]
    assert [n.pod_cidr for n in planned] == ["10.244.0.0/19", "10.244.32.0/19", "10.244.64.0/19"]
    assert planned[2].taints == [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    assert planned[0].runs_cluster_services and not planned[1].runs_cluster_services
    assert planned[1].all_labels()["topology.kubernetes.io/zone"] == "local-b"


def test_bad_node_options_name_the_fix() -> None:
    with pytest.raises(ValueError, match="key\\[=value\\]:Effect"):
        nodes.parse_taint("dedicated=gpu")
    with pytest.raises(ValueError, match="unknown node\\(s\\) local-node-9"):
        nodes.plan(2, {"local-node-9": []})
    with pytest.raises(ValueError, match="at least 1"):
        nodes.plan(0)


def test_save_and_load(tmp_path) -> None:
    planned = nodes.plan(2)
    nodes.save(tmp_path / "nodes.json", planned)
    assert nodes.load(tmp_path / "nodes.json") == planned
    assert nodes.load(tmp_path / "missing.json") == [nodes.new_node(0)]
    assert nodes.free_index(planned) == 2


def test_pods_of_one_owner_spread_over_nodes() -> None:
    candidates = [view("a"), view("b"), view("c")]
    placed: dict[str, NodeLoad] = {}
    for i in range(6):
        p = pod(f"w{i}")
        target, reason = choose_node(p, candidates, placed)
        assert reason is None
        placed.setdefault(target, NodeLoad()).add(p)
    assert sorted(load.owners["rs-1"] for load in placed.values()) == [2, 2, 2]


def test_least_loaded_node_wins_for_unrelated_pods() -> None:
    busy = {"a": NodeLoad.of([pod("x", owner="other", cpu="8")])}
    assert choose_node(pod(owner=None), [view("a"), view("b")], busy) == ("b", None)


def test_selectors_affinity_and_taints_filter_nodes() -> None:
    gpu_taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    candidates = [view("a", disk="ssd"), view("b"), view("c", taints=[gpu_taint], disk="ssd")]
    assert choose_node(pod(nodeSelector={"disk": "ssd"}), candidates, {}) == ("a", None)
    tolerant = pod(nodeSelector={"disk": "ssd"}, tolerations=[{"key": "dedicated", "operator": "Exists"}])
    assert choose_node(tolerant, candidates, {"a": NodeLoad.of([pod()])})[0] == "c"
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["local-b"]}]}]}}}
    assert choose_node(pod(affinity=affinity), [view("a"), view("b", zone="local-b")], {}) == ("b", None)

    target, reason = choose_node(pod(nodeSelector={"disk": "hdd"}, cpu="1"), candidates, {})
    assert target is None
    assert reason == ("0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
                      "3 node(s) didn't match Pod's node affinity/selector.")


def test_tolerations() -> None:
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert tolerates([{"key": "k", "operator": "Equal", "value": "v"}], taint)
    assert tolerates([{"operator": "Exists"}], taint)
    assert not tolerates([{"key": "k", "value": "w"}], taint)
    assert not tolerates([{"key": "k", "operator": "Exists", "effect": "NoExecute"}], taint)


def test_a_node_load_counts_pods_in_and_out() -> None:
    """The scheduler's cache: what a node's pods ask for, kept as they come and go, gives the
    same choice as counting every pod again."""
    load = NodeLoad.of([pod("a", cpu="8"), pod("b", owner="other", cpu="4")])
    assert load.requested == {"cpu": 12.0} and load.owners == {"rs-1": 1, "other": 1}
    load.add(pod("a", cpu="8"), -1)
    assert load.requested == {"cpu": 4.0} and load.owners == {"other": 1}
    assert choose_node(pod(cpu="12"), [view("a")], {"a": load}) == ("a", None)
    load.add(pod("c", cpu="1"))
    assert choose_node(pod(cpu="12"), [view("a")], {"a": load})[0] is None
    load.add(pod("c", cpu="1"), -1)
    passing = [pod("d", cpu=cpu) for cpu in ("0.2", "1.1", "0.2")]
    for p in passing:  # pods come and go; the float sum drifts above 4.0 ...
        load.add(p)
    for p in passing:
        load.add(p, -1)
    assert load.requested["cpu"] > 4.0  # ... and a pod that fits exactly still fits
    assert choose_node(pod(cpu="12"), [view("a")], {"a": load}) == ("a", None)


async def test_the_scheduler_binds_beside_its_next_choices_and_chooses_again_after_a_failed_bind() -> None:
    """Bindings are requests in flight together (not one after the other); a pod counts on its
    node from the moment it is chosen, and a binding the API server refuses (not 404) puts it
    back among the pending, no longer counted on the node."""
    import asyncio

    from local_k8s.agent import scheduler as sched
    from local_k8s.agent.kube import ApiError

    release = asyncio.Event()
    in_flight: list[str] = []

    class FakeKube:
        async def request(self, method: str, path: str, body: dict | None = None, **_) -> dict:
            if path.endswith("/binding"):
                in_flight.append(body["metadata"]["name"])
                await release.wait()
                if body["metadata"]["name"] == "w1" and in_flight.count("w1") == 1:
                    raise ApiError(409, "conflict")
            return {}

    s = sched.Scheduler(FakeKube())
    s.nodes = {"a": view("a")}
    for i in range(3):
        p = pod(f"w{i}", cpu="4")
        p["metadata"].update(uid=f"u{i}", namespace="ns", creationTimestamp=f"2026-01-01T00:00:0{i}Z")
        s.pending[f"u{i}"] = p
    loop = asyncio.create_task(s._bind_loop())
    s._wake.set()
    for _ in range(100):
        if len(in_flight) == 3:
            break
        await asyncio.sleep(0.01)
    assert in_flight == ["w0", "w1", "w2"]  # all three asked before any answer came
    assert s.loads["a"].requested == {"cpu": 12.0} and not s.pending
    release.set()
    for _ in range(100):
        if in_flight.count("w1") == 2:
            break
        await asyncio.sleep(0.01)
    assert in_flight.count("w1") == 2  # refused once, so chosen and bound again
    loop.cancel()
    assert s.loads["a"].requested == {"cpu": 12.0} and set(s.bound) == {"u0", "u1", "u2"}
