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

from jupyter_server.utils import url_path_join

from .config import DaskK8sLab

SERVICE_SETTING = "dask_k8s_lab_service"


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "dask_k8s_lab.server"}]


def _import_object(path: str):
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


def _load_jupyter_server_extension(serverapp) -> None:
    from .handlers import rest_handlers
    from .proxy import proxy_handlers
    from .service import ClusterService
    from .stream import StreamHandler

    config = DaskK8sLab(parent=serverapp)
    backend = _import_object(config.kube_backend_class)(config)
    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    service = ClusterService(config, backend, base_url=base_url)
    web_app.settings[SERVICE_SETTING] = service

    handlers = [*rest_handlers(), (r"/dask-k8s/stream/?", StreamHandler), *proxy_handlers(service)]
    web_app.add_handlers(
        ".*$", [(url_path_join(base_url, pattern), *rest) for pattern, *rest in handlers]
    )
    _start_soon(service)
    serverapp.log.info(
        "dask-k8s-lab: cluster API at %s (namespaces: %s)",
        url_path_join(base_url, "dask-k8s"),
        ", ".join(config.namespaces) or "from the current context",
    )


def _start_soon(service) -> None:
    try:
        asyncio.get_running_loop().create_task(service.start())
    except RuntimeError:
        from tornado.ioloop import IOLoop

        IOLoop.current().add_callback(service.start)


async def _unload_jupyter_server_extension(serverapp) -> None:
    service = serverapp.web_app.settings.get(SERVICE_SETTING)
    if service is not None:
        await service.close()


# The names older Jupyter servers look for.
_jupyter_server_extension_paths = _jupyter_server_extension_points
load_jupyter_server_extension = _load_jupyter_server_extension
