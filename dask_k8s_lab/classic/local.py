"""The classic scheduler run in this process (``deploy_mode="local"``), with pods as workers."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

import psutil
from distributed.deploy.spec import ProcessInterface
from distributed.scheduler import Scheduler

from .. import networking
from .processes import ClusterContext


def local_addresses() -> set[str]:
    """The IP addresses of this machine's interfaces."""
    return {a.address for addrs in psutil.net_if_addrs().values() for a in addrs
            if a.family in (socket.AF_INET, socket.AF_INET6)}


def node_contact_host(node_ips: Sequence[str], local_ips: set[str]) -> str | None:
    """The address of the node this process runs on, if it is one: pods can reach it."""
    return next((ip for ip in node_ips if ip in local_ips), None)


class LocalScheduler(ProcessInterface):
    """The scheduler in this process (``deploy_mode="local"``).

    Workers connect to ``contact_address``: when this machine is a node of the cluster and the
    scheduler listens on every interface, the node's own address (pods reach their node, not
    necessarily the machine's default-route address); else the scheduler's address.
    """

    def __init__(self, context: ClusterContext, **options: Any):
        super().__init__()
        self.context = context
        self.options = options
        self.scheduler: Scheduler | None = None
        self.contact_address: str | None = None

    async def start(self) -> None:
        self.scheduler = await Scheduler(**self.options)
        self.address = self.scheduler.address
        self.contact_address = self.address
        if self.options.get("host") in (None, "", "0.0.0.0", "::") and not self.options.get(
                "interface"):
            api = await self.context.client()
            host = node_contact_host(await networking.list_node_addresses(api), local_addresses())
            if host is not None:
                port = self.address.rsplit(":", 1)[1]
                self.contact_address = f"{self.address.split('://')[0]}://{host}:{port}"
        await super().start()

    async def close(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.close()
        await super().close()
