"""Waiting for a DaskCluster to start, and saying why when it does not.

The phase is polled often; pods, the Service and events (far dearer for the API server) only as
often as a person reads the progress display. A scheduler that crashes, an Error that lasts or a
phase that does not move within ``resource_timeout`` ends the wait with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from dask_k8s_common.contract import (
    COMPONENT_SCHEDULER,
    SCHEDULER_PORT,
    SCHEDULER_PORT_NAME,
)
from dask_k8s_common.resources import (
    LABEL_CLUSTER,
    LABEL_COMPONENT,
    DaskCluster,
    scheduler_name,
)
from kr8s.asyncio.objects import Pod, Service

from ..kube import fetch, list_raw, pod_log_tail
from ..networking import candidate_addresses, tcp_reachable
from ..progress import (
    ComponentState,
    StartupDisplay,
    fatal_container_reason,
    stuck_reasons,
    summarize,
)
from ..specs import scheduler_service_name
from .errors import (
    SchedulerStartupError,
    disappeared_message,
    operator_missing_message,
    reported_error_message,
    scheduler_failed_message,
    still_pending_message,
)

_POLL_STARTING = 0.2  # the DaskCluster's phase, while starting
_REFRESH_STARTING = 1.0  # pods, Service and events for the progress display, while starting
#: How long an Error phase must last before KubeCluster gives up (the operator retries).
_ERROR_GRACE = 15.0


class StartupMixin:
    """KubeCluster's start-up wait and component states (see :class:`.cluster.KubeCluster`)."""

    name: str
    namespace: str | None
    comm_endpoint: Any
    _api: Any
    _options: Any
    _components: list[ComponentState]
    _log_cache: dict[tuple[str, int], str]
    _display: StartupDisplay | None


    async def _snapshot(self, with_events: bool) -> tuple[dict | None, list[dict], dict | None, list[dict]]:
        api, ns = self._api, self.namespace
        cluster_task = fetch(DaskCluster, self.name, ns, api)
        pods_task = list_raw(api, Pod, ns, label_selector={LABEL_CLUSTER: self.name})
        service_task = fetch(Service, scheduler_service_name(self.name), ns, api)
        cluster, pods, service = await asyncio.gather(cluster_task, pods_task, service_task)
        events: list[dict] = []
        if with_events:
            with contextlib.suppress(Exception):
                events = await list_raw(api, "events", ns)
        return (cluster.raw if cluster else None), pods, (service.raw if service else None), events

    async def _refresh_components(self, with_events: bool = False) -> tuple[dict | None, list[dict]]:
        cluster, pods, service, events = await self._snapshot(with_events)
        connection = ""
        if self.comm_endpoint is not None:
            connection = f"{self.comm_endpoint.mode} {self.comm_endpoint.address}"
        tails = await self._crash_log_tails(pods)
        self._components = summarize(
            cluster, pods, service, events, cluster_name=self.name, connection=connection, log_tails=tails
        ) + self._version_states()
        return cluster, pods

    async def _crash_log_tails(self, pods: list[dict]) -> dict[str, str]:
        """Last log lines of crashing pods, read once per restart."""
        tails: dict[str, str] = {}
        for pod in pods:
            if fatal_container_reason(pod) is None:
                continue
            restarts = sum(cs.get("restartCount", 0) for cs in (pod.get("status") or {}).get("containerStatuses") or [])
            key = (pod["metadata"]["name"], restarts)
            if key not in self._log_cache:
                self._log_cache[key] = await pod_log_tail(Pod(pod, namespace=self.namespace, api=self._api), lines=5)
            tails[key[0]] = self._log_cache[key]
        return tails

    async def _wait_for_running(self) -> None:
        """Wait until the scheduler can be reached (the operator reports Running, or sooner, see
        ``_scheduler_reachable``); fail with the reason when it cannot get there."""
        timeout = self._options.resource_timeout
        start = time.monotonic()
        picked_up_at: float | None = None
        error_since: float | None = None
        with_events = False
        refreshed_at = -_REFRESH_STARTING
        pods: list[dict] = []
        while True:
            if time.monotonic() - refreshed_at >= _REFRESH_STARTING:
                refreshed_at = time.monotonic()
                cluster, pods = await self._refresh_components(with_events)
                if self._display is not None:
                    self._display.update(self._components)
                scheduler = next((p for p in pods if (p["metadata"].get("labels") or {}).get(LABEL_COMPONENT)
                                  == COMPONENT_SCHEDULER), None)
            else:
                found, pod = await asyncio.gather(
                    fetch(DaskCluster, self.name, self.namespace, self._api),
                    fetch(Pod, scheduler_name(self.name), self.namespace, self._api),
                )
                cluster = found.raw if found else None
                scheduler = pod.raw if pod else None
            now = time.monotonic()
            if cluster is None:
                raise RuntimeError(disappeared_message(self.name, str(self.namespace)))
            phase = (cluster.get("status") or {}).get("phase")
            if phase != "Running":
                await self._check_scheduler_failed(pods)
            if phase == "Running" or (phase not in (None, "Error") and await self._scheduler_reachable(scheduler)):
                if refreshed_at < now - _POLL_STARTING:  # the display ends on what is true now
                    await self._refresh_components()
                return
            # The operator retries after an Error (e.g. a failed API call), so only an Error that
            # lasts is final.
            error_since = (error_since or now) if phase == "Error" else None
            if error_since is not None and now - error_since > min(_ERROR_GRACE, timeout):
                raise RuntimeError(reported_error_message(self.name, stuck_reasons(self._components)))
            if phase is None:
                if now - start > timeout:
                    raise TimeoutError(operator_missing_message(self.name, str(self.namespace), timeout))
            else:
                picked_up_at = picked_up_at or now
                if now - picked_up_at > timeout:
                    raise TimeoutError(still_pending_message(self.name, phase, timeout, stuck_reasons(self._components)))
            # Ask for events only once something looks slow, to keep each poll cheap.
            with_events = now - start > 2
            await asyncio.sleep(_POLL_STARTING)

    async def _scheduler_reachable(self, pod: dict | None) -> bool:
        """Whether the scheduler can be reached directly already: its pod is Ready (it serves) and
        its Service accepts connections. This saves waiting for the operator to notice and report
        Running; a scheduler reached only through a port-forward still waits for Running."""
        conditions = ((pod or {}).get("status") or {}).get("conditions") or []
        if pod is None or pod["metadata"].get("deletionTimestamp") or not any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
        ):
            return False
        service = await fetch(Service, scheduler_service_name(self.name), self.namespace, self._api)
        if service is None:
            return False
        try:
            candidates = candidate_addresses(
                service.raw, SCHEDULER_PORT_NAME, default_port=SCHEDULER_PORT,
                port_forward_cluster_ip=self._options.port_forward_cluster_ip,
            )
        except LookupError:
            return False
        for candidate in candidates:
            if await tcp_reachable(candidate.host, candidate.port, self._options.direct_connect_timeout):
                return True
        return False

    async def _check_scheduler_failed(self, pods: list[dict]) -> None:
        for pod in pods:
            labels = (pod.get("metadata") or {}).get("labels") or {}
            if labels.get(LABEL_COMPONENT) != COMPONENT_SCHEDULER:
                continue
            reason = fatal_container_reason(pod)
            if reason is None:
                continue
            name = pod["metadata"]["name"]
            tail = await pod_log_tail(Pod(pod, namespace=self.namespace, api=self._api))
            raise SchedulerStartupError(scheduler_failed_message(self.name, reason, name, tail))
