"""The last log lines of a crash-looping container (its previous run), shown in the cluster's
``reason``. Part of ``ClusterService`` (see ``service``)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .backend import KubeBackend
from .config import DaskK8sLab
from .model import IMAGE_PULL_REASONS
from .store import CLUSTER, POD, ClusterStore, Key

log = logging.getLogger(__name__)


class CrashLogs:
    """Fetches, once per restart, the previous run's log tail of a container that keeps dying."""

    config: DaskK8sLab
    backend: KubeBackend
    store: ClusterStore
    _crash_log_tasks: dict[tuple[Key, str, str, int], asyncio.Task]

    def _maybe_fetch_crash_log(self, pod: dict) -> None:
        cluster = self.store.owner_of(POD, pod)
        if cluster is None or self.store.get(CLUSTER, *cluster) is None:  # not (yet) a cluster we show
            return
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            restarts = status.get("restartCount", 0)
            if restarts == 0 or status.get("ready") or waiting.get("reason") in IMAGE_PULL_REASONS:
                continue
            key = (cluster, pod["metadata"]["name"], status.get("name", ""), restarts)
            if key in self._crash_log_tasks:
                continue
            self._crash_log_tasks[key] = asyncio.ensure_future(self._fetch_crash_log(*key))

    async def _fetch_crash_log(self, cluster: Key, pod: str, container: str, restarts: int) -> None:
        try:
            text = await self.backend.pod_logs(cluster[0], pod, container, self.config.crash_log_lines, previous=True)
        except Exception as e:
            log.debug("no previous logs of %s/%s: %s", pod, container, e)
            return
        lines = text.rstrip("\n").splitlines()[-self.config.crash_log_lines :]
        if lines and self.store.get(POD, cluster[0], pod) is not None:
            self.store.set_crash_log(cluster, pod, container, "\n".join(lines))
            self._publish(self.store.refresh([cluster]))

    if TYPE_CHECKING:  # publish.Publisher
        def _publish(self, changes) -> None: ...
