"""Hollow pods (agent/hollow.py): the pure parts, then a few hollow pods on a node of the test's
own (its agent runs this tree's code; the shared cluster's first node is left alone)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from local_k8s import nodes
from local_k8s.agent import hollow, node
from local_k8s.cluster import LocalCluster

from tests.fixtures.kube import Kubectl, wait_until

TEST_LABEL = "dask-k8s-lab/test-node"


def pod(annotations: dict[str, str] | None = None, **containers: dict) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "annotations": annotations or {},
                         "labels": {"big": "x" * 1000}},
            "spec": {"containers": [{"name": n, "image": "ghcr.io/dask/dask:latest", "command": ["dask"], **c}
                                    for n, c in (containers or {"main": {}}).items()]}}


def test_hollow_by_annotation_or_node() -> None:
    assert hollow.is_hollow(pod({nodes.HOLLOW: "true"}))
    assert hollow.is_hollow(pod({nodes.HOLLOW: " True "}))
    assert not hollow.is_hollow(pod({nodes.HOLLOW: "false"}))
    assert not hollow.is_hollow(pod())
    assert hollow.is_hollow(pod(), on_hollow_node=True)
    assert nodes.new_node(1, labels={nodes.HOLLOW: "true"}).hollow
    assert not nodes.new_node(1).hollow


def test_hollow_node_holds_many_pods() -> None:
    assert int(node.capacity(hollow=True)["pods"]) == nodes.HOLLOW_NODE_PODS > int(node.capacity()["pods"])


def test_timeline_follows_the_probes_initial_delays() -> None:
    probe = {"httpGet": {"port": 8787, "path": "/health"}, "initialDelaySeconds": 5, "periodSeconds": 10}
    timeline = hollow.Timeline.of(pod(
        {hollow.START_ANNOTATION: "1.5"},
        plain={}, probed={"readinessProbe": probe}, slow={"startupProbe": {"initialDelaySeconds": 2},
                                                          "readinessProbe": probe}))
    assert timeline.start == 1.5
    assert timeline.ready == (1.5, 6.5, 8.5)
    assert timeline.steps() == [1.5, 6.5, 8.5]
    assert hollow.Timeline.of(pod()).start == hollow.DEFAULT_START_SECONDS
    assert hollow.Timeline.of(pod({hollow.START_ANNOTATION: "soon"})).start == hollow.DEFAULT_START_SECONDS
    assert hollow.Timeline.of(pod({hollow.START_ANNOTATION: "-3"})).start == 0


def test_slim_keeps_only_what_the_status_needs() -> None:
    full = pod(main={"resources": {"requests": {"cpu": "1"}}, "env": [{"name": "X", "value": "y" * 1000}]})
    small = hollow.slim(full)
    assert small["metadata"] == {"uid": "u1", "name": "p", "namespace": "ns"}
    assert small["spec"]["containers"] == [{"name": "main", "image": "ghcr.io/dask/dask:latest",
                                            "resources": {"requests": {"cpu": "1"}}}]
    assert len(repr(small)) < len(repr(full)) / 5


# ---- on a node of the test's own --------------------------------------------------------------


@pytest.fixture
def own_node(kube: LocalCluster, namespace: str) -> Iterator[str]:
    taint = nodes.parse_taint(f"{TEST_LABEL}={namespace}:NoSchedule")
    added = kube.add_node(f"t{uuid.uuid4().hex[:6]}-h", taints=[taint], labels={TEST_LABEL: namespace})
    try:
        yield added.name
    finally:
        kube.remove_node(added.name)


def hollow_pod(name: str, namespace: str, ready_delay: int = 0) -> str:
    probe = (f"""
    readinessProbe:
      httpGet: {{port: 8787, path: /health}}
      initialDelaySeconds: {ready_delay}""" if ready_delay else "")
    return f"""
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  annotations: {{"{nodes.HOLLOW}": "true"}}
spec:
  nodeSelector: {{"{TEST_LABEL}": "{namespace}"}}
  tolerations: [{{key: "{TEST_LABEL}", operator: Exists, effect: NoSchedule}}]
  containers:
  - name: worker
    image: ghcr.io/dask/dask:latest
    command: ["sh", "-c", "exit 3"]{probe}
"""


def stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.integration
def test_hollow_pods_run_no_process_and_go_at_once(kube: LocalCluster, kubectl: Kubectl, namespace: str,
                                                   own_node: str) -> None:
    kubectl.apply("---".join([hollow_pod("h0", namespace), hollow_pod("h1", namespace),
                              hollow_pod("probed", namespace, ready_delay=2)]))

    def ready() -> list[dict] | None:
        items = kubectl.json("pods")["items"]
        done = [p for p in items if p.get("status", {}).get("phase") == "Running"
                and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])]
        return items if len(done) == 3 else None

    items = wait_until(ready, timeout=60, message="three hollow pods Running and Ready")
    by_name = {p["metadata"]["name"]: p for p in items}
    ips = set()
    for p in items:
        assert p["spec"]["nodeName"] == own_node
        container = p["status"]["containerStatuses"][0]
        # Its command would exit 3: it never ran, nor is anything of it on the node.
        assert container["restartCount"] == 0 and "running" in container["state"]
        assert "containerID" not in container
        assert not (kube.layout.pods / p["metadata"]["uid"]).exists()
        ips.add(p["status"]["podIP"])
    assert len(ips) == 3
    probed = by_name["probed"]["status"]
    started = stamp(probed["containerStatuses"][0]["state"]["running"]["startedAt"])
    ready_at = stamp(next(c for c in probed["conditions"] if c["type"] == "Ready")["lastTransitionTime"])
    assert (ready_at - started).total_seconds() >= 2  # not before its readiness probe could pass

    # Deleted with the default 30 s grace, a hollow pod has nothing to wait for.
    kubectl("delete", "pod", "h0", "h1", "probed", "--wait=false")
    wait_until(lambda: not kubectl.json("pods")["items"], timeout=20, message="hollow pods gone")
