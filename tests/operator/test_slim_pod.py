"""The store keeps of a pod only what the operator reads: ``slim_pod`` changes no summary."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from dask_k8s_operator import builders, store
from dask_k8s_operator.pods import slim_pod, summarize_pod

MANIFESTS = __import__("pathlib").Path(__file__).parent / "manifests"
T = "2026-01-01T00:00:00Z"


def full_pod(status: dict, **meta) -> dict:
    """A worker pod as the API server returns it: the operator's manifest, then what the API
    server and the kubelet add (defaults, managed fields, status)."""
    cluster = yaml.safe_load((MANIFESTS / "cluster.yaml").read_text())
    cluster["metadata"].update(namespace="ns", uid="c-uid")
    group = builders.build_default_worker_group(cluster)
    group["metadata"].update(uid="g-uid")
    pod = builders.build_worker_pod(group, builders.new_worker_pod_name("simple-default"))
    pod.update(apiVersion="v1", kind="Pod")
    pod["metadata"].update(uid="p-uid", resourceVersion="42", creationTimestamp=T, **meta)
    pod["metadata"]["managedFields"] = [{"manager": "kr8s", "operation": "Update", "time": T,
                                         "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"x": {}}}}] * 4
    pod["spec"].update(nodeName="node-1", dnsPolicy="ClusterFirst", schedulerName="default-scheduler",
                       tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}])
    pod["status"] = {"hostIP": "10.1.0.1", "qosClass": "BestEffort", **status}
    return pod


def container_status(state: dict, last: dict | None = None, restarts: int = 0) -> dict:
    return {"name": "worker", "image": "dask/dask:latest", "imageID": "sha256:abc",
            "containerID": "containerd://abc", "ready": "running" in state, "started": True,
            "restartCount": restarts, "state": state, "lastState": last or {}}


REALISTIC = [
    full_pod({}),
    full_pod({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
              "containerStatuses": [container_status({"waiting": {"reason": "ContainerCreating"}})]}),
    full_pod({"phase": "Running", "podIP": "10.244.0.7", "startTime": T,
              "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": T}],
              "containerStatuses": [container_status({"running": {"startedAt": T}})]}),
    full_pod({"phase": "Running", "podIP": "10.244.0.8",
              "containerStatuses": [container_status(
                  {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}},
                  {"terminated": {"exitCode": 3, "reason": "Error"}}, restarts=4)]}),
    full_pod({"phase": "Failed", "reason": "Evicted",
              "containerStatuses": [container_status({"terminated": {"exitCode": 137}})]}),
    full_pod({"phase": "Running", "podIP": "10.244.0.9",
              "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager"},
                             {"type": "Ready", "status": "False"}]},
             deletionTimestamp=T, annotations={builders.RETIRING_ANNOTATION: T,
                                               builders.SPEC_HASH_ANNOTATION: "h"}),
]


@pytest.mark.parametrize("pod", REALISTIC)
def test_a_slim_pod_summarizes_the_same(pod):
    before = copy.deepcopy(pod)
    slim = slim_pod(pod)
    assert summarize_pod(slim) == summarize_pod(pod)
    assert pod == before  # the input is untouched
    for key in ("name", "namespace", "uid", "labels", "annotations", "ownerReferences",
                "resourceVersion", "creationTimestamp"):
        assert slim["metadata"].get(key) == pod["metadata"].get(key)
    assert slim["kind"] == "Pod" and slim["status"].get("startTime") == pod["status"].get("startTime")
    assert len(json.dumps(slim)) < len(json.dumps(pod)) / 2


def test_the_store_keeps_slim_pods_only():
    store.clear()
    try:
        pod = REALISTIC[2]
        store.put("pods", pod)
        assert store.get("pods", "ns", pod["metadata"]["name"]) == slim_pod(pod)
        assert "managedFields" not in store.get("pods", "ns", pod["metadata"]["name"])["metadata"]
    finally:
        store.clear()
