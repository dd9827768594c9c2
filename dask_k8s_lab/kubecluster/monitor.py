"""What KubeCluster keeps watching once running: component states, versions and the workers.

``scheduler_info`` is kept by distributed's ``Cluster`` over one subscription comm, which ends
for good when that connection drops (e.g. a port-forward being re-established). Rather than
override distributed's private watcher, ``_resync_workers`` asks the scheduler's public
``identity`` and replaces ``scheduler_info`` when the two have disagreed on the workers for two
polls in a row — a live subscription would have caught up by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from distributed.core import Status
from distributed.objects import SchedulerInfo

from .. import versions
from ..progress import ERROR, ComponentState

logger = logging.getLogger(__name__)

_POLL_RUNNING = 5.0


class MonitorMixin:
    """KubeCluster's background refresh (see :class:`.cluster.KubeCluster`)."""

    name: str
    status: Status
    scheduler_comm: Any
    scheduler_info: Any
    version_skew: dict[str, Any] | None
    _versions_of: frozenset[str] | None
    _components: list[ComponentState]
    _workers_differ: bool = False

    async def _watch_components(self, interval: float = _POLL_RUNNING) -> None:
        """Keep the component states, versions and workers fresh for the live HTML repr."""
        while self.status == Status.running:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await self._resync_workers()
            with contextlib.suppress(Exception):
                await self._check_versions()
                await self._refresh_components()  # type: ignore[attr-defined]

    async def _resync_workers(self) -> None:
        """Replace ``scheduler_info`` with the scheduler's identity when the workers it lists have
        differed from the scheduler's twice in a row (the subscription is gone)."""
        identity = await asyncio.wait_for(self.scheduler_comm.identity(), 10)
        known = set((self.scheduler_info or {}).get("workers") or {})
        differ = set(identity.get("workers") or {}) != known
        if differ and self._workers_differ:
            logger.debug("worker updates of %s stopped; following the scheduler's identity", self.name)
            self.scheduler_info = SchedulerInfo(identity)
            differ = False
        self._workers_differ = differ

    async def _check_versions(self) -> None:
        """Compare this client's versions with the scheduler's and every worker's (asked through
        this client's own connection, as distributed's ``Client.get_versions`` does); again
        whenever the set of workers changed."""
        workers = frozenset((self.scheduler_info or {}).get("workers") or {})
        if self.scheduler_comm is None or workers == self._versions_of:
            return
        try:
            scheduler = await asyncio.wait_for(self.scheduler_comm.versions(), 10)
            replies = await asyncio.wait_for(
                self.scheduler_comm.broadcast(msg={"op": "versions"}, on_error="ignore"), 10
            )
        except Exception as e:  # an older scheduler, a dropped connection: say nothing rather than guess
            logger.debug("cannot compare versions with %s: %s", self.name, e)
            return
        local = versions.local_versions()
        remotes = {
            "scheduler": versions.packages_of(scheduler),
            **versions.group_workers({address: versions.packages_of(v) for address, v in replies.items()}),
        }
        self.version_skew = versions.report(local, versions.compare(local, remotes))
        self._versions_of = workers
        self._components = [c for c in self._components if c.component != "Versions"] + self._version_states()

    def _version_states(self) -> list[ComponentState]:
        skew = self.version_skew
        if skew is None:
            return []
        lines = versions.describe([versions.Mismatch(**m) for m in skew["mismatches"]])
        return [ComponentState("Versions", "notebook vs cluster", "mismatch", ERROR,
                               "\n".join(lines) + f"\nFix: {skew['fix']}")]
