"""Level-based reconcilers: read the world, decide with ``planning``, act through kr8s.

Each reconciler takes (namespace, name), is safe to run any number of times (a restarted
operator simply runs them again and converges), and returns how many seconds until it wants to
look again (``GONE`` once the object no longer exists). One module per resource:

- ``clusters``: a DaskCluster's scheduler pod and Service, its default worker group, its status;
- ``workergroups``: the worker pods of a DaskWorkerGroup (scaling, rolling updates, lost nodes);
- ``retirement``: removing workers through the scheduler, beside the reconciles;
- ``jobs``: a DaskJob's cluster and runner pod;
- ``autoscalers``: a DaskAutoscaler's decisions applied to its worker group;
- ``children`` (creating and deleting what a resource is made of), ``status`` (status writes and
  timestamps) and ``pacing`` (when to look again) are shared by them.
"""

from .autoscalers import reconcile_autoscaler
from .clusters import reconcile_cluster
from .jobs import reconcile_job
from .pacing import CREATE_CONCURRENCY, FAST, GONE, RESYNC, batch_delay, batch_size
from .retirement import FALLBACK_GRACE
from .status import iso, now_iso, parse_iso
from .workergroups import reconcile_worker_group

__all__ = [
    "CREATE_CONCURRENCY", "FALLBACK_GRACE", "FAST", "GONE", "RESYNC", "batch_delay", "batch_size",
    "iso", "now_iso", "parse_iso", "reconcile_autoscaler", "reconcile_cluster", "reconcile_job",
    "reconcile_worker_group",
]
