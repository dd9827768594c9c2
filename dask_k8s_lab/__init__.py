"""dask-k8s-lab: run Dask on Kubernetes from JupyterLab."""

__version__ = "0.1.0"
