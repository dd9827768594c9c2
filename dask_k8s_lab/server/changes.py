"""What the REST API changes: create (all or nothing), scale, adapt, add and remove worker
groups, delete. Part of ``ClusterService`` (see ``service``); the rules are in ``rules``."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from dask_k8s_common import watching
from dask_k8s_lab import ownership

from . import manifests, quotas, rules
from .backend import KubeBackend
from .config import DaskK8sLab
from .errors import ApiError, conflict, from_kube_error, invalid, not_found
from .model import full_group_name
from .requests import AdaptRequest, CreateRequest, ScaleRequest, WorkerGroupRequest, apply_template
from .store import AUTOSCALER, CLUSTER, WORKER_GROUP, ClusterStore

log = logging.getLogger(__name__)


class ClusterChanges:
    """Turns a parsed request into Kubernetes calls, and the result into the cache."""

    config: DaskK8sLab
    backend: KubeBackend
    store: ClusterStore
    namespaces: list[str]

    # -- creating ----------------------------------------------------------------------------------

    async def create_cluster(self, request: CreateRequest) -> dict:
        await self.ready()
        allowed_images = {self.config.default_image}
        template = None if request.template is None else rules.find_template(self.config.templates, request.template)
        if template is not None:
            allowed_images.add((template.get("options") or {}).get("image"))
        rules.check_images(request.image, request.worker_groups, allowed_images, self.config.allow_image_choice)
        if template is not None:
            try:
                request = apply_template(request, template, self.config.max_workers)
            except ApiError as e:
                raise ApiError(422, f"Template {template['name']!r} is invalid: {e.message}", "template") from None

        namespace = request.namespace or self.namespaces[0]
        rules.check_namespace(namespace, self.namespaces, self.config.owner)
        name = request.name
        if name is None:
            name = manifests.random_cluster_name()
            while self.store.get(CLUSTER, namespace, name) is not None:
                name = manifests.random_cluster_name()
        elif self.store.get(CLUSTER, namespace, name) is not None:
            raise conflict(f"A DaskCluster named {name!r} already exists in namespace {namespace!r}; pick another name.", "name")
        rules.check_group_names(name, request.worker_groups)
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
        rules.check_image(request.image, {self.config.default_image, *own_images}, self.config.allow_image_choice, "image")
        group_name = full_group_name(name, request.name)
        rules.check_new_group(namespace, name, request.name, self.store.get(WORKER_GROUP, namespace, group_name) is not None)
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

    if TYPE_CHECKING:  # the other parts of ClusterService
        async def ready(self, timeout: float | None = None) -> None: ...
        def _cluster_object(self, namespace: str, name: str) -> dict: ...
        async def _call(self, action: str, coro): ...
        def _updated_model(self, namespace: str, name: str) -> dict: ...
        def _remember(self, kind: str, obj: dict) -> None: ...
        def _publish(self, changes) -> None: ...
