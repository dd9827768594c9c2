"""A node agent killed hard and started again adopts its running pods: no container restarts,
a computation goes on, and `kubectl logs` keeps working. Runs on a node of the test's own (the
shared cluster's first node is left alone), with a Dask cluster whose scheduler and worker are
both on it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from distributed import Client

from local_k8s import nodes
from local_k8s.cluster import LocalCluster
from tests.fixtures.kube import Kubectl, wait_until
from tests.operator.helpers import apply, scheduler_address, small_cluster, wait_phase, wait_ready_workers

pytestmark = pytest.mark.integration

TEST_LABEL = "dask-k8s-lab/test-node"


@pytest.fixture
def own_node(kube: LocalCluster, namespace: str) -> Iterator[str]:
    taint = nodes.parse_taint(f"{TEST_LABEL}={namespace}:NoSchedule")
    node = kube.add_node(f"t{uuid.uuid4().hex[:6]}-r", taints=[taint], labels={TEST_LABEL: namespace})
    try:
        yield node.name
    finally:
        kube.remove_node(node.name)


def runs(kubectl: Kubectl) -> dict[str, tuple]:
    """Per pod of the cluster: its node, and each container's restart count and start time."""
    pods = kubectl.json("pods", "-l", "dask.org/cluster-name=adopt")["items"]
    return {p["metadata"]["name"]: (p["spec"]["nodeName"], [
        (c["restartCount"], c["state"].get("running", {}).get("startedAt")) for c in p["status"]["containerStatuses"]])
        for p in pods}


def test_restarted_agent_adopts_running_pods(kube: LocalCluster, kubectl: Kubectl, namespace: str, own_node: str,
                                             dask_operator) -> None:
    body = small_cluster("adopt", workers=1)
    for role in ("scheduler", "worker"):
        pod_spec = body["spec"][role]["spec"]
        pod_spec["tolerations"] = [{"key": TEST_LABEL, "operator": "Exists", "effect": "NoSchedule"}]
        pod_spec["nodeSelector"] = {TEST_LABEL: namespace}
    apply(kubectl, body)
    wait_phase(kubectl, "adopt", timeout=300)
    wait_ready_workers(kubectl, "daskworkergroup", "adopt-default", 1, timeout=300)
    before = runs(kubectl)
    assert {node for node, _ in before.values()} == {own_node}
    assert all(started for _, containers in before.values() for _, started in containers)

    def slow_inc(x: int) -> int:  # nested, so it travels by value
        time.sleep(0.2)
        return x + 1

    with Client(scheduler_address(kubectl, "adopt"), timeout=60) as client:
        futures = client.map(slow_inc, range(40))
        wait_until(lambda: any(f.done() for f in futures), timeout=60, message="the computation to start")
        kube.restart_agent(own_node)
        assert client.gather(futures) == list(range(1, 41))
        client.run(lambda: print("written after the agent restarted", flush=True))

    # Nothing was restarted: same containers, same start times, still Ready.
    assert runs(kubectl) == before
    wait_ready_workers(kubectl, "daskworkergroup", "adopt-default", 1, timeout=60)
    worker = next(name for name in before if "worker" in name)
    wait_until(lambda: "written after the agent restarted" in kubectl("logs", worker), timeout=30,
               message="the worker's log to go on")
    # The restarted agent still stops containers: deleting the cluster takes its pods away.
    kubectl("delete", "daskcluster", "adopt", "--wait=false")
    wait_until(lambda: not kubectl.json("pods", "-l", "dask.org/cluster-name=adopt")["items"], timeout=120,
               message="the cluster's pods to go")
