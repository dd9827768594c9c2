"""Kubernetes Events about pods, so `kubectl describe pod` tells what the node did."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from .kube import Kube
from .node import now

log = logging.getLogger(__name__)


async def emit(kube: Kube, obj: dict[str, Any], reason: str, message: str, *, warning: bool = False,
               component: str = "kubelet") -> None:
    meta = obj["metadata"]
    stamp = now()
    event = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:12]}", "namespace": meta["namespace"]},
        "involvedObject": {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj.get("kind", "Pod"),
                           "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
        "reason": reason, "message": message, "type": "Warning" if warning else "Normal",
        "source": {"component": component, "host": "local-node"},
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
    }
    try:
        await kube.request("POST", f"/api/v1/namespaces/{meta['namespace']}/events", event)
    except Exception as e:  # events are best effort; never fail a pod over one
        log.debug("event %s for %s not posted: %s", reason, meta["name"], e)
