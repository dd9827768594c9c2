"""The core/v1 OpenAPI v3 document of Kubernetes, and its types as structural CRD schemas.

``$ref`` inlined, int-or-string and quantities expressed the way the API server accepts them in
CRDs, patch-strategy and GVK extensions dropped, descriptions of the embedded types dropped to keep
each CRD well under the 256 KiB limit of ``kubectl apply``'s last-applied annotation. Used by
``generate_crds.py``.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dask_k8s_common.contract import QUANTITY_PATTERN

CORE = "io.k8s.api.core.v1."

# Keys of JSONSchemaProps that a CRD schema may carry; everything else in the OpenAPI document
# (descriptions of embedded types, patch strategies, GVK and union markers) is dropped.
ALLOWED_KEYS = {
    "type", "format", "properties", "additionalProperties", "items", "required", "enum",
    "default", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern",
    "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "minProperties",
    "maxProperties", "nullable", "anyOf", "description",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-validations",
}

# Constraints the Go validation code enforces but the OpenAPI document does not express, added so
# that the API server rejects such manifests at apply time (with the field named) instead of the
# operator failing later when it creates the pod.
SCHEMA_PATCHES: dict[str, dict[str, Any]] = {
    "PodSpec.containers": {"minItems": 1},
}


# --------------------------------------------------------------------------------------------
# Loading the OpenAPI document
# --------------------------------------------------------------------------------------------


def load_openapi(source: str, kubernetes_version: str) -> tuple[dict, str]:
    """Return (core/v1 OpenAPI v3 document, a short description of where it came from)."""
    if source == "apiserver":
        raw = subprocess.run(
            ["kubectl", "get", "--raw", "/openapi/v3/api/v1"],
            check=True, capture_output=True, text=True,
        ).stdout
        version = json.loads(
            subprocess.run(["kubectl", "get", "--raw", "/version"], check=True,
                           capture_output=True, text=True).stdout
        )["gitVersion"]
        return json.loads(raw), f"kube-apiserver {version} /openapi/v3/api/v1"
    if source == "modcache":
        modcache = os.environ.get("GOMODCACHE")
        if not modcache:
            try:
                modcache = subprocess.run(["go", "env", "GOMODCACHE"], check=True,
                                          capture_output=True, text=True).stdout.strip()
            except (OSError, subprocess.CalledProcessError):
                modcache = str(Path.home() / "go" / "pkg" / "mod")  # go's default
        path = (Path(modcache) / f"k8s.io/kubernetes@{kubernetes_version}"
                / "api/openapi-spec/v3/api__v1_openapi.json")
        if not path.exists():  # fetch the module (only its zip is needed, not a build)
            subprocess.run(["go", "mod", "download", f"k8s.io/kubernetes@{kubernetes_version}"],
                           check=False, capture_output=True)
        if not path.exists():
            sys.exit(
                f"error: {path} not found; fetch the module first "
                f"(go mod download k8s.io/kubernetes@{kubernetes_version}) or pass --source apiserver"
            )
        return json.loads(path.read_text()), (
            f"k8s.io/kubernetes@{kubernetes_version} api/openapi-spec/v3/api__v1_openapi.json"
        )
    path = Path(source)
    return json.loads(path.read_text()), path.name


# --------------------------------------------------------------------------------------------
# OpenAPI v3 -> structural CRD schema
# --------------------------------------------------------------------------------------------


class Converter:
    """Inline ``$ref``s of the OpenAPI document into structural CRD schemas."""

    def __init__(self, document: dict):
        self.schemas: dict[str, dict] = document["components"]["schemas"]

    def definition(self, short_name: str) -> dict:
        """The structural schema of a core/v1 type, e.g. ``PodSpec``."""
        return self._convert(self.schemas[CORE + short_name], (CORE + short_name,), short_name)

    def _resolve(self, node: dict) -> tuple[dict, str | None]:
        """Merge ``$ref`` / single-element ``allOf: [{$ref}]`` into the node; return (node, ref)."""
        ref = None
        if "$ref" in node:
            ref = node["$ref"]
        elif "allOf" in node and len(node["allOf"]) == 1 and "$ref" in node["allOf"][0]:
            ref = node["allOf"][0]["$ref"]
        if ref is None:
            return node, None
        name = ref.rsplit("/", 1)[-1]
        merged = dict(self.schemas[name])
        for key, value in node.items():
            if key not in ("$ref", "allOf"):
                merged[key] = value
        return merged, name

    def _convert(self, node: dict, stack: tuple[str, ...], where: str) -> dict:
        node, ref = self._resolve(node)
        if ref is not None:
            if ref in stack:  # recursive type: accept anything below this point
                return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            stack = (*stack, ref)
        if ref == "io.k8s.apimachinery.pkg.api.resource.Quantity":
            return {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "pattern": QUANTITY_PATTERN,
                "x-kubernetes-int-or-string": True,
            }
        if ref == "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
            return {"anyOf": [{"type": "integer"}, {"type": "string"}],
                    "x-kubernetes-int-or-string": True}
        if "oneOf" in node or "anyOf" in node:
            raise ValueError(f"{where}: unexpected union schema {node}")
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key not in ALLOWED_KEYS or key == "description":
                continue
            if key == "properties":
                out[key] = {
                    prop: self._convert(sub, stack, f"{where}.{prop}") for prop, sub in value.items()
                }
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out[key] = self._convert(value, stack, f"{where}[]")
            elif key == "default":
                # The OpenAPI document publishes Go zero values as defaults ("", 0, {}); in a CRD
                # they would be written into every stored object, so only real defaults are kept.
                if value not in ({}, [], "", 0, False):
                    out[key] = value
            else:
                out[key] = copy.deepcopy(value)
        if "type" not in out and "x-kubernetes-int-or-string" not in out:
            if "properties" in out or "additionalProperties" in out:
                out["type"] = "object"
            else:
                out["x-kubernetes-preserve-unknown-fields"] = True
        patch = SCHEMA_PATCHES.get(where)
        if patch:
            out.update(patch)
        if out.get("x-kubernetes-list-type") == "map":
            self._keep_map_key_defaults(node, out)
            _check_list_map_keys(out, where)
        return out

    def _keep_map_key_defaults(self, node: dict, out: dict) -> None:
        """Keep the published default of a list-map key (even a zero value such as "").

        The API server requires every key of a ``list-type: map`` to be required or defaulted.
        """
        item, _ = self._resolve(node["items"])
        for key in out.get("x-kubernetes-list-map-keys", []):
            prop = out["items"]["properties"][key]
            if key in out["items"].get("required", []) or "default" in prop:
                continue
            original, _ = self._resolve(item["properties"][key])
            if "default" in original:
                prop["default"] = original["default"]


def _check_list_map_keys(schema: dict, where: str) -> None:
    """A CRD list-map key must be required or defaulted; the API server rejects the CRD otherwise."""
    item = schema["items"]
    for key in schema.get("x-kubernetes-list-map-keys", []):
        if key not in item.get("required", []) and "default" not in item["properties"][key]:
            raise ValueError(f"{where}: list-map key {key!r} is neither required nor defaulted")
