"""The classic ``KubeCluster``: the client creates the scheduler and worker pods itself.

No operator and no custom resources: a ``distributed.SpecCluster`` whose scheduler is either a
pod behind a Service (``deploy_mode="remote"``, the default) or runs in this process
(``"local"``; workers reach it through the node's address when this machine is a node), and
whose workers are pods made from a Pod template.

What removes a cluster:
- ``close()`` retires the workers, deletes their pods, then the scheduler's Job, pod, Service and
  PodDisruptionBudget, and waits until they are gone.
- If this process dies, remote mode: it stops renewing the scheduler Job's deadline
  (``kubernetes.client-lease``), so Kubernetes ends the Job and deletes it
  (``ttlSecondsAfterFinished: 0``); the garbage collector then deletes the scheduler pod and the
  Service, PDB and worker pods it owns. ``idle_timeout`` ends the Job too. Local mode: the scheduler dies with the process and the
  workers exit after their ``--death-timeout``; their pods stay as Completed until deleted
  (``kubectl delete pod -l kubernetes.dask.org/classic=true,dask.org/cluster-name=NAME``).
"""

from __future__ import annotations

import warnings
from typing import Any

from distributed.core import Status
from distributed.deploy.spec import SpecCluster
from distributed.utils import Log, Logs, format_dashboard_link

from ..auth import ClusterAuth, InCluster, KubeConfig
from . import config
from .local import LocalScheduler
from .processes import ClusterContext, SchedulerPod, WorkerPod, pod_logs


class KubeCluster(SpecCluster):
    """Launch a Dask cluster on Kubernetes from a worker Pod template.

    ``pod_template`` is a dict (e.g. from ``make_pod_spec``), the path of a Pod YAML file, or
    None to use Dask config ``kubernetes.worker-template`` / ``kubernetes.worker-template-path``.
    Other arguments fall back to ``kubernetes.*`` config; see ``dask_k8s_lab/kubernetes.yaml``.
    Extra keyword arguments go to ``distributed.SpecCluster``.

    >>> from dask_k8s_lab.classic import KubeCluster, make_pod_spec
    >>> cluster = KubeCluster(make_pod_spec(image='ghcr.io/dask/dask:latest'))
    >>> cluster.scale(10)
    """

    def __init__(self, pod_template: Any = None, name: str | None = None,
                 namespace: str | None = None, n_workers: int | None = None,
                 host: str | None = None, port: int | None = None,
                 env: dict[str, str] | None = None,
                 auth: ClusterAuth | list[ClusterAuth] | None = None,
                 idle_timeout: str | None = None, deploy_mode: str | None = None,
                 interface: str | None = None, protocol: str | None = None,
                 dashboard_address: str | None = None, security: Any = None,
                 scheduler_service_wait_timeout: float | None = None,
                 scheduler_service_name_resolution_retries: int | None = None,
                 scheduler_pod_template: Any = None, apply_default_affinity: str = "preferred",
                 **kwargs: Any):
        attach = kwargs.pop("_attach", False)
        options = config.resolve(
            pod_template, name, namespace, n_workers, host, port, env, idle_timeout, deploy_mode,
            interface, protocol, dashboard_address, scheduler_service_wait_timeout,
            scheduler_service_name_resolution_retries, scheduler_pod_template,
            apply_default_affinity, attach=attach, security=security)
        self.options = options
        self.context = ClusterContext(
            name=options.name, namespace=options.namespace,
            auth=auth if auth is not None else [InCluster(), KubeConfig()],
            worker_template=options.worker_template, env=options.env,
            worker_name=options.worker_name)
        if options.deploy_mode == "local":
            scheduler = {"cls": LocalScheduler, "options": {
                "context": self.context, "host": options.host, "port": options.port, "interface": options.interface,
                "protocol": options.protocol, "dashboard_address": options.dashboard_address,
                "idle_timeout": options.idle_timeout, "security": security}}
        else:
            scheduler = {"cls": SchedulerPod, "options": {
                "context": self.context, "scheduler_template": options.scheduler_template,
                "service_type": options.service_type, "idle_timeout": options.idle_timeout,
                "wait_timeout": options.wait_timeout,
                "name_resolution_retries": options.name_resolution_retries, "attach": attach,
                "lease": options.client_lease}}
        worker = {"cls": WorkerPod, "options": {"context": self.context}}
        kwargs.setdefault("name", options.name)
        if attach:  # someone else's cluster: leave its scheduler running on close
            kwargs.setdefault("shutdown_scheduler", False)
        super().__init__(scheduler=scheduler, worker=worker, security=security, **kwargs)
        if options.n_workers and not attach:
            self.scale(options.n_workers)

    @property
    def namespace(self) -> str | None:
        return self.context.namespace

    @property
    def dashboard_link(self) -> str:
        dashboard = getattr(self.scheduler, "dashboard", None)
        if dashboard is not None:  # a remote scheduler reached through its Service
            return format_dashboard_link(dashboard.host, dashboard.port)
        return super().dashboard_link

    @classmethod
    def from_dict(cls, pod_spec: dict[str, Any], **kwargs: Any) -> KubeCluster:
        """Create a cluster from a worker Pod template dict (deprecated: use the constructor)."""
        warnings.warn("KubeCluster.from_dict is deprecated; pass the dict to KubeCluster(...)",
                      DeprecationWarning, stacklevel=2)
        return cls(pod_spec, **kwargs)

    @classmethod
    def from_yaml(cls, yaml_path: str, **kwargs: Any) -> KubeCluster:
        """Create a cluster from a worker Pod YAML file (deprecated: use the constructor)."""
        warnings.warn("KubeCluster.from_yaml is deprecated; pass the path to KubeCluster(...)",
                      DeprecationWarning, stacklevel=2)
        return cls(yaml_path, **kwargs)

    @classmethod
    def from_name(cls, name: str, namespace: str | None = None, **kwargs: Any) -> KubeCluster:
        """Attach to a running remote-mode cluster by name: scale and adapt it with its own
        worker template; ``close()`` removes only the workers this object added."""
        return cls(name=name, namespace=namespace, deploy_mode="remote", _attach=True, **kwargs)

    def get_logs(self, cluster: bool = True, scheduler: bool = True,
                 workers: bool = True) -> Logs:
        """Logs of the cluster (this object's log), the scheduler pod and the worker pods."""
        return self.sync(self._collect_logs, cluster, scheduler, workers)

    async def _collect_logs(self, cluster: bool, scheduler: bool, workers: bool) -> Logs:
        remote = self.options.deploy_mode == "remote"
        # distributed's own part: this object's messages, and a local scheduler's log
        logs = await super()._get_logs(cluster=cluster, scheduler=scheduler and not remote,
                                       workers=False)
        texts = await pod_logs(self.context, scheduler and remote, workers)
        logs.update({pod: Log(text) for pod, text in texts.items()})
        return logs

    def __repr__(self) -> str:
        workers = len(self.scheduler_info.get("workers", {})) if self.status == Status.running \
            else 0
        return (f"KubeCluster(classic, name={self.name!r}, namespace={self.namespace!r}, "
                f"mode={self.options.deploy_mode}, workers={workers}, status={self.status.name})")
