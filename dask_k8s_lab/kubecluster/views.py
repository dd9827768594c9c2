"""What a KubeCluster shows: pod logs, dashboard and Jupyter links, the HTML repr."""

from __future__ import annotations

import html
from typing import Any

from dask_k8s_common.contract import COMPONENT_SCHEDULER, COMPONENT_WORKER
from dask_k8s_common.resources import LABEL_CLUSTER, LABEL_COMPONENT
from distributed.utils import Log, Logs, format_dashboard_link
from kr8s.asyncio.objects import Pod

from .. import ownership
from ..progress import ComponentState, render_html


class ViewsMixin:
    """KubeCluster's logs, links and repr (see :class:`.cluster.KubeCluster`)."""

    name: str
    namespace: str | None
    dashboard_endpoint: Any
    _api: Any
    _components: list[ComponentState]

    def get_logs(self) -> Any:
        """Logs of the scheduler and worker pods, keyed by pod name."""
        return self.sync(self._get_pod_logs)  # type: ignore[attr-defined]

    logs = get_logs

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

    @property
    def dashboard_link(self) -> str:
        endpoint = self.dashboard_endpoint
        if endpoint is None:
            return ""
        return ownership.hub_dashboard_link(self.namespace, self.name) or format_dashboard_link(endpoint.host, endpoint.port)

    @property
    def forwarded_dashboard_port(self) -> str | None:
        endpoint = self.dashboard_endpoint
        return str(endpoint.port) if endpoint is not None and endpoint.forwarder is not None else None

    @property
    def jupyter_link(self) -> str:
        return self.dashboard_link.replace("/status", "/jupyter/lab")

    @property
    def components(self) -> list[ComponentState]:
        """The latest state of each component (DaskCluster, scheduler, Service, worker groups)."""
        return list(self._components)

    def _repr_html_(self, cluster_status: str | None = None) -> str:
        table = render_html(self._components) if self._components else ""
        rows = f"<tr><td colspan='2' style='text-align:left'>{table}</td></tr>" if table else ""
        try:
            return super()._repr_html_(cluster_status=(cluster_status or "") + rows)  # type: ignore[misc]
        except Exception:  # an older scheduler's info lacks fields this distributed's template needs
            return f"<div><strong>KubeCluster {html.escape(self.name)}</strong></div>{table}"
