"""A pod's sandbox: its network namespace with an address from the node's pool (or the node's own
network), its hosts file and its volumes. Part of PodRunner (podrunner.py)."""

from __future__ import annotations

import asyncio

from .. import network, settings
from . import events
from .volumes import VolumeError


class SandboxMixin:
    """Sets up and tears down the pod's sandbox (PodRunner's part for it)."""

    def refresh_hosts(self) -> None:
        if self.netns and self.ip:
            network.update_hosts(self.uid, self.ctx.hosts_for(self.namespace, self.name, self.ip))

    async def _setup_sandbox(self) -> None:
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        if self.host_network:
            self.ip = settings.NODE_IP
        else:
            self.ip = self.ctx.ips.take()
            self._ip_taken = True
            search = [f"{self.namespace}.svc.{settings.CLUSTER_DOMAIN}", f"svc.{settings.CLUSTER_DOMAIN}",
                      settings.CLUSTER_DOMAIN]
            self.netns = await asyncio.to_thread(
                network.create_pod_netns, self.uid, self.ip, self.ctx.hosts_for(self.namespace, self.name, self.ip), search)
        self.sandbox_ready = True
        self._changed.set()
        while True:
            try:
                await self.volumes.setup()
                return
            except VolumeError as e:
                for state in self.init + self.main:
                    state.waiting("ContainerCreating", str(e))
                self._changed.set()
                await events.emit(self.ctx.kube, self.pod, "FailedMount", f"MountVolume.SetUp failed: {e}", warning=True)
                await asyncio.sleep(5)

    def _teardown_sandbox(self) -> None:
        if self.netns:
            network.delete_pod_netns(self.uid)
            self.netns = None
        self._release_ip()
        self.sandbox_ready = False
