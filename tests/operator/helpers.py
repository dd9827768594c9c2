"""Helpers for the operator's integration tests (kubectl, waiting, manifests, Dask clients)."""

from __future__ import annotations

import copy
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from distributed import Client

from tests.fixtures.kube import Kubectl, wait_until

MANIFESTS = Path(__file__).parent / "manifests"
IMAGE = "dask/dask:latest"


def manifest(name: str) -> dict:
    return yaml.safe_load((MANIFESTS / name).read_text())


def small_cluster(name: str, workers: int = 1, **spec: Any) -> dict:
    """A DaskCluster like the docs' example, with a faster readiness probe."""
    body = manifest("cluster.yaml")
    body["metadata"]["name"] = name
    body["spec"]["worker"]["replicas"] = workers
    body["spec"]["scheduler"]["service"]["type"] = "ClusterIP"
    body["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] = name
    probe = body["spec"]["scheduler"]["spec"]["containers"][0]["readinessProbe"]
    probe.update(initialDelaySeconds=0, periodSeconds=1)
    body["spec"].update(spec)
    return body


def worker_group(name: str, cluster: str, replicas: int) -> dict:
    body = manifest("highmemworkers.yaml")
    body["metadata"]["name"] = name
    body["spec"]["cluster"] = cluster
    body["spec"]["worker"]["replicas"] = replicas
    return body


def apply(kubectl: Kubectl, body: dict) -> str:
    return kubectl.apply(yaml.safe_dump(body))


def get(kubectl: Kubectl, kind: str, name: str) -> dict | None:
    out = kubectl("get", kind, name, "-o", "json", check=False)
    return json.loads(out) if out.strip() else None


def pods(kubectl: Kubectl, selector: str) -> list[dict]:
    return [p for p in kubectl.json("pods", "-l", selector)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def group_pods(kubectl: Kubectl, group: str) -> list[dict]:
    return pods(kubectl, f"dask.org/workergroup-name={group},dask.org/component=worker")


def wait_phase(kubectl: Kubectl, cluster: str, phase: str = "Running", timeout: float = 240) -> dict:
    def check():
        body = get(kubectl, "daskcluster", cluster)
        return body if body and (body.get("status") or {}).get("phase") == phase else None

    return wait_until(check, timeout, message=f"DaskCluster {cluster} phase {phase}")


def wait_ready_workers(kubectl: Kubectl, kind: str, name: str, count: int,
                       timeout: float = 240) -> dict:
    def check():
        body = get(kubectl, kind, name)
        status = (body or {}).get("status") or {}
        if status.get("readyReplicas") == count and status.get("replicas") == count:
            return body
        return None

    return wait_until(check, timeout, message=f"{kind} {name} with {count} ready workers")


def wait_gone(kubectl: Kubectl, kind: str, name: str, timeout: float = 60) -> None:
    wait_until(lambda: get(kubectl, kind, name) is None, timeout, message=f"{kind} {name} gone")


def scheduler_address(kubectl: Kubectl, cluster: str) -> str:
    service = kubectl.json("service", f"{cluster}-scheduler")
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "tcp-comm")
    return f"tcp://{service['spec']['clusterIP']}:{port}"


@contextmanager
def dask_client(kubectl: Kubectl, cluster: str):
    with Client(scheduler_address(kubectl, cluster), timeout=30) as client:
        yield client


def events(kubectl: Kubectl, kind: str, name: str) -> list[dict]:
    items = kubectl.json("events", "--field-selector",
                         f"involvedObject.kind={kind},involvedObject.name={name}")["items"]
    return sorted(items, key=lambda e: e.get("lastTimestamp") or "")


def event_reasons(kubectl: Kubectl, kind: str, name: str) -> list[str]:
    return [e["reason"] for e in events(kubectl, kind, name)]


def with_env(body: dict, **env: str) -> dict:
    body = copy.deepcopy(body)
    for container in body["spec"]["worker"]["spec"]["containers"]:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return body
