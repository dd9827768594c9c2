"""Who a DaskCluster belongs to: the JupyterHub user whose server or notebook created it.

A server spawned by JupyterHub serves one user, and the hub tells it which in ``JUPYTERHUB_USER``
(the kernels it starts inherit the variable). Clusters made there carry that name in the
``ANNOTATION_OWNER`` annotation (exact, what access decisions read) and a label-safe form of it in
``LABEL_OWNER`` (for ``kubectl get daskclusters -l``). Outside JupyterHub there is no owner:
nothing is recorded and nothing is hidden.

This only decides what the server extension shows and acts on. In a namespace shared by one
service account a user's own token can still reach the others' clusters; per-user namespaces are
the boundary that Kubernetes itself enforces. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from dask_k8s_common.contract import MAX_LABEL_VALUE
from dask_k8s_common.resources import ANNOTATION_OWNER, LABEL_OWNER

HUB_USER_ENV = "JUPYTERHUB_USER"

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_NOT_LABEL_CHARS = re.compile(r"[^-A-Za-z0-9_.]+")


def hub_user(environ: Mapping[str, str] | None = None) -> str | None:
    """The JupyterHub user this process works for, or None outside JupyterHub."""
    user = (os.environ if environ is None else environ).get(HUB_USER_ENV, "")
    return user or None


def label_value(user: str) -> str:
    """``user`` as a label value: itself when it is one, else a readable part plus a hash of the
    whole name (so two names that differ only in dropped characters still differ)."""
    if len(user) <= MAX_LABEL_VALUE and _LABEL_VALUE.match(user):
        return user
    digest = hashlib.sha256(user.encode()).hexdigest()[:10]
    readable = _NOT_LABEL_CHARS.sub("-", user)[: MAX_LABEL_VALUE - len(digest) - 1].strip("-_.")
    return f"{readable}-{digest}" if readable else digest


def stamp(manifest: dict[str, Any], user: str | None) -> dict[str, Any]:
    """Record ``user`` as the owner of ``manifest`` (in place); no owner, no change."""
    if user:
        metadata = manifest.setdefault("metadata", {})
        metadata.setdefault("annotations", {})[ANNOTATION_OWNER] = user
        metadata.setdefault("labels", {})[LABEL_OWNER] = label_value(user)
    return manifest


def owner(obj: Mapping[str, Any]) -> str | None:
    """The user recorded on an object, if any."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return annotations.get(ANNOTATION_OWNER) or None


def visible(obj: Mapping[str, Any], user: str | None, see_all: bool = False) -> bool:
    """Whether a server working for ``user`` shows and acts on ``obj``: always outside JupyterHub
    (no user) and for an admin's server (``see_all``), else only when the user owns it. Clusters
    with no recorded owner (made with kubectl, say) count as someone else's."""
    return user is None or see_all or owner(obj) == user


def namespace_refusal(namespace: str, allowed: Sequence[str], user: str) -> str:
    """Why ``user`` may not put a cluster into ``namespace``."""
    return (
        f"Namespace {namespace!r} is not yours: {user}'s server creates clusters only in "
        f"{', '.join(repr(n) for n in allowed)}; leave namespace out or use one of those."
    )


# -- clusters that stop with their server --------------------------------------------------------

# The server's own pod, for owner references; a spawner sets them from the downward API
# (fieldRef metadata.namespace / name / uid), deploy/local-hub/jupyterhub_config.py shows how.
POD_ENV = {"namespace": "DASK_K8S_LAB_POD_NAMESPACE", "name": "DASK_K8S_LAB_POD_NAME", "uid": "DASK_K8S_LAB_POD_UID"}


def server_pod(environ: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """{namespace, name, uid} of the pod this server runs in, when the spawner said."""
    env = os.environ if environ is None else environ
    pod = {key: env.get(name, "") for key, name in POD_ENV.items()}
    return pod if all(pod.values()) else None


def tie_to_pod(manifest: dict[str, Any], pod: Mapping[str, str]) -> dict[str, Any]:
    """Make the garbage collector delete ``manifest``'s object when the pod goes (in place).
    Only within the pod's namespace: Kubernetes takes an owner in another namespace for a
    missing one and would delete the object at once."""
    metadata = manifest.setdefault("metadata", {})
    if metadata.get("namespace") != pod["namespace"]:
        return manifest
    name, uid = pod["name"], pod["uid"]
    references = metadata.setdefault("ownerReferences", [])
    references.append({"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid})
    return manifest


def tied_to_pod(obj: Mapping[str, Any]) -> str | None:
    """The pod whose deletion deletes ``obj``, if any."""
    for reference in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("kind") == "Pod" and reference.get("apiVersion") == "v1":
            return reference.get("name")
    return None


# -- links from a hub-spawned server ----------------------------------------------------------------


def hub_dashboard_link(namespace: str, name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Where a notebook in a hub-spawned server opens a cluster's dashboard: its own server's
    dashboard proxy, behind the hub's prefix (the browser cannot reach a scheduler's address,
    and that proxy keeps the user's credentials away from it). None outside JupyterHub."""
    prefix = (os.environ if environ is None else environ).get("JUPYTERHUB_SERVICE_PREFIX")
    if not prefix:
        return None
    return f"{prefix.rstrip('/')}/dask-k8s/dashboard/{namespace}/{name}/status"
