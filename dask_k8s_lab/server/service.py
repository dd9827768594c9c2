"""The cluster service: what the REST handlers, the stream and the dashboard proxy call.

It owns the watch-fed ``ClusterStore`` and turns requests into Kubernetes calls through a
``KubeBackend`` (kr8s in production, an in-memory fake in unit tests), so all the rules about
names, templates, images, scaling and adapting live here and are tested without a cluster.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from dask_k8s_common import watching
from dask_k8s_lab import ownership
from dask_k8s_common.resources import (
    COMPONENT_SCHEDULER,
    LABEL_COMPONENT,
    default_worker_group_name,
    scheduler_name,
)

from . import manifests, quotas
from .config import DaskK8sLab, service_account_namespace
from .errors import ApiError, conflict, from_kube_error, invalid, not_found
from .model import IMAGE_PULL_REASONS, full_group_name
from .requests import MAX_LABEL_VALUE, AdaptRequest, CreateRequest, ScaleRequest, WorkerGroupRequest, apply_template
from .store import AUTOSCALER, CLUSTER, POD, WORKER_GROUP, ClusterStore, Key

log = logging.getLogger(__name__)


class WatchSink(Protocol):
    def on_event(self, kind: str, event_type: str, obj: dict) -> None: ...
    def on_replace(self, kind: str, namespace: str, objects: list[dict]) -> None: ...
    def on_synced(self, kind: str, namespace: str) -> None: ...
    def on_watch_error(self, kind: str, namespace: str, error: BaseException) -> None: ...


class KubeBackend(Protocol):
    """The Kubernetes operations the service needs; objects travel as plain dicts."""

    async def default_namespace(self) -> str: ...
    async def start(self, namespaces: list[str], sink: WatchSink) -> None: ...
    async def create(self, manifest: dict) -> dict: ...
    async def patch(self, kind: str, namespace: str, name: str, patch: dict) -> dict: ...
    async def delete(self, kind: str, namespace: str, name: str) -> None: ...
    async def pod_logs(self, namespace: str, pod: str, container: str | None, tail_lines: int, previous: bool = False) -> str: ...
    async def events(self, namespace: str, field_selector: str | None = None) -> list[dict]: ...
    async def dashboard_target(self, namespace: str, cluster: str, scheduler_pod: dict | None) -> tuple[str, int]: ...
    async def forget_cluster(self, namespace: str, cluster: str) -> None: ...
    async def close(self) -> None: ...


class ClusterService:
    def __init__(self, config: DaskK8sLab, backend: KubeBackend, base_url: str = "/") -> None:
        self.config = config
        self.backend = backend
        self.store = ClusterStore(base_url=base_url)
        self.namespaces: list[str] = list(config.namespaces)
        self._pending_syncs: set[tuple[str, str]] = set()
        self._synced = asyncio.Event()
        self._start_error: BaseException | None = None
        self._watch_errors: dict[tuple[str, str], tuple[int, str]] = {}  # failures in a row, last
        self._stale: str | None = None
        self._subscribers: set[asyncio.Queue] = set()
        self._crash_log_tasks: dict[tuple[Key, str, str, int], asyncio.Task] = {}
        self._dashboard_hosts: dict[Key, tuple[str, int]] = {}
        self._totals_tasks: dict[Key, asyncio.Task] = {}
        self._started = False
        self._retry_task: asyncio.Task | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start watching; if Kubernetes cannot be reached yet, keep trying in the background."""
        if self._started:
            return
        self._started = True
        if not await self._try_start():
            self._retry_task = asyncio.ensure_future(self._keep_starting())

    async def _try_start(self) -> bool:
        try:
            if not self.namespaces:
                self.namespaces = [service_account_namespace() or await self.backend.default_namespace()]
            self._pending_syncs = {(kind, ns) for kind in (CLUSTER, WORKER_GROUP, AUTOSCALER, POD) for ns in self.namespaces}
            await self.backend.start(self.namespaces, self)
        except Exception as e:  # the server keeps running; requests report why (503)
            log.warning("dask-k8s-lab: cannot start watching Kubernetes: %s", e)
            self._start_error = e
            return False
        self._start_error = None
        return True

    async def _keep_starting(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            if await self._try_start():
                return
            delay = min(delay * 2, 60.0)

    async def close(self) -> None:
        if self._retry_task is not None:
            self._retry_task.cancel()
        for task in [*self._crash_log_tasks.values(), *self._totals_tasks.values()]:
            task.cancel()
        for queue in list(self._subscribers):
            queue.put_nowait(None)
        await self.backend.close()

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until the first list of every watched kind has arrived (at most ``timeout``,
        by default the configured request timeout), or fail with a 503."""
        if self._synced.is_set():
            return
        if self._start_error is None:
            try:
                await asyncio.wait_for(self._synced.wait(), self.config.request_timeout if timeout is None else timeout)
                return
            except asyncio.TimeoutError:
                pass
        why = (self._start_error or "; ".join(text for _, text in self._watch_errors.values())
               or "the watch has not delivered yet")
        raise ApiError(503, f"The cluster list is not available yet: cannot watch Kubernetes ({why}).")

    # -- watch sink ----------------------------------------------------------------------------

    def _visible(self, obj: dict) -> bool:
        """Whether this server's user may see a DaskCluster (its owner, or anyone outside a hub)."""
        return ownership.visible(obj, self.config.owner, self.config.show_all_clusters)

    def on_event(self, kind: str, event_type: str, obj: dict) -> None:
        if (obj.get("metadata") or {}).get("namespace") not in self.namespaces:
            return
        if kind == CLUSTER and not self._visible(obj):
            # Other users' clusters never enter the cache, so no list, stream, lookup or proxy
            # route can reach them; one whose owner changed away leaves it.
            event_type = "DELETED"
        self._publish(self.store.refresh(self.store.apply(kind, event_type, obj)))
        if kind == POD and event_type != "DELETED":
            self._maybe_fetch_crash_log(obj)

    def on_replace(self, kind: str, namespace: str, objects: list[dict]) -> None:
        if kind == CLUSTER:
            objects = [obj for obj in objects if self._visible(obj)]
        self._publish(self.store.refresh(self.store.replace(kind, namespace, objects)))
        if kind == POD:
            for obj in objects:
                self._maybe_fetch_crash_log(obj)

    def on_synced(self, kind: str, namespace: str) -> None:
        self._watch_errors.pop((kind, namespace), None)
        self._pending_syncs.discard((kind, namespace))
        if not self._pending_syncs:
            self._synced.set()
        self._update_stale()

    def on_watch_error(self, kind: str, namespace: str, error: BaseException) -> None:
        failures = self._watch_errors.get((kind, namespace), (0, ""))[0] + 1
        if watching.is_timeout(error):  # not a dropped connection: the API server stopped answering
            failures = max(failures, 2)
        self._watch_errors[(kind, namespace)] = (failures, f"{kind} in {namespace}: {watching.describe(error)}")
        self._update_stale()

    @property
    def stale(self) -> str | None:
        """Why the cached list may be out of date, or None while every watch is healthy."""
        return self._stale

    def _update_stale(self) -> None:
        """The cache is stale once a watch failed twice in a row (one dropped connection is
        re-listed at once and says nothing) or a call timed out; subscribers hear when that
        starts and ends."""
        failing = [text for failures, text in self._watch_errors.values() if failures >= 2]
        stale = f"cannot watch Kubernetes ({'; '.join(failing)})" if failing else None
        if stale != self._stale and self._synced.is_set():
            self._stale = stale
            self._send({"type": "health", "stale": stale})

    # -- live updates ----------------------------------------------------------------------------

    def subscribe(self) -> tuple[asyncio.Queue, list[dict]]:
        """A queue of stream messages, and the snapshot they follow (taken atomically)."""
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.add(queue)
        return queue, self.store.list_models()

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._subscribers.discard(queue)

    def _publish(self, changes: Iterable[tuple[Key, dict | None]]) -> None:
        for (namespace, name), model in changes:
            if model is None:
                message: dict[str, Any] = {"type": "deleted", "namespace": namespace, "name": name}
                self._forget((namespace, name))
            else:
                message = {"type": "updated", "cluster": model}
                self._maybe_fetch_totals((namespace, name), model)
            self._send(message)

    def _send(self, message: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            if queue.qsize() > 10_000:  # a consumer that stopped reading: cut it off
                self._subscribers.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(message)

    def _forget(self, key: Key) -> None:
        """Drop what was kept for a cluster that is gone (its port-forward, lookups, fetches)."""
        self._dashboard_hosts.pop(key, None)
        task = self._totals_tasks.pop(key, None)
        if task is not None:
            task.cancel()
        for crash_key in [k for k in self._crash_log_tasks if k[0] == key]:
            self._crash_log_tasks.pop(crash_key).cancel()
        asyncio.ensure_future(self.backend.forget_cluster(*key))

    # -- cores and memory as the scheduler sees them ------------------------------------------------

    def _maybe_fetch_totals(self, key: Key, model: dict) -> None:
        """Ask a running scheduler for its workers' threads and memory when the worker count moved."""
        if not self.config.query_schedulers or model["phase"] != "Running":
            return
        known = self.store.scheduler_totals.get(key)
        if known is not None and known[2] == model["workers_ready"]:
            return
        task = self._totals_tasks.get(key)
        if task is None or task.done():
            self._totals_tasks[key] = asyncio.ensure_future(self._fetch_totals(key))

    async def _fetch_totals(self, key: Key) -> None:
        from tornado.httpclient import AsyncHTTPClient

        for attempt in range(10):
            model = self.store.models.get(key)
            if model is None or model["phase"] != "Running":
                return
            try:
                host, port = await self.dashboard_target(*key)
                response = await AsyncHTTPClient().fetch(
                    f"http://{host}:{port}/json/identity.json", connect_timeout=3, request_timeout=5
                )
                identity = json.loads(response.body)
                totals = (float(identity["total_threads"]), int(identity["total_memory"]), int(identity["n_workers"]))
            except Exception as e:
                log.debug("no scheduler totals for %s/%s yet: %s", *key, e)
                await asyncio.sleep(1 + attempt)
                continue
            self.store.scheduler_totals[key] = totals
            self._publish(self.store.refresh([key]))
            model = self.store.models.get(key)
            if model is None or totals[2] == model["workers_ready"]:
                return
            await asyncio.sleep(1)  # workers register with the scheduler just after they turn Ready

    # -- crash-loop log tails ------------------------------------------------------------------

    def _maybe_fetch_crash_log(self, pod: dict) -> None:
        cluster = self.store.owner_of(POD, pod)
        if cluster is None or self.store.get(CLUSTER, *cluster) is None:  # not (yet) a cluster we show
            return
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            restarts = status.get("restartCount", 0)
            if restarts == 0 or status.get("ready") or waiting.get("reason") in IMAGE_PULL_REASONS:
                continue
            key = (cluster, pod["metadata"]["name"], status.get("name", ""), restarts)
            if key in self._crash_log_tasks:
                continue
            self._crash_log_tasks[key] = asyncio.ensure_future(self._fetch_crash_log(*key))

    async def _fetch_crash_log(self, cluster: Key, pod: str, container: str, restarts: int) -> None:
        try:
            text = await self.backend.pod_logs(cluster[0], pod, container, self.config.crash_log_lines, previous=True)
        except Exception as e:
            log.debug("no previous logs of %s/%s: %s", pod, container, e)
            return
        lines = text.rstrip("\n").splitlines()[-self.config.crash_log_lines :]
        if lines and self.store.get(POD, cluster[0], pod) is not None:
            self.store.set_crash_log(cluster, pod, container, "\n".join(lines))
            self._publish(self.store.refresh([cluster]))

    # -- reading -------------------------------------------------------------------------------

    async def list_clusters(self) -> list[dict]:
        await self.ready()
        return self.store.list_models()

    async def list_clusters_json(self) -> str:
        await self.ready()
        return self.store.list_body(self._stale)

    def _cluster_object(self, namespace: str, name: str) -> dict:
        if namespace not in self.namespaces:
            raise not_found(
                f"Namespace {namespace!r} is not managed by this server (it manages {', '.join(self.namespaces)})."
            )
        obj = self.store.get(CLUSTER, namespace, name)
        if obj is None:
            raise not_found(f"DaskCluster {namespace}/{name} does not exist.")
        return obj

    async def get_cluster(self, namespace: str, name: str) -> dict:
        await self.ready()
        self._cluster_object(namespace, name)
        return self.store.models.get((namespace, name)) or self.store.compute((namespace, name))

    def templates(self) -> dict:
        return {
            "templates": [
                {"name": t["name"], "description": t.get("description", ""), "options": t.get("options", {})}
                for t in self.config.templates
            ],
            "default_image": self.config.default_image,
            "allow_image_choice": self.config.allow_image_choice,
        }

    # -- kube calls ------------------------------------------------------------------------------

    async def _call(self, action: str, coro):
        try:
            return await coro
        except ApiError:
            raise
        except Exception as e:
            raise from_kube_error(e, action) from e

    def _remember(self, kind: str, obj: dict) -> None:
        """Put an object the API just returned into the cache (the watch confirms it later)."""
        if isinstance(obj, dict) and obj.get("metadata", {}).get("name"):
            self._publish(self.store.refresh(self.store.apply(kind, "MODIFIED", obj)))

    def _updated_model(self, namespace: str, name: str) -> dict:
        return self.store.models.get((namespace, name)) or self.store.compute((namespace, name))

    # -- creating ----------------------------------------------------------------------------------

    def _check_image(self, image: str | None, allowed: set[str], field: str) -> None:
        if image is not None and not self.config.allow_image_choice and image not in allowed:
            raise ApiError(
                403,
                f"{field} {image!r} is not allowed: this server does not let users choose images "
                f"(allowed: {', '.join(sorted(allowed))}); leave {field} out.",
                field,
            )

    async def create_cluster(self, request: CreateRequest) -> dict:
        await self.ready()
        allowed_images = {self.config.default_image}
        if request.template is not None:
            template = next((t for t in self.config.templates if t["name"] == request.template), None)
            if template is None:
                names = ", ".join(t["name"] for t in self.config.templates) or "none configured"
                raise invalid("template", f"Unknown template {request.template!r} (available: {names}).")
            template_image = (template.get("options") or {}).get("image")
            self._check_image(request.image, allowed_images | {template_image}, "image")
            for i, group in enumerate(request.worker_groups):
                self._check_image(group.image, allowed_images | {template_image}, f"worker_groups.{i}.image")
            try:
                request = apply_template(request, template, self.config.max_workers)
            except ApiError as e:
                raise ApiError(422, f"Template {template['name']!r} is invalid: {e.message}", "template") from None
        else:
            self._check_image(request.image, allowed_images, "image")
            for i, group in enumerate(request.worker_groups):
                self._check_image(group.image, allowed_images, f"worker_groups.{i}.image")

        namespace = request.namespace or self.namespaces[0]
        if namespace not in self.namespaces and self.config.owner:
            raise ApiError(403, ownership.namespace_refusal(namespace, self.namespaces, self.config.owner), "namespace")
        if namespace not in self.namespaces:
            raise invalid(
                "namespace",
                f"Namespace {namespace!r} is not managed by this server; use one of: {', '.join(self.namespaces)}.",
            )
        name = request.name
        if name is None:
            name = manifests.random_cluster_name()
            while self.store.get(CLUSTER, namespace, name) is not None:
                name = manifests.random_cluster_name()
        elif self.store.get(CLUSTER, namespace, name) is not None:
            raise conflict(f"A DaskCluster named {name!r} already exists in namespace {namespace!r}; pick another name.", "name")
        for i, group in enumerate(request.worker_groups):
            if len(full_group_name(name, group.name)) > MAX_LABEL_VALUE:
                raise invalid(
                    f"worker_groups.{i}.name",
                    f"Worker group {group.name!r} makes the name {full_group_name(name, group.name)!r}, longer than "
                    f"{MAX_LABEL_VALUE} characters; shorten the group or cluster name.",
                )
        if len(default_worker_group_name(name)) > MAX_LABEL_VALUE:
            raise invalid("name", f"Cluster name {name!r} is too long for its worker group names; shorten it.")
        image = request.image or self.config.default_image
        try:
            manifest = manifests.cluster_manifest(request, name, namespace, image)
        except ValueError as e:  # the shared validators of dask_k8s_lab.specs
            raise invalid(str(e).split("=", 1)[0] if "=" in str(e) else "body", str(e)) from None
        ownership.stamp(manifest, self.config.owner)
        if self.config.stop_with_server and not request.keep and (pod := ownership.server_pod()):
            ownership.tie_to_pod(manifest, pod)  # stopping or culling the server removes it
        await quotas.refuse_create(self, namespace, manifest, request, image)  # before anything is made

        created = await self._call(f"create DaskCluster {namespace}/{name}", self.backend.create(manifest))
        made: list[tuple[str, dict]] = [(CLUSTER, created)]
        try:
            for i, group in enumerate(request.worker_groups):
                group_manifest = manifests.worker_group_manifest(created, group, group.image or image, request.env)
                try:
                    made.append((WORKER_GROUP, await self.backend.create(group_manifest)))
                except Exception as e:
                    error = from_kube_error(e, f"create worker group {group.name!r} "
                                               f"(DaskWorkerGroup {namespace}/{group_manifest['metadata']['name']})")
                    raise ApiError(error.status, error.message, f"worker_groups.{i}") from e
        except BaseException as e:  # cancelled too: all or nothing
            await self._undo_create(made)
            if isinstance(e, ApiError):
                raise ApiError(e.status, f"{e.message} Nothing was created: cluster {namespace}/{name} was removed again.",
                               e.field) from e
            raise
        for kind, obj in made:
            self._remember(kind, obj)
        return self._updated_model(namespace, name)

    async def _undo_create(self, made: list[tuple[str, dict]]) -> None:
        """Delete what a failed create made, newest first (the cluster last: deleting it also
        takes whatever the operator made for it by then, through ownerReferences)."""
        for kind, obj in reversed(made):
            meta = obj["metadata"]
            try:
                await asyncio.shield(self.backend.delete(kind, meta["namespace"], meta["name"]))
            except Exception as e:  # already gone is fine; anything else is worth a line in the log
                log.warning("dask-k8s-lab: could not remove %s %s/%s after a failed create: %s",
                            kind, meta["namespace"], meta["name"], watching.describe(e))

    # -- changing ------------------------------------------------------------------------------

    def _autoscalers(self, namespace: str, name: str) -> list[dict]:
        return self.store.children((namespace, name), AUTOSCALER)

    async def scale(self, namespace: str, name: str, request: ScaleRequest) -> dict:
        await self.ready()
        self._cluster_object(namespace, name)
        group_name = full_group_name(name, request.worker_group)
        group = self.store.get(WORKER_GROUP, namespace, group_name)
        is_default = request.worker_group == "default"
        if group is None and not is_default:
            groups = [g["metadata"]["name"] for g in self.store.children((namespace, name), WORKER_GROUP)]
            raise ApiError(
                404,
                f"Cluster {namespace}/{name} has no worker group {request.worker_group!r} "
                f"(it has: {', '.join(sorted(groups)) or 'none yet'}).",
                "worker_group",
            )
        scaled = group or self.store.get(CLUSTER, namespace, name)
        worker = (scaled.get("spec") or {}).get("worker") or {}
        await quotas.refuse_scale(self, namespace, worker, int(worker.get("replicas") or 0), request.workers,
                                  f"worker group {request.worker_group!r} of {namespace}/{name}")
        if is_default:
            # A fixed size replaces adaptive scaling, else the autoscaler would undo it.
            for autoscaler in self._autoscalers(namespace, name):
                target = (autoscaler.get("spec") or {}).get("workerGroup")
                if target in (None, "", "default", group_name):
                    await self._delete_autoscaler(autoscaler)
            patched = await self._call(
                f"scale DaskCluster {namespace}/{name}",
                self.backend.patch(CLUSTER, namespace, name, {"spec": {"worker": {"replicas": request.workers}}}),
            )
            self._remember(CLUSTER, patched)
        if group is not None:
            patched = await self._call(
                f"scale DaskWorkerGroup {namespace}/{group_name}",
                self.backend.patch(WORKER_GROUP, namespace, group_name, {"spec": {"worker": {"replicas": request.workers}}}),
            )
            self._remember(WORKER_GROUP, patched)
        return self._updated_model(namespace, name)

    async def _delete_autoscaler(self, autoscaler: dict) -> None:
        meta = autoscaler["metadata"]
        await self._call(
            f"delete DaskAutoscaler {meta['namespace']}/{meta['name']}",
            self.backend.delete(AUTOSCALER, meta["namespace"], meta["name"]),
        )
        self._publish(self.store.refresh(self.store.apply(AUTOSCALER, "DELETED", autoscaler)))

    async def adapt(self, namespace: str, name: str, request: AdaptRequest) -> dict:
        await self.ready()
        cluster = self._cluster_object(namespace, name)
        existing = self._autoscalers(namespace, name)
        if request.off:
            for autoscaler in existing:
                await self._delete_autoscaler(autoscaler)
            return self._updated_model(namespace, name)
        if existing:
            meta = existing[0]["metadata"]
            patched = await self._call(
                f"update DaskAutoscaler {namespace}/{meta['name']}",
                self.backend.patch(
                    AUTOSCALER, namespace, meta["name"], {"spec": {"minimum": request.minimum, "maximum": request.maximum}}
                ),
            )
        else:
            patched = await self._call(
                f"create DaskAutoscaler {namespace}/{name}",
                self.backend.create(manifests.autoscaler_manifest(cluster, request.minimum, request.maximum)),
            )
        self._remember(AUTOSCALER, patched)
        return self._updated_model(namespace, name)

    async def delete_cluster(self, namespace: str, name: str) -> None:
        await self.ready()
        self._cluster_object(namespace, name)
        await self._call(f"delete DaskCluster {namespace}/{name}", self.backend.delete(CLUSTER, namespace, name))

    async def add_worker_group(self, namespace: str, name: str, request: WorkerGroupRequest) -> dict:
        await self.ready()
        cluster = self._cluster_object(namespace, name)
        own_images = {
            group["image"] for group in (self.store.models.get((namespace, name)) or {}).get("worker_groups", [])
        }
        self._check_image(request.image, {self.config.default_image, *own_images}, "image")
        group_name = full_group_name(name, request.name)
        if request.name == "default" or self.store.get(WORKER_GROUP, namespace, group_name) is not None:
            raise conflict(f"Cluster {namespace}/{name} already has a worker group {request.name!r}.", "name")
        if len(group_name) > MAX_LABEL_VALUE:
            raise invalid("name", f"{group_name!r} is longer than {MAX_LABEL_VALUE} characters; use a shorter group name.")
        manifest = manifests.worker_group_manifest(cluster, request, request.image)
        made = await self._call(f"create DaskWorkerGroup {namespace}/{group_name}", self.backend.create(manifest))
        self._remember(WORKER_GROUP, made)
        return self._updated_model(namespace, name)

    async def delete_worker_group(self, namespace: str, name: str, group: str) -> None:
        await self.ready()
        self._cluster_object(namespace, name)
        if group == "default":
            raise conflict(
                f"The default worker group belongs to cluster {namespace}/{name}; scale it to 0 instead of deleting it.",
                "group",
            )
        group_name = full_group_name(name, group)
        obj = self.store.get(WORKER_GROUP, namespace, group_name)
        if obj is None:
            raise not_found(f"Cluster {namespace}/{name} has no worker group {group!r}.")
        await self._call(f"delete DaskWorkerGroup {namespace}/{group_name}", self.backend.delete(WORKER_GROUP, namespace, group_name))
        self._publish(self.store.refresh(self.store.apply(WORKER_GROUP, "DELETED", obj)))

    # -- logs and events -------------------------------------------------------------------------

    async def logs(self, namespace: str, name: str, tail_lines: int | None = None,
                   previous: bool = False) -> dict[str, str]:
        """The last lines of each pod's log, scheduler first; ``previous``: of the container's
        last terminated run (what a crash-looping worker said before it died)."""
        await self.ready()
        self._cluster_object(namespace, name)
        pods = sorted(
            self.store.children((namespace, name), POD),
            key=lambda p: (p["metadata"].get("labels", {}).get(LABEL_COMPONENT) != COMPONENT_SCHEDULER, p["metadata"]["name"]),
        )
        lines = tail_lines or self.config.log_tail_lines

        async def one(pod: dict) -> str:
            try:
                return await self.backend.pod_logs(namespace, pod["metadata"]["name"], None, lines, previous=previous)
            except Exception as e:
                return f"(no logs: {from_kube_error(e, 'read the logs').message})"

        texts = await asyncio.gather(*(one(p) for p in pods))
        return {pod["metadata"]["name"]: text for pod, text in zip(pods, texts)}

    async def events(self, namespace: str, name: str) -> list[dict]:
        """The events of the cluster and its objects, each asked of the API server by a field
        selector on its kind and name (a namespace's events are never listed whole)."""
        await self.ready()
        cluster = self._cluster_object(namespace, name)
        # events from before this cluster existed belong to an earlier one of the same name
        born = cluster["metadata"].get("creationTimestamp") or ""
        key = (namespace, name)
        objects = {("DaskCluster", name), ("Service", scheduler_name(name))}
        for kind, store_kind in (("DaskWorkerGroup", WORKER_GROUP), ("DaskAutoscaler", AUTOSCALER), ("Pod", POD)):
            objects |= {(kind, o["metadata"]["name"]) for o in self.store.children(key, store_kind)}

        async def of(kind: str, obj_name: str) -> list[dict]:
            selector = f"involvedObject.kind={kind},involvedObject.name={obj_name}"
            return await self._call(f"list the events of {kind} {namespace}/{obj_name}",
                                    self.backend.events(namespace, selector))

        result = []
        for events in await asyncio.gather(*(of(*obj) for obj in sorted(objects))):
            for event in events:
                involved = event.get("involvedObject") or event.get("regarding") or {}
                when = (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
                        or (event.get("metadata") or {}).get("creationTimestamp"))
                if when and born and when[:19] < born[:19]:  # both RFC 3339 UTC: compare to the second
                    continue
                result.append(
                    {
                        "type": event.get("type") or "Normal",
                        "reason": event.get("reason") or "",
                        "message": event.get("message") or event.get("note") or "",
                        "object": f"{involved.get('kind', '')}/{involved.get('name', '')}",
                        "time": when,
                    }
                )
        result.sort(key=lambda e: e["time"] or "")
        return result

    # -- dashboard proxy ---------------------------------------------------------------------------

    async def dashboard_target(self, namespace: str, name: str) -> tuple[str, int]:
        """Where the dashboard of a DaskCluster this server can see is served; 404 otherwise."""
        await self.ready()
        self._cluster_object(namespace, name)
        pod = self.store.get(POD, namespace, scheduler_name(name))
        try:
            target = await self._call(
                f"reach the dashboard of {namespace}/{name}", self.backend.dashboard_target(namespace, name, pod)
            )
        except ApiError as e:
            if e.status != 404:
                raise
            phase = (self.store.models.get((namespace, name)) or {}).get("phase", "Pending")
            raise ApiError(
                503, f"The scheduler of {namespace}/{name} is not up yet (phase {phase}): {e.message}"
            ) from None
        self._dashboard_hosts[(namespace, name)] = target
        return target

    def is_dashboard_host(self, host: str) -> bool:
        """The proxy's host allowlist: only hosts we resolved for a known cluster's scheduler."""
        return any(host == target[0] for key, target in self._dashboard_hosts.items() if key in self.store.models)

