"""Request bodies checked against the schemas of ``openapi.yaml`` with ``jsonschema``.

OpenAPI 3.1 schemas are JSON Schema 2020-12, so the document is the validator's input as is.
Each error of the validator becomes the ``ApiError`` (422) that names the field (a dotted path
such as ``worker_groups.1.n_workers``), the value and what would be accepted; what is accepted
is read from the failing schema (its ``title``, ``description``, ``example``, bounds).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from . import openapi
from .errors import ApiError, invalid

TYPES = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
         "object": "an object", "array": "a list", "null": "null"}


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """``pattern`` as ECMA-262 reads it, as JSON Schema says: ``$`` ends the text (in Python it
    also matches before a final newline, which would let ``"name\\n"`` through)."""
    if validator.is_type(instance, "string"):
        anchored = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
        if not re.search(anchored, instance):
            yield ValidationError(f"{instance!r} does not match {pattern!r}")


Validator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


@lru_cache(maxsize=16)
def validator(schema: str, max_workers: int | None = None) -> Any:
    """A validator of ``components.schemas[schema]``; ``max_workers`` replaces the document's
    maximum of a worker count (the configured ``c.DaskK8sLab.max_workers``)."""
    components = openapi.document()["components"]
    if max_workers is not None and max_workers != components["schemas"]["WorkerCount"]["maximum"]:
        components = copy.deepcopy(components)
        components["schemas"]["WorkerCount"]["maximum"] = max_workers
    # The root holds the components, so the document's own "#/components/..." references resolve.
    return Validator({"$ref": f"#/components/schemas/{schema}", "components": components})


def check(schema: str, body: Any, max_workers: int | None = None) -> None:
    """Raise the ``ApiError`` of the first problem of ``body``, if any (unknown fields first)."""
    errors = sorted(validator(schema, max_workers).iter_errors(body), key=_order)
    if errors:
        raise api_error(errors[0])


def _order(error: ValidationError) -> tuple:
    return error.validator != "additionalProperties", [str(p) for p in error.absolute_path]


def _dotted(path: Any) -> str:
    return ".".join(str(p) for p in path)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))


def _resolve(schema: dict) -> dict:
    while isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
        node: Any = openapi.document()
        for part in schema["$ref"][2:].split("/"):
            node = node[part]
        schema = node
    return schema


def accepted(schema: dict) -> str:
    """What a value of ``schema`` looks like, for a message: 'a whole number', 'an object like {...}'."""
    schema = _resolve(schema)
    if "title" in schema:
        return schema["title"]
    if "anyOf" in schema:
        return " or ".join(accepted(branch) for branch in schema["anyOf"])
    phrase = TYPES.get(schema.get("type"), "a value")
    return f"{phrase} like {_json(schema['example'])}" if "example" in schema else phrase


def _branch_error(error: ValidationError) -> ValidationError | None:
    """For a failed ``anyOf``: the first problem inside the branch of the value's type, if one has it."""
    for i, branch in enumerate(error.schema["anyOf"]):
        kind = _resolve(branch).get("type")
        if kind is not None and Validator.TYPE_CHECKER.is_type(error.instance, kind):
            inside = sorted((e for e in error.context if e.relative_schema_path[0] == i), key=_order)
            if inside:
                return inside[0]
    return None


def api_error(error: ValidationError, within: dict | None = None) -> ApiError:
    """The validator's error as the 422 people read; ``within``: the ``anyOf`` schema whose
    branch failed (its title says what is accepted)."""
    path = list(error.absolute_path)
    field = _dotted(path) or "body"
    keyword, value, schema = error.validator, error.instance, error.schema
    if keyword == "anyOf":
        inner = _branch_error(error)
        if inner is not None:
            return api_error(inner, schema)
        return invalid(field, f"{field} must be {accepted(schema)}, got {_json(value)}.")
    if keyword == "additionalProperties":
        known = schema.get("properties") or {}
        extra = next(key for key in value if key not in known)
        where = _dotted([*path, extra])
        return invalid(where, f"Unknown field {where}; accepted: {', '.join(sorted(known))}.")
    if keyword == "required":
        missing = next(key for key in error.validator_value if key not in value)
        where = _dotted([*path, missing])
        return invalid(where, f"{where} is required.")
    if keyword == "type":
        return invalid(field, f"{field} must be {accepted({k: v for k, v in schema.items() if k != 'title'})}, "
                              f"got {_json(value)}.")
    if keyword in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        bounds = (f"between {low} and {high}" if low is not None and high is not None
                  else f"at least {low}" if low is not None else f"at most {high}")
        return invalid(field, f"{field} must be {bounds}, got {_json(value)}.")
    named = schema if "title" in schema else within or {}
    if keyword in ("pattern", "minLength", "maxLength") and "title" in named:
        title = named["title"]
        fix = f": {named['description']}" if named.get("description") else "."
        if "propertyNames" in error.relative_schema_path:  # the key of an object is at fault
            where = _dotted([*path, value])
            return invalid(where, f"{value!r} in {field} is not {title}{fix}")
        return invalid(field, f"{field} {value!r} is not {title}{fix}")
    return invalid(field, f"{field} is invalid: {error.message}.")
