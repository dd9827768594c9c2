"""Jupyter server extension: Dask clusters on Kubernetes over REST, a live stream, dashboards.

Enabled by ``jupyter-config/jupyter_server_config.d/dask_k8s_lab.json`` (installed with the
wheel) or ``--ServerApp.jpserver_extensions="{'dask_k8s_lab.server': True}"``. The REST API is
described in ``openapi.yaml`` next to this file. Configuration, e.g. in
``jupyter_server_config.py`` (a JupyterHub or Kubeflow spawner can write the same, or set the
``DASK_K8S_LAB_NAMESPACES`` / ``DASK_K8S_LAB_DEFAULT_IMAGE`` environment variables)::

    c.DaskK8sLab.namespaces = ["team-a", "team-b"]   # default: the pod's or kubeconfig's namespace
    c.DaskK8sLab.default_image = "myorg/dask:2026.8"
    c.DaskK8sLab.allow_image_choice = False
    c.DaskK8sLab.templates = [
        {"name": "gpu", "description": "One GPU worker",
         "options": {"n_workers": 1, "resources": {"limits": {"nvidia.com/gpu": 1}}}},
    ]
    c.DaskK8sLab.dashboard_connection = "auto"   # or "direct" / "port-forward"

The server's Kubernetes identity (its kubeconfig, or its pod's service account) needs get, list
and watch on daskclusters, daskworkergroups, daskautoscalers, pods and events, plus create, patch
and delete on the three Dask kinds, get on services and pods/log, and get and create on
pods/portforward (dashboards when the server is outside the cluster network).
"""

from __future__ import annotations

import asyncio
from importlib import import_module

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join

from .config import DaskK8sLab

SERVICE_SETTING = "dask_k8s_lab_service"


def _import_object(path: str):
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


class DaskK8sLabExtension(ExtensionApp):
    """Adds the REST, stream and dashboard routes; stops the watches when the server stops."""

    name = "dask_k8s_lab"
    load_other_extensions = True

    def initialize_settings(self) -> None:
        from .service import ClusterService

        config = DaskK8sLab(parent=self.serverapp)
        backend = _import_object(config.kube_backend_class)(config)
        self.service = ClusterService(config, backend, base_url=self.serverapp.base_url)
        self.settings[SERVICE_SETTING] = self.service
        _start_soon(self.service)
        self.log.info(
            "dask-k8s-lab: cluster API at %s (namespaces: %s)",
            url_path_join(self.serverapp.base_url, "dask-k8s"),
            ", ".join(config.namespaces) or "from the current context",
        )

    def initialize_handlers(self) -> None:
        from .handlers import rest_handlers
        from .proxy import proxy_handlers
        from .stream import StreamHandler

        self.handlers.extend([*rest_handlers(), (r"/dask-k8s/stream/?", StreamHandler), *proxy_handlers(self.service)])

    async def stop_extension(self) -> None:
        await self.service.close()


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "dask_k8s_lab.server", "app": DaskK8sLabExtension}]


def _start_soon(service) -> None:
    try:
        asyncio.get_running_loop().create_task(service.start())
    except RuntimeError:
        from tornado.ioloop import IOLoop

        IOLoop.current().add_callback(service.start)
