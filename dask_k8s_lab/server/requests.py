"""Parse REST request bodies into plain dataclasses.

Pure functions: no I/O. The structure (fields, types, names, quantities, counts) is checked
against the schemas of ``openapi.yaml`` (``schemas``); what a schema cannot say (unique group
names, either ``workers`` or ``adapt``, minimum not above maximum) is checked here. Every problem
is an ``ApiError`` naming the field (dotted path, e.g. ``worker_groups.1.n_workers``), the value
and what would be accepted, so a malformed body is a 4xx and never a 500.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from dask_k8s_common.contract import MAX_LABEL_VALUE as MAX_LABEL_VALUE  # re-exported

from . import schemas
from .errors import ApiError, invalid

#: What a template's ``options`` may set (the rest of a create body is the user's own).
TEMPLATE_OPTION_FIELDS = {"image", "n_workers", "resources", "env", "worker_groups"}


@dataclass
class WorkerGroupRequest:
    name: str
    n_workers: int
    image: str | None = None
    resources: dict | None = None


@dataclass
class CreateRequest:
    name: str | None = None
    namespace: str | None = None
    template: str | None = None
    image: str | None = None
    n_workers: int | None = None
    resources: dict | None = None
    env: dict[str, str] | None = None
    worker_groups: list[WorkerGroupRequest] = field(default_factory=list)
    keep: bool = False  # outlive the server that creates it (ownership.tie_to_pod)


@dataclass
class ScaleRequest:
    workers: int
    worker_group: str = "default"


@dataclass
class AdaptRequest:
    """``minimum``/``maximum`` are None when adaptive scaling is to be switched off."""

    minimum: int | None
    maximum: int | None

    @property
    def off(self) -> bool:
        return self.minimum is None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def parse_json_object(body: bytes) -> dict:
    """The request body as a JSON object, or a 400 saying what is wrong with it."""
    if not body or not body.strip():
        raise ApiError(400, "The request body is empty; send a JSON object.")
    try:
        value = json.loads(body, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"The request body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ApiError(400, f"The request body must be a JSON object, got {type(value).__name__}.")
    return value


def _given(data: dict) -> dict:
    """The fields of a create or worker-group body that are set: null is taken as left out."""
    return {key: value for key, value in data.items() if value is not None}


def parse_create(data: dict, maximum: int | None = None) -> CreateRequest:
    """A create body (``POST /dask-k8s/clusters``, ``POST /dask-k8s/quota``); ``maximum``: the
    largest worker count allowed (``c.DaskK8sLab.max_workers``; default the document's)."""
    data = _given(data)
    if isinstance(data.get("worker_groups"), list):
        data["worker_groups"] = [_given(g) if isinstance(g, dict) else g for g in data["worker_groups"]]
    schemas.check("CreateCluster", data, maximum)
    request = CreateRequest(name=data.get("name"), namespace=data.get("namespace"), template=data.get("template"),
                            keep=data.get("keep", False))
    _fill_options(data, request)
    return request


def _fill_options(data: dict, request: CreateRequest) -> None:
    """The options of a checked create body (or template) into ``request``."""
    if "image" in data:
        request.image = data["image"]
    if "n_workers" in data:
        request.n_workers = int(data["n_workers"])
    if "resources" in data:
        request.resources = _resources(data["resources"], "resources")
    if "env" in data:
        request.env = dict(data["env"])
    if "worker_groups" in data:
        request.worker_groups = []
        seen = {"default"}
        for i, group in enumerate(data["worker_groups"]):
            if group["name"] in seen:
                raise invalid(
                    f"worker_groups.{i}.name",
                    f"worker group name {group['name']!r} is taken ('default' is the cluster's own group).",
                )
            seen.add(group["name"])
            request.worker_groups.append(_worker_group(group, f"worker_groups.{i}."))


def _worker_group(data: dict, prefix: str) -> WorkerGroupRequest:
    return WorkerGroupRequest(
        name=data["name"],
        n_workers=int(data["n_workers"]),
        image=data.get("image"),
        resources=_resources(data["resources"], f"{prefix}resources") if "resources" in data else None,
    )


def _resources(value: dict, where: str) -> dict:
    """Quantities as the text Kubernetes reads (a number such as 1 or 0.5 becomes "1", "0.5")."""
    result: dict = {}
    for section, quantities in value.items():
        for name, quantity in quantities.items():
            if isinstance(quantity, float) and not math.isfinite(quantity):
                raise invalid(f"{where}.{section}.{name}", f"{where}.{section}.{name} must be a finite quantity.")
        result[section] = {name: str(quantity) for name, quantity in quantities.items()}
    return result


def apply_template(request: CreateRequest, template: dict, maximum: int | None = None) -> CreateRequest:
    """Fill the fields the request left out from a template's options (request fields win)."""
    options = {k: v for k, v in _given(template.get("options") or {}).items() if k in TEMPLATE_OPTION_FIELDS}
    schemas.check("CreateCluster", options, maximum)
    defaults = CreateRequest()
    _fill_options(options, defaults)
    for name in ("image", "n_workers", "resources", "env"):
        if getattr(request, name) is None:
            setattr(request, name, getattr(defaults, name))
    if not request.worker_groups:
        request.worker_groups = defaults.worker_groups
    return request


def parse_patch(data: dict, maximum: int | None = None) -> ScaleRequest | AdaptRequest:
    """``{"workers": n, "worker_group"?: g}`` or ``{"adapt": {"minimum", "maximum"}}`` or ``{"adapt": null}``."""
    if "adapt" in data and "workers" in data:
        raise invalid("adapt", "Send either workers (a fixed size) or adapt (a range), not both.")
    if "adapt" in data:
        if "worker_group" in data:
            raise invalid("worker_group", "adapt applies to the default worker group; leave out worker_group.")
        schemas.check("AdaptRequest", data, maximum)
        adapt = data["adapt"]
        if adapt is None:
            return AdaptRequest(None, None)
        minimum, maximum_ = int(adapt["minimum"]), int(adapt["maximum"])
        if minimum > maximum_:
            raise invalid("adapt.maximum", f"adapt.maximum ({maximum_}) must not be below adapt.minimum ({minimum}).")
        return AdaptRequest(minimum, maximum_)
    data = _given(data)
    if not data:
        raise invalid("workers", 'Send {"workers": n} or {"adapt": {"minimum": a, "maximum": b}} or {"adapt": null}.')
    schemas.check("ScaleRequest", data, maximum)
    return ScaleRequest(workers=int(data["workers"]), worker_group=data.get("worker_group", "default"))


def parse_add_worker_group(data: dict, maximum: int | None = None) -> WorkerGroupRequest:
    """A worker group added to a cluster (``POST .../worker-groups``)."""
    data = _given(data)
    schemas.check("WorkerGroupRequest", data, maximum)
    return _worker_group(data, "")
