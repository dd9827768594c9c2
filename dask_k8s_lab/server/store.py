"""An in-memory mirror of the Dask objects of the watched namespaces, fed by watch events.

It keeps each DaskCluster's Cluster JSON up to date, so listing is a dictionary read, and it
reports which clusters changed so the live stream only sends real changes. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from dask_k8s_common.resources import LABEL_CLUSTER

from .model import cluster_model

CLUSTER = "DaskCluster"
WORKER_GROUP = "DaskWorkerGroup"
AUTOSCALER = "DaskAutoscaler"
POD = "Pod"
KINDS = (CLUSTER, WORKER_GROUP, AUTOSCALER, POD)

Key = tuple[str, str]  # (namespace, name)


def owning_cluster(kind: str, obj: dict) -> str | None:
    """The name of the DaskCluster an object belongs to."""
    if kind == CLUSTER:
        return obj["metadata"]["name"]
    if kind in (WORKER_GROUP, AUTOSCALER):
        return (obj.get("spec") or {}).get("cluster")
    if kind == POD:
        return (obj["metadata"].get("labels") or {}).get(LABEL_CLUSTER)
    raise ValueError(f"unknown kind {kind!r}")


class ClusterStore:
    """Objects by kind and key, grouped by the cluster they belong to, plus the computed models."""

    def __init__(self, base_url: str = "/") -> None:
        self.base_url = base_url
        self.objects: dict[str, dict[Key, dict]] = {kind: {} for kind in KINDS}
        # cluster key -> kind -> object key -> object (children of a cluster, and the cluster itself)
        self._by_cluster: dict[Key, dict[str, dict[Key, dict]]] = {}
        self._owner: dict[tuple[str, Key], Key] = {}
        self.crash_logs: dict[Key, dict[tuple[str, str], str]] = {}
        # (threads, memory bytes, workers) as the scheduler last reported them
        self.scheduler_totals: dict[Key, tuple[float, int, int]] = {}
        self.models: dict[Key, dict] = {}
        self._list_body: tuple[str | None, str] | None = None  # (stale, serialized list) until a change

    # -- feeding -----------------------------------------------------------------------------

    def apply(self, kind: str, event_type: str, obj: dict) -> set[Key]:
        """Record one watch event (ADDED, MODIFIED, DELETED); return the clusters it touches."""
        metadata = obj.get("metadata") or {}
        key = (metadata.get("namespace", ""), metadata.get("name", ""))
        affected = set()
        old_owner = self._owner.pop((kind, key), None)
        if old_owner is not None:
            self._by_cluster.get(old_owner, {}).get(kind, {}).pop(key, None)
            affected.add(old_owner)
        if event_type == "DELETED":
            self.objects[kind].pop(key, None)
            if kind == POD and old_owner is not None:
                logs = self.crash_logs.get(old_owner, {})
                for log_key in [k for k in logs if k[0] == key[1]]:
                    del logs[log_key]
            return affected
        self.objects[kind][key] = obj
        cluster = owning_cluster(kind, obj)
        if cluster:
            owner = (key[0], cluster)
            self._owner[(kind, key)] = owner
            self._by_cluster.setdefault(owner, {}).setdefault(kind, {})[key] = obj
            affected.add(owner)
        return affected

    def replace(self, kind: str, namespace: str, objects: Iterable[dict]) -> set[Key]:
        """Make the cache hold exactly ``objects`` of this kind in this namespace (after a relist)."""
        fresh = {(o["metadata"].get("namespace", namespace), o["metadata"]["name"]): o for o in objects}
        affected: set[Key] = set()
        for key in [k for k in self.objects[kind] if k[0] == namespace and k not in fresh]:
            affected |= self.apply(kind, "DELETED", self.objects[kind][key])
        for obj in fresh.values():
            affected |= self.apply(kind, "MODIFIED", obj)
        return affected

    def set_crash_log(self, cluster: Key, pod: str, container: str, tail: str) -> None:
        self.crash_logs.setdefault(cluster, {})[(pod, container)] = tail

    # -- reading -----------------------------------------------------------------------------

    def owner_of(self, kind: str, obj: dict) -> Key | None:
        """The cluster a cached object was filed under."""
        metadata = obj.get("metadata") or {}
        return self._owner.get((kind, (metadata.get("namespace", ""), metadata.get("name", ""))))

    def children(self, cluster: Key, kind: str) -> list[dict]:
        return list(self._by_cluster.get(cluster, {}).get(kind, {}).values())

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        return self.objects[kind].get((namespace, name))

    def compute(self, cluster: Key) -> dict | None:
        obj = self.objects[CLUSTER].get(cluster)
        if obj is None:
            return None
        return cluster_model(
            obj,
            self.children(cluster, WORKER_GROUP),
            self.children(cluster, AUTOSCALER),
            self.children(cluster, POD),
            base_url=self.base_url,
            crash_logs=self.crash_logs.get(cluster, {}),
            scheduler_totals=self._totals(cluster, obj),
        )

    def _totals(self, cluster: Key, obj: dict) -> tuple[float, int] | None:
        totals = self.scheduler_totals.get(cluster)
        if totals is None or (obj.get("status") or {}).get("phase") != "Running":
            return None
        return totals[0], totals[1]

    def refresh(self, clusters: Iterable[Key]) -> list[tuple[Key, dict | None]]:
        """Recompute the models of these clusters; return those whose JSON changed (None: gone)."""
        changes = []
        for key in clusters:
            new = self.compute(key)
            old = self.models.get(key)
            if new == old:
                continue
            self._list_body = None
            if new is None:
                self.models.pop(key, None)
                self.crash_logs.pop(key, None)
                self.scheduler_totals.pop(key, None)
            else:
                self.models[key] = new
            changes.append((key, new))
        return changes

    def list_models(self) -> list[dict]:
        return [self.models[key] for key in sorted(self.models)]

    def list_body(self, stale: str | None = None) -> str:
        """``{"clusters": [...], "stale": ...}`` as JSON text, serialized once per change rather
        than per request."""
        if self._list_body is None or self._list_body[0] != stale:
            self._list_body = (stale, json.dumps({"clusters": self.list_models(), "stale": stale}))
        return self._list_body[1]
