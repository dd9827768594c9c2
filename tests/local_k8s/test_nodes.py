"""Several nodes: a Dask cluster's workers spread over them, a worker group's nodeSelector picks
its nodes, and when a node is lost its workers are evicted and recreated on the others while a
computation (with retries) finishes, and the operator says so in events and status.

The test adds two nodes of its own to the shared cluster, tainted so that only this test's
workers (which tolerate the taint) go there, and removes them at the end.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from distributed import Client

from local_k8s import nodes, settings
from local_k8s.cluster import LocalCluster
from tests.fixtures.kube import Kubectl, wait_until
from tests.operator.helpers import (
    apply,
    events,
    get,
    scheduler_address,
    small_cluster,
    wait_phase,
    wait_ready_workers,
)

pytestmark = pytest.mark.integration

TEST_LABEL = "dask-k8s-lab/test-node"


@pytest.fixture
def extra_nodes(kube: LocalCluster, namespace: str) -> Iterator[list[str]]:
    """Two more nodes for this test, tainted and labelled with the test's namespace."""
    tag = uuid.uuid4().hex[:6]
    taint = nodes.parse_taint(f"{TEST_LABEL}={namespace}:NoSchedule")
    added = []
    try:
        for suffix, zone, pool in (("b", "local-b", "general"), ("c", "local-c", "gpu")):
            node = kube.add_node(f"t{tag}-{suffix}", zone=zone, taints=[taint],
                                 labels={TEST_LABEL: namespace, "pool": pool})
            added.append(node.name)
        yield added
    finally:
        for name in added:
            kube.remove_node(name)


def worker_pods(kubectl: Kubectl, cluster: str, group: str | None = None) -> list[dict]:
    selector = f"dask.org/cluster-name={cluster},dask.org/component=worker"
    if group:
        selector += f",dask.org/workergroup-name={group}"
    return [p for p in kubectl.json("pods", "-l", selector)["items"] if not p["metadata"].get("deletionTimestamp")]


def ready_nodes(kubectl: Kubectl, cluster: str, group: str | None = None) -> Counter:
    return Counter(p["spec"]["nodeName"] for p in worker_pods(kubectl, cluster, group)
                   if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or []))


def node_ready(kubectl: Kubectl, name: str) -> str:
    conditions = kubectl.json("node", name)["status"].get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == "Ready"), "Unknown")


def test_workers_spread_follow_selectors_and_survive_a_node_loss(
        kube: LocalCluster, kubectl: Kubectl, namespace: str, extra_nodes: list[str], dask_operator) -> None:
    node_b, node_c = extra_nodes
    toleration = {"key": TEST_LABEL, "operator": "Equal", "value": namespace, "effect": "NoSchedule"}
    body = small_cluster("spread", workers=6)
    body["spec"]["worker"]["spec"]["tolerations"] = [toleration]
    apply(kubectl, body)
    wait_phase(kubectl, "spread", timeout=300)
    wait_ready_workers(kubectl, "daskworkergroup", "spread-default", 6, timeout=420)

    # One owner's pods spread: two workers on each of the three nodes they may use.
    assert ready_nodes(kubectl, "spread") == {settings.NODE_NAME: 2, node_b: 2, node_c: 2}
    # The scheduler pod does not tolerate the test taint: it stays on the first node.
    scheduler_pod = kubectl.json("pods", "-l", "dask.org/cluster-name=spread,dask.org/component=scheduler")["items"][0]
    assert scheduler_pod["spec"]["nodeName"] == settings.NODE_NAME

    # A worker group with a nodeSelector lands only on the matching node.
    group = {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskWorkerGroup",
             "metadata": {"name": "spread-gpu", "labels": {"dask.org/cluster-name": "spread"}},
             "spec": {"cluster": "spread", "worker": copy.deepcopy(body["spec"]["worker"])}}
    group["spec"]["worker"]["replicas"] = 2
    group["spec"]["worker"]["spec"]["nodeSelector"] = {"pool": "gpu", TEST_LABEL: namespace}
    apply(kubectl, group)
    wait_ready_workers(kubectl, "daskworkergroup", "spread-gpu", 2, timeout=300)
    assert ready_nodes(kubectl, "spread", "spread-gpu") == {node_c: 2}

    def slow_inc(x: int) -> int:  # nested, so it travels by value (the pods cannot import tests)
        time.sleep(0.5)
        return x + 1

    with Client(scheduler_address(kubectl, "spread"), timeout=60) as client:
        futures = client.map(slow_inc, range(60), retries=3)
        wait_until(lambda: sum(f.done() for f in futures) >= 5, timeout=120, message="the computation to start")
        kube.stop_node(node_b)
        wait_until(lambda: node_ready(kubectl, node_b) != "True",
                   timeout=settings.NODE_MONITOR_GRACE_SECONDS + 60, message=f"{node_b} NotReady")
        # The computation finishes on the workers left (the lost ones' tasks are retried).
        assert client.gather(futures) == list(range(1, 61))

    # After the toleration, the node lifecycle controller evicts the lost workers and the
    # operator recreates them on the nodes that are left.
    wait_until(lambda: node_b not in ready_nodes(kubectl, "spread", "spread-default")
               and sum(ready_nodes(kubectl, "spread", "spread-default").values()) == 6,
               timeout=settings.NODE_MONITOR_GRACE_SECONDS + settings.NODE_LOSS_TOLERATION_SECONDS + 240,
               message="6 ready default workers, none on the lost node")
    evicted = [p for p in kubectl.json("pods", "-l", "dask.org/cluster-name=spread")["items"]
               if p["spec"].get("nodeName") == node_b]
    assert evicted and all(p["metadata"].get("deletionTimestamp") for p in evicted)
    taints = {t["key"] for t in kubectl.json("node", node_b)["spec"].get("taints") or []}
    assert "node.kubernetes.io/unreachable" in taints

    # The node lifecycle's eviction marks each pod (what the operator reads to tell a lost node
    # from any other deletion), and the operator says what happened: a warning on the group and
    # on its cluster that names the node, and their status, once the workers are replaced.
    conditions = [{c["type"]: c.get("reason") for c in p["status"].get("conditions") or []}
                  for p in evicted]
    assert all(c.get("DisruptionTarget") == "DeletionByTaintManager" for c in conditions), conditions
    lost = f"worker pod(s) were lost with node {node_b} (NotReady)"

    def warned(kind: str, name: str) -> bool:
        return any(e["reason"] == "WorkersLost" and e["type"] == "Warning" and lost in e["message"]
                   for e in events(kubectl, kind, name))

    wait_until(lambda: warned("DaskWorkerGroup", "spread-default") and warned("DaskCluster", "spread"),
               timeout=60, message="WorkersLost warnings on the group and the cluster")
    replaced = f"{len(evicted)} {lost}; replaced"
    wait_until(lambda: get(kubectl, "daskworkergroup", "spread-default")["status"].get("message") == replaced,
               timeout=60, message=f"the group's status saying {replaced!r}")
    # the cluster's status follows its default group's
    wait_until(lambda: get(kubectl, "daskcluster", "spread")["status"].get("message", "").endswith(replaced),
               timeout=60, message=f"the cluster's status saying {replaced!r}")
    assert get(kubectl, "daskcluster", "spread")["status"]["phase"] == "Running"
    assert not any(lost in e["message"] for e in events(kubectl, "DaskWorkerGroup", "spread-gpu"))
