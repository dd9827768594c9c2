"""The dask-k8s-lab operator: kopf handlers that reconcile Dask custom resources."""
