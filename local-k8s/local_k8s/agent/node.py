"""The Node object: registration, capacity, and the heartbeat (a Lease plus the Ready condition)."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
from datetime import datetime, timezone
from typing import Any

from .. import settings
from ..nodes import HOLLOW_NODE_PODS, NodeConfig
from .kube import ApiError, Kube

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
LEASE_SECONDS = 40


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def capacity(hollow: bool = False) -> dict[str, str]:
    """What the node offers. CPU and memory are overcommitted on purpose (processes share the
    machine freely), but kept finite so that an impossible request is reported Unschedulable."""
    cpu = os.environ.get("LOCAL_K8S_NODE_CPU", str(max(16, (os.cpu_count() or 2) * 8)))
    memory = os.environ.get("LOCAL_K8S_NODE_MEMORY", "64Gi")
    pods = str(HOLLOW_NODE_PODS) if hollow else "250"
    return {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}


def node_status(config: NodeConfig) -> dict[str, Any]:
    stamp = now()

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {"type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}

    return {
        "capacity": capacity(config.hollow),
        "allocatable": capacity(config.hollow),
        "addresses": [{"type": "InternalIP", "address": settings.NODE_IP},
                      {"type": "Hostname", "address": config.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": config.kubelet_port}},
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


async def register(kube: Kube, config: NodeConfig) -> None:
    """Create the Node with its labels and taints (a kubelet's --register-with-taints); a node
    registered before keeps its taints (the node lifecycle controller's among them)."""
    labels = {**config.all_labels(), "node-role.kubernetes.io/local": ""}
    body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": config.name, "labels": labels},
            "spec": {"taints": config.taints, "podCIDR": config.pod_cidr, "podCIDRs": [config.pod_cidr]}}
    try:
        await kube.request("POST", "/api/v1/nodes", body)
    except ApiError as e:
        if e.code != 409:
            raise
        await kube.merge_patch(f"/api/v1/nodes/{config.name}", {"metadata": {"labels": labels}})
    await post_status(kube, config)


async def post_status(kube: Kube, config: NodeConfig) -> None:
    await kube.merge_patch(f"/api/v1/nodes/{config.name}/status", {"status": node_status(config)})


async def heartbeat(kube: Kube, config: NodeConfig) -> None:
    """Renew the node Lease often and the node status now and then, as a kubelet does."""
    name = config.name
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
    beats = 0
    while True:
        try:
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": name, "namespace": "kube-node-lease"},
                     "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS,
                              "renewTime": now_micro()}}
            try:
                await kube.merge_patch(lease_path, {"spec": lease["spec"]})
            except ApiError as e:
                if e.code != 404:
                    raise
                await kube.request("POST", lease_path.rsplit("/", 1)[0], lease)
            if beats % 3 == 0:
                await post_status(kube, config)
        except Exception as e:  # keep beating through transient API errors
            log.warning("heartbeat failed: %s", e)
        beats += 1
        await asyncio.sleep(HEARTBEAT_SECONDS)
