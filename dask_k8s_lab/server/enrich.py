"""Cores and memory as a running scheduler sees them (its ``/json/identity.json``), added to the
cluster's JSON when the worker count moves. Part of ``ClusterService`` (see ``service``).

What the scheduler answers is data: only three numbers are read from it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from .config import DaskK8sLab
from .store import ClusterStore, Key

log = logging.getLogger(__name__)


class SchedulerTotals:
    """Polls a scheduler for its workers' threads and memory, a few times, until they add up."""

    config: DaskK8sLab
    store: ClusterStore
    _totals_tasks: dict[Key, asyncio.Task]

    def _maybe_fetch_totals(self, key: Key, model: dict) -> None:
        """Ask a running scheduler for its workers' threads and memory when the worker count moved."""
        if not self.config.query_schedulers or model["phase"] != "Running":
            return
        known = self.store.scheduler_totals.get(key)
        if known is not None and known[2] == model["workers_ready"]:
            return
        task = self._totals_tasks.get(key)
        if task is None or task.done():
            self._totals_tasks[key] = asyncio.ensure_future(self._fetch_totals(key))

    async def _fetch_totals(self, key: Key) -> None:
        from tornado.httpclient import AsyncHTTPClient

        for attempt in range(10):
            model = self.store.models.get(key)
            if model is None or model["phase"] != "Running":
                return
            try:
                host, port = await self.dashboard_target(*key)
                response = await AsyncHTTPClient().fetch(
                    f"http://{host}:{port}/json/identity.json", connect_timeout=3, request_timeout=5
                )
                identity = json.loads(response.body)
                totals = (float(identity["total_threads"]), int(identity["total_memory"]), int(identity["n_workers"]))
            except Exception as e:
                log.debug("no scheduler totals for %s/%s yet: %s", *key, e)
                await asyncio.sleep(1 + attempt)
                continue
            self.store.scheduler_totals[key] = totals
            self._publish(self.store.refresh([key]))
            model = self.store.models.get(key)
            if model is None or totals[2] == model["workers_ready"]:
                return
            await asyncio.sleep(1)  # workers register with the scheduler just after they turn Ready

    if TYPE_CHECKING:  # the other parts of ClusterService
        async def dashboard_target(self, namespace: str, name: str) -> tuple[str, int]: ...
        def _publish(self, changes) -> None: ...
