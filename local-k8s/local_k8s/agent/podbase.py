"""What every pod on this node has, be it run as processes (podrunner.py) or hollow (hollow.py):
the node's shared context, and the interface the pod manager and the kubelet API use."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import network, settings
from .imagestore import ImageStore
from .kube import ApiError, Kube
from .node import now
from .podstatus import ContainerState, pod_status

log = logging.getLogger(__name__)


@dataclass
class NodeContext:
    """What every pod runner shares."""

    kube: Kube
    root: Path  # the state folder's pods/ folder
    ips: network.PodIPs
    hosts_for: Callable[[str, str, str], str]  # (namespace, pod name, pod ip) -> hosts file
    mountpoints: Callable[[list[str]], None]  # remember host folders made for mounts
    images: ImageStore
    node_name: str = settings.NODE_NAME
    hollow_node: bool = False  # every pod here is hollow (agent/hollow.py)


def container_states(containers: list[dict[str, Any]]) -> list[ContainerState]:
    return [ContainerState(c["name"], c.get("image", "")) for c in containers]


class PodBase:
    """A pod this node runs, as the pod manager (pods.py) and the kubelet API see it. The defaults
    are those of a pod with no process, no logs and no network namespace."""

    kind = "pod"  # what log lines call it

    def __init__(self, ctx: NodeContext, pod: dict[str, Any]) -> None:
        self.ctx = ctx
        self.pod = pod
        meta, spec = pod["metadata"], pod["spec"]
        self.uid, self.name, self.namespace = meta["uid"], meta["name"], meta["namespace"]
        self.init = container_states(spec.get("initContainers") or [])
        self.main = container_states(spec["containers"])
        self.ip: str | None = None
        self._ip_taken = False  # self.ip is from the node's pool (not the node's own address)
        self.start_time = now()
        self.transitions: dict[str, str] = {}
        self.deleting = asyncio.Event()
        self.gone = False  # the API object is gone already (deleted with no grace)

    # ---- the pod manager's and kubelet API's interface ----------------------------------

    def update(self, pod: dict[str, Any]) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self.deleting.set()

    def removed(self) -> None:
        self.gone = True
        self.deleting.set()

    def refresh_hosts(self) -> None:
        pass

    def log_path(self, container: str, previous: bool = False) -> Path | None:
        return None

    def is_running(self, container: str) -> bool:
        return False

    async def run(self) -> None:
        raise NotImplementedError

    async def kill_now(self) -> None:
        """Agent shutdown or forced removal: no grace, no API calls."""
        raise NotImplementedError

    # ---- shared steps ---------------------------------------------------------------------

    def _pod_status(self, *, initialized: bool, will_restart: bool, sandbox_ready: bool) -> dict[str, Any]:
        return pod_status(self.pod, ip=self.ip, start_time=self.start_time, init=self.init, main=self.main,
                          initialized=initialized, will_restart=will_restart, sandbox_ready=sandbox_ready,
                          transitions=self.transitions)

    async def _post_status(self, status: dict[str, Any]) -> bool:
        """Patch the pod's status; False if not posted (a pod gone from the API is `removed`)."""
        try:
            await self.ctx.kube.merge_patch(f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status",
                                            {"status": status})
            return True
        except ApiError as e:
            if e.code == 404:
                self.removed()
            else:
                log.warning("status of %s %s/%s not posted: %s", self.kind, self.namespace, self.name, e)
            return False

    async def _delete_from_api(self) -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": self.uid}}
        try:
            await self.ctx.kube.request("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{self.name}", body)
        except ApiError as e:
            if e.code not in (404, 409):
                log.warning("deleting %s %s/%s failed: %s", self.kind, self.namespace, self.name, e)

    def _release_ip(self) -> None:
        # The status keeps showing the address, as for any finished pod.
        if self._ip_taken and self.ip:
            self.ctx.ips.give_back(self.ip)
            self._ip_taken = False
