"""The logs of a KubeCluster's pods and its HTML repr."""

from __future__ import annotations

import html
from typing import Any

from dask_k8s_common.contract import COMPONENT_SCHEDULER, COMPONENT_WORKER
from dask_k8s_common.resources import LABEL_CLUSTER, LABEL_COMPONENT
from distributed.utils import Log, Logs
from kr8s.asyncio.objects import Pod

from ..progress import ComponentState, render_html


class LogsMixin:
    """KubeCluster's log reading, on its loop (``get_logs`` is on :class:`.cluster.KubeCluster`)."""

    name: str
    namespace: str | None
    _api: Any

    async def _get_pod_logs(self) -> Logs:
        logs = Logs()
        pods = [p async for p in self._api.async_get(Pod, namespace=self.namespace, label_selector={LABEL_CLUSTER: self.name})]
        for pod in sorted(pods, key=lambda p: p.name):
            component = pod.labels.get(LABEL_COMPONENT)
            if component not in (COMPONENT_SCHEDULER, COMPONENT_WORKER):
                continue
            phase = pod.status.get("phase")
            if phase in ("Pending", None):
                logs[pod.name] = Log(f"Cannot find logs. Pod is {phase}.")
                continue
            try:
                logs[pod.name] = Log("\n".join([line async for line in pod.logs()]))
            except Exception as e:
                logs[pod.name] = Log(f"Cannot read logs: {e}")
        return logs


def components_row(components: list[ComponentState]) -> str:
    """The component table as a row of distributed's cluster repr (empty without components)."""
    table = render_html(components) if components else ""
    return f"<tr><td colspan='2' style='text-align:left'>{table}</td></tr>" if table else ""


def fallback_repr(name: str, components: list[ComponentState]) -> str:
    """The repr when distributed's own cannot be drawn (an older scheduler's info lacks fields)."""
    table = render_html(components) if components else ""
    return f"<div><strong>KubeCluster {html.escape(name)}</strong></div>{table}"
