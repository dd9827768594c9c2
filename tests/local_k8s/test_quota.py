"""ResourceQuota and LimitRange behave as on any cluster: the controller-manager's quota
controller keeps a quota's status, the API server's admission refuses what would exceed it,
and a LimitRange's defaults fill in a container's missing requests and limits."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from tests.fixtures.kube import Kubectl, wait_until

pytestmark = pytest.mark.integration

QUOTA = textwrap.dedent("""
    apiVersion: v1
    kind: ResourceQuota
    metadata: {name: compute}
    spec:
      hard: {requests.cpu: "2", pods: "10"}
""")

LIMITS = textwrap.dedent("""
    apiVersion: v1
    kind: LimitRange
    metadata: {name: defaults}
    spec:
      limits:
      - type: Container
        defaultRequest: {cpu: 250m, memory: 64Mi}
        default: {cpu: 500m, memory: 128Mi}
""")


def pod(name: str, cpu: str | None) -> str:
    container: dict = {"name": "c", "image": "python:3.11", "command": ["sleep", "600"]}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"containers": [container], "terminationGracePeriodSeconds": 0}})


def quota_status(kubectl: Kubectl) -> dict:
    return kubectl.json("resourcequota", "compute").get("status") or {}


def refusal(kubectl: Kubectl, manifest: str) -> str:
    """The API server's message for a pod it refuses (fails the test if it is accepted)."""
    run = subprocess.run(["kubectl", "--namespace", kubectl.namespace, "create", "-f", "-"], input=manifest,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0, f"the pod was accepted: {run.stdout}"
    return run.stderr


def test_quota_status_refusal_and_limitrange_defaults(kubectl: Kubectl) -> None:
    kubectl.apply(QUOTA)
    # The quota controller fills in hard and used (admission refuses every pod until it has).
    status = wait_until(lambda: quota_status(kubectl).get("used") and quota_status(kubectl),
                        message="the quota's status")
    assert status["hard"] == {"requests.cpu": "2", "pods": "10"}
    assert status["used"] == {"requests.cpu": "0", "pods": "0"}

    kubectl("create", "-f", "-", stdin=pod("first", "1500m"))
    wait_until(lambda: quota_status(kubectl)["used"].get("requests.cpu") == "1500m",
               message="used requests.cpu of 1500m")
    assert quota_status(kubectl)["used"]["pods"] == "1"

    # One more CPU would exceed the 2 the quota allows: refused by the API server, quota named.
    message = refusal(kubectl, pod("second", "1"))
    assert 'exceeded quota: compute' in message
    assert "requested: requests.cpu=1, used: requests.cpu=1500m, limited: requests.cpu=2" in message
    assert not kubectl("get", "pods", "--field-selector=metadata.name=second", "-o", "name")

    # A quota on requests.cpu makes a request mandatory ...
    message = refusal(kubectl, pod("bare", None))
    assert "failed quota: compute: must specify requests.cpu" in message

    # ... until a LimitRange supplies defaults, which admission writes into the pod.
    kubectl.apply(LIMITS)
    wait_until(lambda: kubectl("create", "-f", "-", stdin=pod("bare", None), check=False),
               message="the pod without requests to be admitted with the LimitRange's defaults")
    resources = kubectl.json("pod", "bare")["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "250m", "memory": "64Mi"},
                         "limits": {"cpu": "500m", "memory": "128Mi"}}
    wait_until(lambda: quota_status(kubectl)["used"].get("requests.cpu") == "1750m",
               message="used requests.cpu of 1750m")
