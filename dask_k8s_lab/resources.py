"""The kr8s classes of the Dask custom resources (public API; defined in
:mod:`dask_k8s_common.resources`, shared with the operator)."""

from dask_k8s_common.resources import *  # noqa: F403
from dask_k8s_common.resources import __all__  # noqa: F401
