"""The Node object: registration, capacity, and the heartbeat (a Lease plus the Ready condition)."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
from datetime import datetime, timezone
from typing import Any

from .. import settings
from .kube import ApiError, Kube

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
LEASE_SECONDS = 40


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def capacity() -> dict[str, str]:
    """What the node offers. CPU and memory are overcommitted on purpose (processes share the
    machine freely), but kept finite so that an impossible request is reported Unschedulable."""
    cpu = os.environ.get("LOCAL_K8S_NODE_CPU", str(max(16, (os.cpu_count() or 2) * 8)))
    memory = os.environ.get("LOCAL_K8S_NODE_MEMORY", "64Gi")
    return {"cpu": cpu, "memory": memory, "pods": "250", "ephemeral-storage": "100Gi"}


def node_status(kubelet_port: int) -> dict[str, Any]:
    stamp = now()

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {"type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}

    return {
        "capacity": capacity(),
        "allocatable": capacity(),
        "addresses": [{"type": "InternalIP", "address": settings.NODE_IP},
                      {"type": "Hostname", "address": settings.NODE_NAME}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": {
            "kubeletVersion": f"v{settings.KUBE_VERSION}", "kubeProxyVersion": "",
            "operatingSystem": "linux", "architecture": "amd64" if platform.machine() == "x86_64" else platform.machine(),
            "containerRuntimeVersion": "local-k8s://processes", "kernelVersion": platform.release(),
            "osImage": "local-k8s node agent", "machineID": "", "systemUUID": "", "bootID": "",
        },
        "conditions": [
            condition("Ready", "True", "KubeletReady", "node agent is posting ready status"),
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "no memory pressure"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "no PID pressure"),
        ],
    }


async def register(kube: Kube, kubelet_port: int) -> None:
    body = {"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": settings.NODE_NAME,
        "labels": {"kubernetes.io/hostname": settings.NODE_NAME, "kubernetes.io/os": "linux",
                   "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/local": ""},
    }}
    try:
        await kube.request("POST", "/api/v1/nodes", body)
    except ApiError as e:
        if e.code != 409:
            raise
    await post_status(kube, kubelet_port)


async def post_status(kube: Kube, kubelet_port: int) -> None:
    await kube.merge_patch(f"/api/v1/nodes/{settings.NODE_NAME}/status", {"status": node_status(kubelet_port)})


async def heartbeat(kube: Kube, kubelet_port: int) -> None:
    """Renew the node Lease often and the node status now and then, as a kubelet does."""
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{settings.NODE_NAME}"
    beats = 0
    while True:
        try:
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": settings.NODE_NAME, "namespace": "kube-node-lease"},
                     "spec": {"holderIdentity": settings.NODE_NAME, "leaseDurationSeconds": LEASE_SECONDS,
                              "renewTime": now_micro()}}
            try:
                await kube.merge_patch(lease_path, {"spec": lease["spec"]})
            except ApiError as e:
                if e.code != 404:
                    raise
                await kube.request("POST", lease_path.rsplit("/", 1)[0], lease)
            if beats % 3 == 0:
                await post_status(kube, kubelet_port)
        except Exception as e:  # keep beating through transient API errors
            log.warning("heartbeat failed: %s", e)
        beats += 1
        await asyncio.sleep(HEARTBEAT_SECONDS)
