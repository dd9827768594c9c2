"""The logs of a KubeCluster's pods and its HTML repr."""

from __future__ import annotations

import html
from typing import Any

from dask_k8s_common.contract import COMPONENT_SCHEDULER, COMPONENT_WORKER
from dask_k8s_common.resources import LABEL_CLUSTER, LABEL_COMPONENT
from distributed.utils import Logs

from ..kube import pod_logs
from ..progress import ComponentState, render_html


class LogsMixin:
    """KubeCluster's log reading, on its loop (``get_logs`` is on :class:`.cluster.KubeCluster`)."""

    name: str
    namespace: str | None
    _api: Any

    async def _get_pod_logs(self) -> Logs:
        return await pod_logs(
            self._api, self.namespace, {LABEL_CLUSTER: self.name},
            keep=lambda pod: pod.labels.get(LABEL_COMPONENT) in (COMPONENT_SCHEDULER, COMPONENT_WORKER))


def components_row(components: list[ComponentState]) -> str:
    """The component table as a row of distributed's cluster repr (empty without components)."""
    table = render_html(components) if components else ""
    return f"<tr><td colspan='2' style='text-align:left'>{table}</td></tr>" if table else ""


def fallback_repr(name: str, components: list[ComponentState]) -> str:
    """The repr when distributed's own cannot be drawn (an older scheduler's info lacks fields)."""
    table = render_html(components) if components else ""
    return f"<div><strong>KubeCluster {html.escape(name)}</strong></div>{table}"
