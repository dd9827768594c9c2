"""The dask-k8s-lab operator: kopf handlers that reconcile the Dask custom resources.

``kopf run -m dask_k8s_operator`` and the ``dask-k8s-operator`` command both import this
package, which registers the handlers (and loads ``dask_operator_plugin`` plugins).
The pure parts (``builders``, ``planning``) can be imported on their own.
"""

from . import handlers  # noqa: F401  (registers the kopf handlers)
