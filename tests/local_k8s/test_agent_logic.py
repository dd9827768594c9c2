"""Unit tests of the node agent's pure logic (no cluster needed)."""

from __future__ import annotations

import pytest

from local_k8s.agent import containerspec, podstatus, scheduler
from local_k8s.agent.kubelet_api import select_log
from local_k8s.agent.policies import backoff_delay, should_restart
from local_k8s.agent.services import ServiceView, hosts_file

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "x"}},
       "spec": {"nodeName": "local-node"}, "status": {"podIP": "10.244.0.9"}}


def test_expand_follows_kubernetes_rules() -> None:
    env = {"A": "1", "B": "two"}
    assert containerspec.expand("$(A)-$(B)-$(C)", env) == "1-two-$(C)"
    assert containerspec.expand("$$(A)", env) == "$(A)"


def test_build_env_order_and_sources() -> None:
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "ADDR", "value": "tcp://$(IP):8786"},
            {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ],
        "resources": {"limits": {"cpu": "1500m"}},
    }

    def lookup(kind: str, name: str, key: str, optional: bool):
        data = {("configMap", "cm"): {"X": "y"}, ("secret", "s"): {"k": "v"}}[(kind, name)]
        return data if not key else data[key]

    env = containerspec.build_env(POD, container, {"PATH": "/bin"}, lookup)
    assert env == {"PATH": "/bin", "CM_X": "y", "NAME": "p", "IP": "10.244.0.9", "APP": "x",
                   "ADDR": "tcp://10.244.0.9:8786", "SECRET": "v", "CPU": "2"}


def test_command_line_needs_a_command() -> None:
    assert containerspec.command_line({"args": ["dask", "worker", "$(S)"]}, {"S": "tcp://s:8786"}) == [
        "dask", "worker", "tcp://s:8786"]
    with pytest.raises(ValueError, match="no command or args"):
        containerspec.command_line({"name": "c"}, {})


@pytest.mark.parametrize("image,ok", [("ghcr.io/dask/dask:2024.1.0", True), ("python:3.11", True),
                                      ("daskdev/dask", True), ("nginx", False), ("quay.io/x/redis:7", False)])
def test_check_image(image: str, ok: bool) -> None:
    if ok:
        containerspec.check_image(image)
    else:
        with pytest.raises(containerspec.ImageNotAvailable, match=image.split(":")[0]):
            containerspec.check_image(image)


def test_parse_quantity() -> None:
    assert containerspec.parse_quantity("500m") == 0.5
    assert containerspec.parse_quantity("2Gi") == 2 * 2**30
    assert containerspec.parse_quantity("1e3") == 1000
    with pytest.raises(ValueError):
        containerspec.parse_quantity("lots")


def _pod(requests: dict, selector: dict | None = None) -> dict:
    return {"spec": {"nodeSelector": selector or {}, "containers": [{"resources": {"requests": requests}}]}}


def test_unschedulable_reason() -> None:
    labels, allocatable = {"kubernetes.io/os": "linux"}, {"cpu": "4", "memory": "8Gi"}
    assert scheduler.unschedulable_reason(_pod({"cpu": "2"}), labels, allocatable, []) is None
    assert scheduler.unschedulable_reason(_pod({"cpu": "2"}), labels, allocatable, [_pod({"cpu": "3"})]) == \
        "0/1 nodes are available: 1 Insufficient cpu."
    reason = scheduler.unschedulable_reason(_pod({"memory": "9Gi"}, {"disk": "ssd"}), labels, allocatable, [])
    assert "node affinity/selector" in reason and "Insufficient memory" in reason


def test_phase_from_container_states() -> None:
    running = podstatus.ContainerState("a", "python")
    running.running(1)
    done = podstatus.ContainerState("b", "python")
    done.terminated(0, "Completed")
    failed = podstatus.ContainerState("c", "python")
    failed.terminated(1, "Error")
    assert podstatus.phase([], [running, done], will_restart=False, initialized=True) == "Running"
    assert podstatus.phase([], [done], will_restart=False, initialized=True) == "Succeeded"
    assert podstatus.phase([], [done, failed], will_restart=False, initialized=True) == "Failed"
    assert podstatus.phase([], [failed], will_restart=True, initialized=True) == "Running"
    assert podstatus.phase([failed], [running], will_restart=False, initialized=False) == "Failed"


def test_restart_policy_and_backoff() -> None:
    assert should_restart("Always", 0) and should_restart("OnFailure", 2)
    assert not should_restart("OnFailure", 0) and not should_restart("Never", 1)
    assert [backoff_delay(n) for n in (1, 2, 3, 10)] == [1, 2, 4, 30]


def test_select_log_options() -> None:
    log = (b"2026-01-01T00:00:00.000000000Z one\n"
           b"2026-01-01T00:00:01.000000000Z two\n"
           b"2026-01-01T00:00:02.000000000Z three\n")
    assert select_log(log, timestamps=False, tail=2, since=None, limit=None) == b"two\nthree\n"
    assert select_log(log, timestamps=True, tail=1, since=None, limit=None).startswith(b"2026-01-01T00:00:02")
    assert select_log(log, timestamps=False, tail=None, since=None, limit=5) == b"one\nt"


def test_hosts_file_names_services() -> None:
    svc = ServiceView("ns", "sched", "10.96.0.5", [{"port": 8786}])
    other = ServiceView("other", "db", "10.96.0.6", [{"port": 5432}])
    headless = ServiceView("ns", "hl", None, [], slices={"s": {"endpoints": [
        {"addresses": ["10.244.0.7"], "conditions": {"ready": True}},
        {"addresses": ["10.244.0.8"], "conditions": {"ready": False}}]}})
    text = hosts_file([svc, other, headless], "ns", "pod-a", "10.244.0.9")
    assert "10.244.0.9\tpod-a" in text
    assert "10.96.0.5\tsched.ns.svc.cluster.local sched.ns.svc sched.ns sched\n" in text
    # Short names only resolve within the pod's own namespace.
    assert "10.96.0.6\tdb.other.svc.cluster.local db.other.svc db.other\n" in text
    assert "10.244.0.7\thl.ns" in text and "10.244.0.8" not in text
