"""kopf wiring: watch events in, reconciles out.

The handlers are deliberately thin. Each watch event (including the initial listing when the
operator starts) triggers a level-based reconcile of the affected object through the work queue;
the reconcilers in ``reconcile`` do the work. Pods are watched by the store alone (one watch,
label-selected at the API server), which calls ``_on_pod_change``; kopf watches the Dask resources
and the scheduler Services. Only ``on.event`` handlers are used, so kopf adds
no finalizers and no bookkeeping annotations to the Dask resources: they can be deleted even while
the operator is down (the garbage collector removes their children through ownerReferences).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import kopf
from kr8s.asyncio.objects import Pod, Service

from dask_k8s_common import watching
from dask_k8s_common.resources import (
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

from . import events, kube, metadata, reconcile, store
from .plugins import load_plugins
from .workqueue import Key, WorkQueue

logger = logging.getLogger(__name__)

RELIST_SECONDS = float(os.environ.get("DASK_K8S_OPERATOR_RELIST_SECONDS", "30"))
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
# what the store keeps, with the label selector of its watch (only the pods and Services we made)
CACHED: dict[str, tuple[type, str | None]] = {
    **{plural: (cls, None) for plural, cls in CLASSES.items()},
    "pods": (Pod, f"{LABEL_COMPONENT},{LABEL_CLUSTER}"),
    "services": (Service, f"{LABEL_COMPONENT}={COMPONENT_SCHEDULER}"),
}
_background: list[asyncio.Task] = []
#: what each Dask resource looked like, but for its status, when its watch event last came
_seen: dict[Key, tuple[Any, ...]] = {}


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
    # never let a silently stalled watch or call stop the operator (kopf #698, #204)
    timeouts = kube.timeouts()
    settings.watching.server_timeout = max(1, int(timeouts.watch))
    settings.watching.client_timeout = timeouts.watch + timeouts.request
    settings.watching.inactivity_timeout = timeouts.watch + timeouts.request
    settings.watching.connect_timeout = timeouts.request
    settings.networking.connect_timeout = timeouts.request
    settings.networking.request_timeout = timeouts.request
    # retry a failing API server about as long as kopf's default, but never wait more than 5 s
    # between tries, so the operator is back within seconds of an API server restart
    settings.networking.error_backoffs = (0.5, 1, 1, 2, 2, 3, 3, 3, 3, 3, *[5] * 6)
    settings.posting.level = logging.WARNING  # our own events go through events.post
    # kopf logs a line for every watch event handled ("Handler ... succeeded"): at hundreds of
    # clusters that is most of the log and a share of the CPU; its warnings and errors stay
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per API request is too much
    loop = asyncio.get_running_loop()
    _background.append(loop.create_task(QUEUE.resync_forever()))
    _background.append(loop.create_task(relist_forever()))
    for namespace in watched_namespaces():
        for plural, (kind, selector) in CACHED.items():
            _background.append(loop.create_task(
                store.follow(kube.api, plural, kind, namespace, selector, timeouts, _on_pruned,
                             _on_pod_change if plural == "pods" else None)))


def watched_namespaces() -> list[str | None]:
    """The namespaces given to ``dask-k8s-operator --namespace``; [None] means all."""
    value = os.environ.get("DASK_K8S_OPERATOR_NAMESPACES", "")
    return [ns for ns in value.split(",") if ns] or [None]


async def relist_forever(interval: float = RELIST_SECONDS) -> None:
    """Safety net under the watches: list the Dask resources now and then and reconcile any object
    the watch did not report (a delayed or silently stalled watch must not leave a new cluster
    unattended)."""
    while True:
        await asyncio.sleep(interval)
        try:
            client = await kube.api()
            for plural in CLASSES:
                for namespace in watched_namespaces():
                    kube.count("list", plural, namespace)
                    bodies, _ = await watching.list_objects(client, CLASSES[plural], namespace, None,
                                                            kube.timeouts())
                    for meta in (body["metadata"] for body in bodies):
                        key = (plural, meta["namespace"], meta["name"])
                        if not QUEUE.knows(key) and not meta.get("deletionTimestamp"):
                            logger.info("relist found %s %s/%s unreported by the watch", *key)
                            QUEUE.trigger(*key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("relist of the Dask resources failed: %s", exc)


@kopf.on.cleanup()
async def stop(**_: Any) -> None:
    for task in _background:
        task.cancel()
    await reconcile.status.flush_all()  # a status still waiting to join others
    await QUEUE.stop()


@kopf.on.probe(id="now")
def liveness(**_: Any) -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


@kopf.on.probe(id="stats")
def stats(**_: Any) -> dict[str, Any]:
    """Served on /healthz with the liveness payload; bench/operator_bench.py reads it."""
    return {
        "api_requests": kube.REQUESTS["count"],
        "cpu_seconds": round(time.process_time(), 3),
        "tracked_objects": len(QUEUE.tracked()),
        "reconciles": dict(QUEUE.runs),
        "store_lists": dict(store.RELISTS),
        "api_requests_by_kind": dict(sorted(kube.BY_KIND.items())),
        "api_requests_by_namespace": kube.BY_NAMESPACE,
    }


def _remember(plural: str, event: Mapping[str, Any]) -> bool:
    """Keep the store in step with the watch; returns False for a deletion."""
    body = event.get("object") or {}
    meta = body.get("metadata") or {}
    if event.get("type") == "DELETED":
        store.drop(plural, meta.get("namespace", ""), meta.get("name", ""))
        return False
    if meta.get("name"):
        store.put(plural, body)
    return True


def _on_pruned(plural: str, body: Mapping[str, Any]) -> None:
    """A list found an object gone whose deletion the watch missed: reconcile what depends on it
    (a deleted cluster's reconcile ends; a lost scheduler pod is made again)."""
    meta = body.get("metadata") or {}
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    if plural == "pods":
        _pod_changed(namespace, meta.get("labels") or {})
    elif plural == "services":
        cluster = (meta.get("labels") or {}).get(LABEL_CLUSTER)
        if cluster:
            QUEUE.trigger("daskclusters", namespace, cluster)
    else:
        events.forget(meta.get("uid"))
        _seen.pop((plural, namespace, name), None)
        QUEUE.trigger(plural, namespace, name)
        cluster = (body.get("spec") or {}).get("cluster")
        if plural == "daskworkergroups" and cluster:
            QUEUE.trigger("daskclusters", namespace, cluster)


def _on_resource_event(plural: str, event: Mapping[str, Any], namespace: str, name: str,
                       uid: str | None) -> None:
    key = (plural, namespace, name)
    if not _remember(plural, event):
        _seen.pop(key, None)
        QUEUE.forget(plural, namespace, name)
        events.forget(uid)
        return
    seen = metadata.all_but_status(event.get("object") or {})
    if _seen.get(key) == seen:
        # only the status changed: mostly the echo of the operator's own status write, which
        # needs no reconcile (at 100 clusters these echoes were half of all reconciles)
        return
    _seen[key] = seen
    QUEUE.trigger(plural, namespace, name)


@kopf.on.event(GROUP, VERSION, "daskclusters")
async def daskcluster_event(event: Mapping[str, Any], namespace: str, name: str, meta: Any, **_: Any
                            ) -> None:
    _on_resource_event("daskclusters", event, namespace, name, meta.get("uid"))


@kopf.on.event(GROUP, VERSION, "daskworkergroups")
async def daskworkergroup_event(event: Mapping[str, Any], namespace: str, name: str, meta: Any,
                                spec: Any, **_: Any) -> None:
    _on_resource_event("daskworkergroups", event, namespace, name, meta.get("uid"))
    cluster = spec.get("cluster")
    if cluster:  # the cluster's status mirrors its default group's replicas (status changes too)
        QUEUE.trigger_soon("daskclusters", namespace, cluster)


@kopf.on.event(GROUP, VERSION, "daskjobs")
async def daskjob_event(event: Mapping[str, Any], namespace: str, name: str, meta: Any, **_: Any) -> None:
    _on_resource_event("daskjobs", event, namespace, name, meta.get("uid"))


@kopf.on.event(GROUP, VERSION, "daskautoscalers")
async def daskautoscaler_event(event: Mapping[str, Any], namespace: str, name: str, meta: Any, **_: Any
                               ) -> None:
    _on_resource_event("daskautoscalers", event, namespace, name, meta.get("uid"))


def _on_pod_change(plural: str, body: Mapping[str, Any]) -> None:
    """A pod of ours changed (the store's label-selected watch says so; kopf watches no pods,
    so that each pod is watched and held once): reconcile whatever owns it."""
    meta = body.get("metadata") or {}
    _pod_changed(meta.get("namespace", ""), meta.get("labels") or {})


def _pod_changed(namespace: str, labels: Mapping[str, str]) -> None:
    component = labels.get(LABEL_COMPONENT)
    cluster = labels.get(LABEL_CLUSTER)
    if component == COMPONENT_WORKER and labels.get(LABEL_WORKER_GROUP):
        QUEUE.trigger_soon("daskworkergroups", namespace, labels[LABEL_WORKER_GROUP])
    elif component == COMPONENT_SCHEDULER:
        QUEUE.trigger("daskclusters", namespace, cluster)
        for group in store.items("daskworkergroups", namespace):  # their scheduler changed
            if group.get("spec", {}).get("cluster") == cluster:
                QUEUE.trigger("daskworkergroups", namespace, group["metadata"]["name"])
    elif component == COMPONENT_JOB_RUNNER:
        QUEUE.trigger("daskjobs", namespace, cluster)


@kopf.on.event("", "v1", "services", labels={LABEL_COMPONENT: COMPONENT_SCHEDULER})
async def service_event(event: Mapping[str, Any], namespace: str, labels: Any, **_: Any) -> None:
    _remember("services", event)
    QUEUE.trigger("daskclusters", namespace, labels.get(LABEL_CLUSTER))


PLUGINS = load_plugins()
