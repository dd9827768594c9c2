"""Traitlets configuration of the server extension (``c.DaskK8sLab.<trait>``).

Everything here can be set in a ``jupyter_server_config.py``, on the command line
(``--DaskK8sLab.namespaces='["team-a"]'``), or by a JupyterHub / Kubeflow spawner that writes one
of those files; ``namespaces`` and ``default_image`` can also come from the environment variables
``DASK_K8S_LAB_NAMESPACES`` (comma separated) and ``DASK_K8S_LAB_DEFAULT_IMAGE``.
"""

from __future__ import annotations

import os

from traitlets import Bool, Dict, Enum, Float, Int, List, TraitError, Unicode, default, validate
from traitlets.config import Configurable

# Distributions of Dask publish this image; it is the one the docs of the Dask operator use.
FALLBACK_IMAGE = "dask/dask:latest"

SERVICE_ACCOUNT_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


class DaskK8sLab(Configurable):
    """Dask clusters on Kubernetes, managed from Jupyter."""

    namespaces = List(
        Unicode(),
        help=(
            "Namespaces whose DaskClusters this server lists and manages. The first is where new "
            "clusters go unless a request names another. Empty (the default): the namespace of the "
            "server's own pod when it runs in Kubernetes, else the current kubeconfig context's."
        ),
    ).tag(config=True)

    @default("namespaces")
    def _default_namespaces(self) -> list[str]:
        from_env = os.environ.get("DASK_K8S_LAB_NAMESPACES", "")
        return [ns.strip() for ns in from_env.split(",") if ns.strip()]

    default_image = Unicode(
        help="Container image for schedulers and workers when a request or template names none.",
    ).tag(config=True)

    @default("default_image")
    def _default_default_image(self) -> str:
        if os.environ.get("DASK_K8S_LAB_DEFAULT_IMAGE"):
            return os.environ["DASK_K8S_LAB_DEFAULT_IMAGE"]
        try:  # the same default as KubeCluster (the ``kubernetes.image`` Dask config)
            from dask_k8s_lab import config as dask_config

            return dask_config.get("image") or FALLBACK_IMAGE
        except Exception:
            return FALLBACK_IMAGE

    allow_image_choice = Bool(
        True,
        help="Whether users may pick an image for a cluster or worker group (else the default or the template's).",
    ).tag(config=True)

    owner = Unicode(
        None,
        allow_none=True,
        help=(
            "The JupyterHub user this server works for (default: $JUPYTERHUB_USER, which the hub "
            "sets in the servers it spawns). Clusters created here record it, and only that "
            "user's clusters are listed and can be acted on. None (outside JupyterHub): nothing "
            "recorded, every cluster in the namespaces shown."
        ),
    ).tag(config=True)

    @default("owner")
    def _default_owner(self) -> str | None:
        from dask_k8s_lab.ownership import hub_user

        return hub_user()

    show_all_clusters = Bool(
        help=(
            "Show and manage every user's clusters, not only the owner's (for an admin's server; "
            "default: $DASK_K8S_LAB_SHOW_ALL_CLUSTERS is 'true')."
        ),
    ).tag(config=True)

    @default("show_all_clusters")
    def _default_show_all_clusters(self) -> bool:
        return os.environ.get("DASK_K8S_LAB_SHOW_ALL_CLUSTERS", "").lower() in ("1", "true", "yes")

    stop_with_server = Bool(
        True,
        help=(
            "Give clusters created here an owner reference to this server's pod (named by "
            "$DASK_K8S_LAB_POD_NAMESPACE, _NAME and _UID, which a spawner sets from the downward "
            "API), so that stopping the server deletes them; a create request with "
            '"keep": true opts out for that cluster.'
        ),
    ).tag(config=True)

    templates = List(
        Dict(),
        help=(
            "Cluster templates offered to users: a list of "
            '{"name": str, "description": str, "options": {...}} where options holds defaults for '
            "any field of the create request (image, n_workers, resources, env, worker_groups)."
        ),
    ).tag(config=True)

    @default("templates")
    def _default_templates(self) -> list[dict]:
        return [
            {
                "name": "small",
                "description": "Two workers with 1 CPU and 2 GiB each",
                "options": {
                    "n_workers": 2,
                    "resources": {
                        "requests": {"cpu": "1", "memory": "2Gi"},
                        "limits": {"cpu": "1", "memory": "2Gi"},
                    },
                },
            },
        ]

    @validate("templates")
    def _validate_templates(self, proposal):
        names = set()
        for template in proposal["value"]:
            name = template.get("name")
            if not isinstance(name, str) or not name:
                raise TraitError(f"every template needs a non-empty 'name', got {template!r}")
            if name in names:
                raise TraitError(f"template name {name!r} appears twice")
            if not isinstance(template.get("options", {}), dict):
                raise TraitError(f"template {name!r}: 'options' must be a mapping")
            names.add(name)
        return proposal["value"]

    max_workers = Int(
        1000, help="Largest worker count a request may ask for, per group and for adapt maximum."
    ).tag(config=True)

    dashboard_connection = Enum(
        ["auto", "direct", "port-forward"],
        default_value="auto",
        help=(
            "How the dashboard proxy reaches schedulers: 'direct' to the scheduler Service's "
            "ClusterIP (the server runs in the cluster network), 'port-forward' through the "
            "Kubernetes API, or 'auto': direct when the ClusterIP answers, else port-forward."
        ),
    ).tag(config=True)

    direct_connect_timeout = Float(
        1.0, help="Seconds to wait for a scheduler ClusterIP to answer before using port-forward."
    ).tag(config=True)

    query_schedulers = Bool(
        True,
        help=(
            "Ask running schedulers (their /json/identity.json, through the same route as the "
            "dashboard proxy) for their workers' threads and memory, reported as cores and memory; "
            "off: sum the worker pods' CPU and memory limits (else requests) instead."
        ),
    ).tag(config=True)

    log_tail_lines = Int(200, help="Log lines per pod returned by the logs endpoint.").tag(config=True)

    log_limit_bytes = Int(
        256 * 1024,
        help="Most bytes of log read per pod (the API's limitBytes; a log with no line breaks is cut here).",
    ).tag(config=True)

    read_concurrency = Int(
        4, help="Most pod logs and event lists read from Kubernetes at once, over all requests."
    ).tag(config=True)

    request_timeout = Float(
        10.0,
        help=(
            "Seconds any Kubernetes call may wait to connect or for an answer before it fails "
            "(and the cluster list is flagged as possibly out of date)."
        ),
    ).tag(config=True)

    watch_timeout = Float(
        60.0,
        help=(
            "Seconds one watch request lasts before it is renewed; a watch silent for this plus "
            "request_timeout is taken as a dead connection and listed again."
        ),
    ).tag(config=True)

    crash_log_lines = Int(
        5, help="Last log lines of a crash-looping container quoted in a cluster's 'reason'."
    ).tag(config=True)

    kubeconfig = Unicode(
        None,
        allow_none=True,
        help="Kubeconfig file for the Kubernetes API (default: $KUBECONFIG, ~/.kube/config, or the pod's service account).",
    ).tag(config=True)

    context = Unicode(None, allow_none=True, help="Kubeconfig context to use (default: the current one).").tag(
        config=True
    )

    kube_backend_class = Unicode(
        "dask_k8s_lab.server.kube.Kr8sBackend",
        help="Import path of the Kubernetes backend (tests swap in a fake).",
    ).tag(config=True)


def service_account_namespace() -> str | None:
    """The namespace this process runs in, when it runs in a Kubernetes pod."""
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE_FILE) as f:
            return f.read().strip() or None
    except OSError:
        return None
