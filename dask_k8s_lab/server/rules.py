"""The server's rules for a request that the OpenAPI schemas cannot state: which images a user
may choose, which templates and namespaces exist, and how long the names made from a request
get. Pure functions: each returns quietly or raises the ``ApiError`` that names the field."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dask_k8s_common.contract import MAX_LABEL_VALUE, default_worker_group_name
from dask_k8s_lab import ownership

from .errors import ApiError, conflict, invalid
from .model import full_group_name
from .requests import WorkerGroupRequest


def check_image(image: str | None, allowed: set[str], allow_choice: bool, field: str) -> None:
    """A 403 for an image the server does not let users choose."""
    if image is not None and not allow_choice and image not in allowed:
        raise ApiError(
            403,
            f"{field} {image!r} is not allowed: this server does not let users choose images "
            f"(allowed: {', '.join(sorted(allowed))}); leave {field} out.",
            field,
        )


def check_images(image: str | None, groups: Sequence[WorkerGroupRequest], allowed: set[str], allow_choice: bool) -> None:
    """The cluster's image and each worker group's."""
    check_image(image, allowed, allow_choice, "image")
    for i, group in enumerate(groups):
        check_image(group.image, allowed, allow_choice, f"worker_groups.{i}.image")


def find_template(templates: Iterable[dict], name: str) -> dict:
    templates = list(templates)
    template = next((t for t in templates if t["name"] == name), None)
    if template is None:
        names = ", ".join(t["name"] for t in templates) or "none configured"
        raise invalid("template", f"Unknown template {name!r} (available: {names}).")
    return template


def check_namespace(namespace: str, namespaces: Sequence[str], owner: str | None) -> None:
    """Only the namespaces this server manages; in a hub, saying so is a refusal (403)."""
    if namespace in namespaces:
        return
    if owner:
        raise ApiError(403, ownership.namespace_refusal(namespace, namespaces, owner), "namespace")
    raise invalid("namespace", f"Namespace {namespace!r} is not managed by this server; use one of: {', '.join(namespaces)}.")


def check_group_names(name: str, groups: Sequence[WorkerGroupRequest]) -> None:
    """Every DaskWorkerGroup name ``<cluster>-<group>`` is also a label value: at most 63 characters."""
    for i, group in enumerate(groups):
        if len(full_group_name(name, group.name)) > MAX_LABEL_VALUE:
            raise invalid(
                f"worker_groups.{i}.name",
                f"Worker group {group.name!r} makes the name {full_group_name(name, group.name)!r}, longer than "
                f"{MAX_LABEL_VALUE} characters; shorten the group or cluster name.",
            )
    if len(default_worker_group_name(name)) > MAX_LABEL_VALUE:
        raise invalid("name", f"Cluster name {name!r} is too long for its worker group names; shorten it.")


def check_new_group(namespace: str, name: str, group: str, exists: bool) -> None:
    """A group added to a running cluster: not ``default``, not taken, and short enough."""
    if group == "default" or exists:
        raise conflict(f"Cluster {namespace}/{name} already has a worker group {group!r}.", "name")
    group_name = full_group_name(name, group)
    if len(group_name) > MAX_LABEL_VALUE:
        raise invalid("name", f"{group_name!r} is longer than {MAX_LABEL_VALUE} characters; use a shorter group name.")
