"""Parse and validate REST request bodies into plain dataclasses.

Pure functions: no I/O. Every problem is an ``ApiError`` naming the field (dotted path, e.g.
``worker_groups.1.n_workers``), the value and what would be accepted, so a malformed body is a
4xx and never a 500.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, invalid

# A DNS-1035 label: what Service names must be (the scheduler Service is "<name>-scheduler").
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_CLUSTER_NAME = 63 - len("-scheduler")
MAX_LABEL_VALUE = 63
QUANTITY = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[mkMGTPE]i?|Ki|[munpf])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
RESOURCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$")
IMAGE = re.compile(r"^[^\s]+$")

CREATE_FIELDS = {"name", "namespace", "template", "image", "n_workers", "resources", "env", "worker_groups", "keep"}
GROUP_FIELDS = {"name", "n_workers", "image", "resources"}
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


def parse_json_object(body: bytes) -> dict:
    """The request body as a JSON object, or a 400 saying what is wrong with it."""
    if not body or not body.strip():
        raise ApiError(400, "The request body is empty; send a JSON object.")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"The request body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ApiError(400, f"The request body must be a JSON object, got {type(value).__name__}.")
    return value


def _reject_unknown(data: dict, allowed: set[str], prefix: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise invalid(
                f"{prefix}{key}", f"Unknown field {prefix}{key!s}; accepted: {', '.join(sorted(allowed))}."
            )


def check_name(value: Any, field_name: str, max_length: int = MAX_CLUSTER_NAME) -> str:
    if not isinstance(value, str):
        raise invalid(field_name, f"{field_name} must be a string, got {json.dumps(value)}.")
    if not DNS_LABEL.match(value) or len(value) > max_length:
        raise invalid(
            field_name,
            f"{field_name} {value!r} is not a valid name: use at most {max_length} lowercase letters, "
            "digits and '-', starting with a letter and ending with a letter or digit.",
        )
    return value


def check_count(value: Any, field_name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(field_name, f"{field_name} must be a whole number, got {json.dumps(value)}.")
    if value < 0 or value > maximum:
        raise invalid(field_name, f"{field_name} must be between 0 and {maximum}, got {value}.")
    return value


def check_image(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not value or not IMAGE.match(value) or len(value) > 512:
        raise invalid(field_name, f"{field_name} must be a container image reference, got {json.dumps(value)}.")
    return value


def check_resources(value: Any, field_name: str) -> dict:
    """``{"requests": {name: quantity}, "limits": {...}}`` with Kubernetes quantities."""
    if not isinstance(value, dict):
        raise invalid(field_name, f'{field_name} must be an object like {{"requests": {{"cpu": "1"}}}}.')
    _reject_unknown(value, {"requests", "limits"}, f"{field_name}.")
    result: dict = {}
    for section, quantities in value.items():
        path = f"{field_name}.{section}"
        if not isinstance(quantities, dict):
            raise invalid(path, f'{path} must be an object like {{"cpu": "1", "memory": "2Gi"}}.')
        checked = {}
        for name, quantity in quantities.items():
            item = f"{path}.{name}"
            if not isinstance(name, str) or not RESOURCE_NAME.match(name) or len(name) > 253:
                raise invalid(item, f"{name!r} is not a resource name (e.g. cpu, memory, nvidia.com/gpu).")
            if isinstance(quantity, bool) or not isinstance(quantity, (str, int, float)):
                raise invalid(item, f"{item} must be a quantity such as \"2\", \"500m\" or \"4Gi\".")
            text = str(quantity)
            if isinstance(quantity, float) and (quantity != quantity or quantity in (float("inf"), float("-inf"))):
                raise invalid(item, f"{item} must be a finite quantity.")
            if not QUANTITY.match(text) or len(text) > 64:
                raise invalid(item, f"{item} {text!r} is not a quantity such as \"2\", \"500m\" or \"4Gi\".")
            checked[name] = text
        result[section] = checked
    return result


def check_env(value: Any, field_name: str = "env") -> dict[str, str]:
    if not isinstance(value, dict):
        raise invalid(field_name, f'{field_name} must be an object of names to strings, like {{"FOO": "bar"}}.')
    for name, text in value.items():
        if not ENV_NAME.match(name) or len(name) > 256:
            raise invalid(f"{field_name}.{name}", f"{name!r} is not a valid environment variable name.")
        if not isinstance(text, str):
            raise invalid(f"{field_name}.{name}", f"{field_name}.{name} must be a string, got {json.dumps(text)}.")
    return dict(value)


def parse_worker_group(data: Any, prefix: str, maximum: int) -> WorkerGroupRequest:
    """A worker group object; ``prefix`` (e.g. ``"worker_groups.1."``) locates it in the body."""
    where = prefix.rstrip(".") or "body"
    if not isinstance(data, dict):
        raise invalid(where, f'{where} must be an object like {{"name": "gpu", "n_workers": 1}}.')
    _reject_unknown(data, GROUP_FIELDS, prefix)
    for key in ("name", "n_workers"):
        if key not in data:
            raise invalid(f"{prefix}{key}", f"{prefix}{key} is required.")
    group = WorkerGroupRequest(
        name=check_name(data["name"], f"{prefix}name", MAX_LABEL_VALUE),
        n_workers=check_count(data["n_workers"], f"{prefix}n_workers", maximum),
    )
    if data.get("image") is not None:
        group.image = check_image(data["image"], f"{prefix}image")
    if data.get("resources") is not None:
        group.resources = check_resources(data["resources"], f"{prefix}resources")
    return group


def parse_create(data: dict, maximum: int) -> CreateRequest:
    _reject_unknown(data, CREATE_FIELDS)
    request = CreateRequest()
    if data.get("name") is not None:
        request.name = check_name(data["name"], "name")
    if data.get("namespace") is not None:
        request.namespace = check_name(data["namespace"], "namespace", 63)
    if data.get("template") is not None:
        if not isinstance(data["template"], str):
            raise invalid("template", f"template must be a template name, got {json.dumps(data['template'])}.")
        request.template = data["template"]
    if data.get("keep") is not None:
        if not isinstance(data["keep"], bool):
            raise invalid("keep", f"keep must be true or false, got {json.dumps(data['keep'])}.")
        request.keep = data["keep"]
    _parse_options(data, request, maximum)
    return request


def _parse_options(data: dict, request: CreateRequest, maximum: int) -> None:
    if data.get("image") is not None:
        request.image = check_image(data["image"], "image")
    if data.get("n_workers") is not None:
        request.n_workers = check_count(data["n_workers"], "n_workers", maximum)
    if data.get("resources") is not None:
        request.resources = check_resources(data["resources"], "resources")
    if data.get("env") is not None:
        request.env = check_env(data["env"])
    if data.get("worker_groups") is not None:
        groups = data["worker_groups"]
        if not isinstance(groups, list):
            raise invalid("worker_groups", "worker_groups must be a list of {name, n_workers, image?, resources?}.")
        seen = {"default"}
        request.worker_groups = []
        for i, item in enumerate(groups):
            group = parse_worker_group(item, f"worker_groups.{i}.", maximum)
            if group.name in seen:
                raise invalid(
                    f"worker_groups.{i}.name",
                    f"worker group name {group.name!r} is taken ('default' is the cluster's own group).",
                )
            seen.add(group.name)
            request.worker_groups.append(group)


def apply_template(request: CreateRequest, template: dict, maximum: int) -> CreateRequest:
    """Fill the fields the request left out from a template's options (request fields win)."""
    options = template.get("options") or {}
    defaults = CreateRequest()
    _parse_options({k: v for k, v in options.items() if k in TEMPLATE_OPTION_FIELDS}, defaults, maximum)
    for name in ("image", "n_workers", "resources", "env"):
        if getattr(request, name) is None:
            setattr(request, name, getattr(defaults, name))
    if not request.worker_groups:
        request.worker_groups = defaults.worker_groups
    return request


def parse_patch(data: dict, maximum: int) -> ScaleRequest | AdaptRequest:
    """``{"workers": n, "worker_group"?: g}`` or ``{"adapt": {"minimum", "maximum"}}`` or ``{"adapt": null}``."""
    _reject_unknown(data, {"workers", "worker_group", "adapt"})
    if "adapt" in data and "workers" in data:
        raise invalid("adapt", "Send either workers (a fixed size) or adapt (a range), not both.")
    if "adapt" in data:
        if "worker_group" in data:
            raise invalid("worker_group", "adapt applies to the default worker group; leave out worker_group.")
        adapt = data["adapt"]
        if adapt is None:
            return AdaptRequest(None, None)
        if not isinstance(adapt, dict):
            raise invalid("adapt", 'adapt must be {"minimum": a, "maximum": b} or null.')
        _reject_unknown(adapt, {"minimum", "maximum"}, "adapt.")
        for key in ("minimum", "maximum"):
            if key not in adapt:
                raise invalid(f"adapt.{key}", f"adapt.{key} is required.")
        minimum = check_count(adapt["minimum"], "adapt.minimum", maximum)
        maximum_ = check_count(adapt["maximum"], "adapt.maximum", maximum)
        if minimum > maximum_:
            raise invalid("adapt.maximum", f"adapt.maximum ({maximum_}) must not be below adapt.minimum ({minimum}).")
        return AdaptRequest(minimum, maximum_)
    if "workers" not in data:
        raise invalid("workers", 'Send {"workers": n} or {"adapt": {"minimum": a, "maximum": b}} or {"adapt": null}.')
    request = ScaleRequest(workers=check_count(data["workers"], "workers", maximum))
    if data.get("worker_group") is not None:
        request.worker_group = check_name(data["worker_group"], "worker_group", MAX_LABEL_VALUE)
    return request


def parse_add_worker_group(data: dict, maximum: int) -> WorkerGroupRequest:
    return parse_worker_group(data, "", maximum)
