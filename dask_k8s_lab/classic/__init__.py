"""The classic ``KubeCluster``: no operator, the client creates scheduler and worker pods itself.

>>> from dask_k8s_lab.classic import KubeCluster, make_pod_spec
>>> cluster = KubeCluster(make_pod_spec(image='ghcr.io/dask/dask:latest', memory_limit='1G'))
"""

from .cluster import KubeCluster
from .templates import clean_pod_template, make_pod_spec

__all__ = ["KubeCluster", "clean_pod_template", "make_pod_spec"]
