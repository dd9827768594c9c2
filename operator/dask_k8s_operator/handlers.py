"""kopf wiring: watch events in, reconciles out.

The handlers are deliberately thin. Each watch event (including the initial listing when the
operator starts) triggers a level-based reconcile of the affected object through the work queue;
the reconcilers in ``reconcile.py`` do the work. Only ``on.event`` handlers are used, so kopf adds
no finalizers and no bookkeeping annotations to the Dask resources: they can be deleted even while
the operator is down (the garbage collector removes their children through ownerReferences).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

import kopf

from dask_k8s_lab.resources import (
    COMPONENT_JOB_RUNNER,
    COMPONENT_SCHEDULER,
    COMPONENT_WORKER,
    GROUP,
    LABEL_CLUSTER,
    LABEL_COMPONENT,
    LABEL_WORKER_GROUP,
    VERSION,
    DaskAutoscaler,
    DaskCluster,
    DaskJob,
    DaskWorkerGroup,
)

from . import events, kube, reconcile
from .plugins import load_plugins
from .workqueue import Key, WorkQueue

logger = logging.getLogger(__name__)

QUEUE = WorkQueue()
QUEUE.register("daskclusters", reconcile.reconcile_cluster)
QUEUE.register("daskworkergroups", reconcile.reconcile_worker_group)
QUEUE.register("daskjobs", reconcile.reconcile_job)
QUEUE.register("daskautoscalers", reconcile.reconcile_autoscaler)

CLASSES = {
    "daskclusters": DaskCluster,
    "daskworkergroups": DaskWorkerGroup,
    "daskjobs": DaskJob,
    "daskautoscalers": DaskAutoscaler,
}
_background: list[asyncio.Task] = []


async def _report_error(key: Key, exc: BaseException) -> None:
    kind, namespace, name = key
    obj = await kube.fetch(CLASSES[kind], name, namespace)
    if obj is not None:
        await events.post(obj.raw, "ReconcileError", f"{type(exc).__name__}: {exc}", warning=True)


QUEUE.on_error(_report_error)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.peering.standalone = True  # one replica (the chart's Deployment uses Recreate)
    settings.scanning.disabled = True  # no cluster-wide CRD/namespace listing needed
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage()
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage()
    # never let a silently stalled watch stop the operator (kopf #698, #204)
    settings.watching.server_timeout = 120
    settings.watching.client_timeout = 150
    settings.watching.connect_timeout = 5
    settings.networking.request_timeout = 30
    settings.posting.level = logging.WARNING  # our own events go through events.post
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per API request is too much
    _background.append(asyncio.get_running_loop().create_task(QUEUE.resync_forever()))


@kopf.on.cleanup()
async def stop(**_: Any) -> None:
    for task in _background:
        task.cancel()
    await QUEUE.stop()


@kopf.on.probe(id="now")
def liveness(**_: Any) -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _on_resource_event(plural: str, type_: str | None, namespace: str, name: str, uid: str | None
                       ) -> None:
    if type_ == "DELETED":
        QUEUE.forget(plural, namespace, name)
        events.forget(uid)
        return
    QUEUE.trigger(plural, namespace, name)


@kopf.on.event(GROUP, VERSION, "daskclusters")
async def daskcluster_event(type: str | None, namespace: str, name: str, meta: Any, **_: Any
                            ) -> None:
    _on_resource_event("daskclusters", type, namespace, name, meta.get("uid"))


@kopf.on.event(GROUP, VERSION, "daskworkergroups")
async def daskworkergroup_event(type: str | None, namespace: str, name: str, meta: Any,
                                spec: Any, **_: Any) -> None:
    _on_resource_event("daskworkergroups", type, namespace, name, meta.get("uid"))
    cluster = spec.get("cluster")
    if cluster:  # the cluster's status mirrors its default group's replicas
        QUEUE.trigger("daskclusters", namespace, cluster)


@kopf.on.event(GROUP, VERSION, "daskjobs")
async def daskjob_event(type: str | None, namespace: str, name: str, meta: Any, **_: Any) -> None:
    _on_resource_event("daskjobs", type, namespace, name, meta.get("uid"))


@kopf.on.event(GROUP, VERSION, "daskautoscalers")
async def daskautoscaler_event(type: str | None, namespace: str, name: str, meta: Any, **_: Any
                               ) -> None:
    _on_resource_event("daskautoscalers", type, namespace, name, meta.get("uid"))


@kopf.on.event("", "v1", "pods", labels={LABEL_COMPONENT: kopf.PRESENT, LABEL_CLUSTER: kopf.PRESENT})
async def pod_event(namespace: str, labels: Any, **_: Any) -> None:
    """A pod of ours changed: reconcile whatever owns it."""
    component = labels.get(LABEL_COMPONENT)
    cluster = labels.get(LABEL_CLUSTER)
    if component == COMPONENT_WORKER and labels.get(LABEL_WORKER_GROUP):
        QUEUE.trigger("daskworkergroups", namespace, labels[LABEL_WORKER_GROUP])
    elif component == COMPONENT_SCHEDULER:
        QUEUE.trigger("daskclusters", namespace, cluster)
        for kind, ns, name in QUEUE.tracked():  # worker groups learn their scheduler is back
            if kind == "daskworkergroups" and ns == namespace:
                QUEUE.trigger(kind, ns, name)
    elif component == COMPONENT_JOB_RUNNER:
        QUEUE.trigger("daskjobs", namespace, cluster)


@kopf.on.event("", "v1", "services", labels={LABEL_COMPONENT: COMPONENT_SCHEDULER})
async def service_event(namespace: str, labels: Any, **_: Any) -> None:
    QUEUE.trigger("daskclusters", namespace, labels.get(LABEL_CLUSTER))


PLUGINS = load_plugins()
