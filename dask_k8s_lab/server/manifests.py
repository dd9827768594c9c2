"""Manifests the REST API creates, built with the project's ``dask_k8s_lab.specs`` (pure)."""

from __future__ import annotations

import copy
import secrets
import string

from dask_k8s_lab import specs
from dask_k8s_common.resources import API_VERSION, LABEL_CLUSTER

from .model import worker_container
from .requests import CreateRequest, WorkerGroupRequest

CREATED_BY_LABEL = "app.kubernetes.io/created-by"
CREATED_BY = "dask-k8s-lab-jupyter"


def random_cluster_name() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "dask-" + "".join(secrets.choice(alphabet) for _ in range(6))


def owner_reference(cluster: dict) -> dict:
    """Makes the garbage collector delete an object together with its DaskCluster."""
    return {
        "apiVersion": API_VERSION,
        "kind": "DaskCluster",
        "name": cluster["metadata"]["name"],
        "uid": cluster["metadata"]["uid"],
        "blockOwnerDeletion": True,
    }


def cluster_manifest(request: CreateRequest, name: str, namespace: str, image: str) -> dict:
    manifest = specs.make_cluster_spec(
        name=name,
        image=image,
        n_workers=request.n_workers if request.n_workers is not None else 0,
        resources=request.resources or None,
        env=request.env or None,
    )
    metadata = manifest.setdefault("metadata", {})
    metadata["namespace"] = namespace
    metadata.setdefault("labels", {})[CREATED_BY_LABEL] = CREATED_BY
    return manifest


def worker_group_manifest(
    cluster: dict, group: WorkerGroupRequest, image: str | None, env: dict | None = None
) -> dict:
    """A DaskWorkerGroup for ``cluster``: its default worker pod spec with this group's changes."""
    name = cluster["metadata"]["name"]
    base = copy.deepcopy(((cluster.get("spec") or {}).get("worker") or {}).get("spec") or {})
    if not base.get("containers"):
        base = specs.make_worker_spec(image=image, n_workers=0, env=env or None)["spec"]
    container = worker_container(base)
    if image:
        container["image"] = image
    if group.resources is not None:
        container["resources"] = copy.deepcopy(group.resources)
    manifest = specs.make_worker_group(name, group.name, {"replicas": group.n_workers, "spec": base})
    metadata = manifest["metadata"]
    metadata["namespace"] = cluster["metadata"]["namespace"]
    metadata.setdefault("labels", {})[LABEL_CLUSTER] = name
    metadata["labels"][CREATED_BY_LABEL] = CREATED_BY
    if cluster["metadata"].get("uid"):
        metadata["ownerReferences"] = [owner_reference(cluster)]
    return manifest


def autoscaler_manifest(cluster: dict, minimum: int, maximum: int) -> dict:
    metadata = {
        "name": cluster["metadata"]["name"],
        "namespace": cluster["metadata"]["namespace"],
        "labels": {LABEL_CLUSTER: cluster["metadata"]["name"], CREATED_BY_LABEL: CREATED_BY},
    }
    if cluster["metadata"].get("uid"):
        metadata["ownerReferences"] = [owner_reference(cluster)]
    return {
        "apiVersion": API_VERSION,
        "kind": "DaskAutoscaler",
        "metadata": metadata,
        "spec": {"cluster": cluster["metadata"]["name"], "minimum": minimum, "maximum": maximum},
    }
