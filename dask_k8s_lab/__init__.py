"""dask-k8s-lab: run Dask on Kubernetes from JupyterLab."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names, imported on first use so that `import dask_k8s_lab` stays light
# (the server extension and the CLI import this package too).
_EXPORTS = {
    "KubeCluster": "kubecluster",
    "SchedulerStartupError": "kubecluster",
    "HelmCluster": "helmcluster",
    "make_cluster_spec": "specs",
    "make_worker_spec": "specs",
    "make_scheduler_spec": "specs",
    # classic KubeCluster's template helpers (the classic KubeCluster itself stays in
    # dask_k8s_lab.classic, so that `KubeCluster` here is always the operator's)
    "make_pod_spec": "classic.templates",
    "clean_pod_template": "classic.templates",
    "CreateMode": "validation",
    "ValidationError": "validation",
    "ClusterAuth": "auth",
    "KubeConfig": "auth",
    "InCluster": "auth",
    "KubeAuth": "auth",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dask_k8s_lab' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
