"""The metadata of the children: labels and annotations by precedence, owner references, spec
hashes and the service-mesh choice (pure; ``builders`` re-exports all of it).

Metadata precedence (documented behaviour): ``top-level <= subresource <= base``. The top level is
the parent's own ``metadata``, the subresource level is ``spec.<part>.metadata``, and the base
labels are always set by the controller. Annotations written by kopf, kubectl or this operator
are never copied.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from dask_k8s_common.contract import (
    ANNOTATION_DISABLE_MESH_SIDECAR,
    ANNOTATION_PREFIX,
    ANNOTATION_RETIRING,
    ANNOTATION_SPEC_HASH,
    ANNOTATION_SYNCED_REPLICAS,
)

# the operator's own names for the contract's annotations (imported from here by tests and users)
SPEC_HASH_ANNOTATION = ANNOTATION_SPEC_HASH
RETIRING_ANNOTATION = ANNOTATION_RETIRING
SYNCED_REPLICAS_ANNOTATION = ANNOTATION_SYNCED_REPLICAS
IGNORED_ANNOTATION_PREFIXES = ("kopf.zalando.org", "kubectl.kubernetes.io", ANNOTATION_PREFIX)

# Service-mesh sidecars are left alone unless asked: the original operator forced this label on
# every pod, which kept meshes (Istio) from managing Dask traffic even where they should.
MESH_OPT_OUT_LABEL = "sidecar.istio.io/inject"
# Per resource: "true" opts its pods out of sidecar injection, "false" keeps them in whatever the
# operator-wide setting says. A user annotation, so it is copied from a DaskCluster or DaskJob to
# its worker groups and pods like any other.
MESH_OPT_OUT_ANNOTATION = ANNOTATION_DISABLE_MESH_SIDECAR
# Operator-wide default (chart value ``mesh.disableSidecarInjection``).
MESH_OPT_OUT_ENV = "DASK_K8S_OPERATOR_DISABLE_MESH_SIDECAR"


def mesh_opt_out_default() -> bool:
    return os.environ.get(MESH_OPT_OUT_ENV, "false").strip().lower() == "true"


def apply_mesh_choice(meta: dict[str, dict[str, str]]) -> None:
    """Add ``sidecar.istio.io/inject: "false"`` to a pod's labels only if opted out."""
    choice = meta["annotations"].get(MESH_OPT_OUT_ANNOTATION, "").strip().lower()
    if choice == "true" or (choice != "false" and mesh_opt_out_default()):
        meta["labels"][MESH_OPT_OUT_LABEL] = "false"


# ---------------------------------------------------------------------------------------------
# metadata
# ---------------------------------------------------------------------------------------------


def _copyable_annotations(annotations: Mapping[str, str] | None) -> dict[str, str]:
    return {
        key: value
        for key, value in (annotations or {}).items()
        if not key.startswith(IGNORED_ANNOTATION_PREFIXES)
    }


def merge_metadata(
    top: Mapping[str, Any] | None,
    sub: Mapping[str, Any] | None,
    base_labels: Mapping[str, str],
) -> dict[str, dict[str, str]]:
    """Labels and annotations for a child: ``top <= sub <= base``, minus ignored annotations."""
    top = top or {}
    sub = sub or {}
    labels = {**(top.get("labels") or {}), **(sub.get("labels") or {}), **base_labels}
    annotations = {
        **_copyable_annotations(top.get("annotations")),
        **_copyable_annotations(sub.get("annotations")),
    }
    return {"labels": labels, "annotations": annotations}


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """An ownerReference to ``owner`` so that the garbage collector deletes the child with it."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def spec_hash(spec: Any) -> str:
    """A short, stable digest of a spec, stored on children to notice spec changes."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def is_owned_by(child: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    uid = owner["metadata"].get("uid")
    return any(ref.get("uid") == uid for ref in child["metadata"].get("ownerReferences") or [])


def all_but_status(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a reconcile of ``body`` depends on: equal for two versions of an object whose only
    difference is their status (and resourceVersion)."""
    meta = body.get("metadata") or {}
    return (meta.get("uid"), meta.get("generation"), meta.get("deletionTimestamp"),
            meta.get("labels"), meta.get("annotations"), meta.get("ownerReferences"),
            meta.get("finalizers"), body.get("spec"))
