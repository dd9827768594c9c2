#!/usr/bin/env python3
"""Generate the Dask CRD manifests in ``operator/crds/`` from the Kubernetes OpenAPI v3 document.

The PodSpec and ServiceSpec schemas are not written by hand: they are taken from the core/v1
OpenAPI v3 document of the Kubernetes version we target and turned into structural schemas
(``$ref`` inlined, int-or-string and quantities expressed the way the API server accepts them in
CRDs, patch-strategy and GVK extensions dropped, descriptions of the embedded types dropped to keep
each CRD well under the 256 KiB limit of ``kubectl apply``'s last-applied annotation).

Sources, in order of preference (``--source``):

- ``apiserver``: ``kubectl get --raw /openapi/v3/api/v1`` against the current KUBECONFIG;
- ``modcache`` (default): ``api/openapi-spec/v3/api__v1_openapi.json`` of the ``k8s.io/kubernetes``
  module in the Go module cache (``go env GOMODCACHE``), at ``--kubernetes-version``;
- a path to a saved copy of that JSON document.

Run from the repository root::

    .venv/bin/python operator/generate_crds.py            # writes operator/crds/*.yaml
    .venv/bin/python operator/generate_crds.py --check    # exit 1 if the files are stale
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from dask_k8s_common.contract import (
    ANNOTATION_PREFIX,
    CLUSTER_NAME_PATTERN,
    GROUP,
    KINDS,
    KUBERNETES_VERSION,
    MAX_CLUSTER_NAME,
    MAX_LABEL_VALUE,
    QUANTITY_PATTERN,
    VERSION,
)

CRD_DIR = Path(__file__).resolve().parent / "crds"
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


# --------------------------------------------------------------------------------------------
# The Dask custom resources
# --------------------------------------------------------------------------------------------


def simple_metadata(what: str) -> dict:
    return {
        "type": "object",
        "description": f"Labels and annotations merged into the metadata of {what}.",
        "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }


def name_schema(max_length: int, why: str) -> dict:
    return {
        "type": "object",
        "properties": {
            "name": {
                "type": "string",
                "maxLength": max_length,
                "pattern": CLUSTER_NAME_PATTERN,
                "description": why,
            }
        },
    }


def worker_schema(pod_spec: dict, what: str) -> dict:
    return {
        "type": "object",
        "description": f"The workers of {what}.",
        "required": ["spec"],
        "properties": {
            "replicas": {
                "type": "integer",
                "format": "int32",
                "minimum": 0,
                "default": 1,
                "description": "Number of worker pods.",
            },
            "metadata": simple_metadata("the worker pods"),
            "spec": {**pod_spec, "description": "PodSpec of every worker pod."},
        },
    }


def cluster_spec_schema(pod_spec: dict, service_spec: dict) -> dict:
    return {
        "type": "object",
        "required": ["worker", "scheduler"],
        "properties": {
            "idleTimeout": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": (
                    "Delete the cluster after its scheduler has been idle for this many seconds "
                    "(0 disables)."
                ),
            },
            "worker": worker_schema(pod_spec, "the default worker group"),
            "scheduler": {
                "type": "object",
                "required": ["spec"],
                "properties": {
                    "metadata": simple_metadata("the scheduler pod and service"),
                    "spec": {**pod_spec, "description": "PodSpec of the scheduler pod."},
                    "service": {
                        **service_spec,
                        "description": (
                            "ServiceSpec of the scheduler Service. A missing selector or missing "
                            "ports are filled in by the operator."
                        ),
                    },
                },
            },
        },
    }


def cluster_status_schema() -> dict:
    return {
        "type": "object",
        "properties": {
            "phase": {"type": "string", "enum": ["Created", "Pending", "Running", "Error"]},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "replicas": {"type": "integer", "description": "Worker pods of the default group."},
            "readyReplicas": {
                "type": "integer",
                "description": "Workers of the default group connected to the scheduler.",
            },
            "workers": {"type": "integer", "description": "Workers of all groups connected."},
            "selector": {"type": "string"},
            "schedulerAddress": {"type": "string"},
            "dashboardAddress": {"type": "string"},
            "idleSince": {"type": "string", "format": "date-time"},
            "observedGeneration": {"type": "integer"},
        },
    }


def worker_group_status_schema() -> dict:
    return {
        "type": "object",
        "properties": {
            "replicas": {"type": "integer", "description": "Live worker pods."},
            "readyReplicas": {"type": "integer", "description": "Workers connected to the scheduler."},
            "updatedReplicas": {"type": "integer", "description": "Pods with the current spec."},
            "retiringReplicas": {"type": "integer"},
            "selector": {"type": "string"},
            "message": {"type": "string"},
            "observedGeneration": {"type": "integer"},
        },
    }


def crd(kind: str, short_names: list[str], schema: dict, columns: list[dict],
        scale: bool, source: str) -> dict:
    plural = KINDS[kind]
    version = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "subresources": {"status": {}},
        "additionalPrinterColumns": columns
        + [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
    }
    if scale:
        version["subresources"]["scale"] = {
            "specReplicasPath": ".spec.worker.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "annotations": {f"{ANNOTATION_PREFIX}schema-source": source},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": kind.lower(),
                "listKind": f"{kind}List",
                **({"shortNames": short_names} if short_names else {}),
                "categories": ["dask"],
            },
            "versions": [version],
        },
    }


def root(spec: dict, status: dict, name: dict | None = None) -> dict:
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": name or {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    return schema


def build_crds(document: dict, source: str) -> dict[str, dict]:
    conv = Converter(document)
    pod_spec = conv.definition("PodSpec")
    service_spec = conv.definition("ServiceSpec")
    cluster_name = name_schema(
        MAX_CLUSTER_NAME, f"At most {MAX_CLUSTER_NAME} characters (the scheduler Service is "
        "named <name>-scheduler), lower-case letters, digits and '-', starting with a letter.")
    cluster_spec = cluster_spec_schema(pod_spec, service_spec)

    daskcluster = crd(
        "DaskCluster", ["dsk", "daskcluster"],
        root(cluster_spec, cluster_status_schema(), cluster_name),
        [
            {"name": "Workers", "type": "integer", "jsonPath": ".spec.worker.replicas"},
            {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
            {"name": "Status", "type": "string", "jsonPath": ".status.phase"},
        ],
        scale=True, source=source,
    )
    daskworkergroup = crd(
        "DaskWorkerGroup", ["dwg", "daskworkers"],
        root(
            {
                "type": "object",
                "required": ["cluster", "worker"],
                "properties": {
                    "cluster": {"type": "string", "minLength": 1,
                                "description": "Name of the DaskCluster these workers join."},
                    "worker": worker_schema(pod_spec, "this group"),
                },
            },
            worker_group_status_schema(),
            name_schema(MAX_LABEL_VALUE, f"At most {MAX_LABEL_VALUE} characters (it is a label "
                                         "value), lower-case letters, digits and '-', starting "
                                         "with a letter."),
        ),
        [
            {"name": "Cluster", "type": "string", "jsonPath": ".spec.cluster"},
            {"name": "Workers", "type": "integer", "jsonPath": ".spec.worker.replicas"},
            {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
        ],
        scale=True, source=source,
    )
    daskjob = crd(
        "DaskJob", ["djb"],
        root(
            {
                "type": "object",
                "required": ["job", "cluster"],
                "properties": {
                    "job": {
                        "type": "object",
                        "required": ["spec"],
                        "properties": {
                            "metadata": simple_metadata("the runner pod"),
                            "spec": {**pod_spec, "description": "PodSpec of the runner pod."},
                        },
                    },
                    "cluster": {
                        "type": "object",
                        "required": ["spec"],
                        "properties": {
                            "metadata": simple_metadata("the job's DaskCluster"),
                            "spec": cluster_spec,
                        },
                    },
                },
            },
            {
                "type": "object",
                "properties": {
                    "jobStatus": {"type": "string", "enum": [
                        "JobCreated", "ClusterCreated", "Running", "Successful", "Failed"]},
                    "clusterName": {"type": "string"},
                    "jobRunnerPodName": {"type": "string"},
                    "startTime": {"type": "string", "format": "date-time"},
                    "endTime": {"type": "string", "format": "date-time"},
                    "message": {"type": "string"},
                },
            },
            cluster_name,
        ),
        [
            {"name": "Status", "type": "string", "jsonPath": ".status.jobStatus"},
            {"name": "Workers", "type": "integer", "jsonPath": ".spec.cluster.spec.worker.replicas"},
        ],
        scale=False, source=source,
    )
    autoscaler_spec = {
        "type": "object",
        "required": ["cluster", "minimum", "maximum"],
        "x-kubernetes-validations": [
            {"rule": "self.minimum <= self.maximum",
             "message": "spec.minimum must be less than or equal to spec.maximum",
             "fieldPath": ".minimum"},
        ],
        "properties": {
            "cluster": {"type": "string", "minLength": 1,
                        "description": "Name of the DaskCluster to autoscale."},
            "workerGroup": {
                "type": "string",
                "description": "Name of the DaskWorkerGroup to scale (default: <cluster>-default).",
            },
            "minimum": {"type": "integer", "minimum": 0},
            "maximum": {"type": "integer", "minimum": 0},
            "scaleDownDelaySeconds": {
                "type": "integer", "minimum": 0, "default": 60,
                "description": "Scale down only after the target has stayed lower this long.",
            },
            "scaleUpCooldownSeconds": {
                "type": "integer", "minimum": 0, "default": 10,
                "description": "Minimum time between two scale-ups.",
            },
            "intervalSeconds": {
                "type": "number", "minimum": 0.5, "default": 5,
                "description": "How often the scheduler's adaptive target is polled.",
            },
        },
    }
    daskautoscaler = crd(
        "DaskAutoscaler", [],
        root(
            autoscaler_spec,
            {
                "type": "object",
                "properties": {
                    "workerGroup": {"type": "string"},
                    "desiredReplicas": {"type": "integer"},
                    "currentReplicas": {"type": "integer"},
                    "schedulerTarget": {"type": "integer"},
                    "lowSince": {"type": "string", "format": "date-time"},
                    "lastScaleTime": {"type": "string", "format": "date-time"},
                    "message": {"type": "string"},
                },
            },
        ),
        [
            {"name": "Cluster", "type": "string", "jsonPath": ".spec.cluster"},
            {"name": "Minimum", "type": "integer", "jsonPath": ".spec.minimum"},
            {"name": "Maximum", "type": "integer", "jsonPath": ".spec.maximum"},
            {"name": "Desired", "type": "integer", "jsonPath": ".status.desiredReplicas"},
        ],
        scale=False, source=source,
    )
    return {manifest["spec"]["names"]["plural"]: manifest
            for manifest in (daskcluster, daskworkergroup, daskjob, daskautoscaler)}


class _NoAliasDumper(yaml.SafeDumper):
    """Write shared sub-schemas out in full: no ``&id001`` anchors in the manifests."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(manifest: dict) -> str:
    header = (
        "# Generated by operator/generate_crds.py from the Kubernetes OpenAPI; do not edit.\n"
    )
    return header + yaml.dump(manifest, Dumper=_NoAliasDumper, sort_keys=False,
                              default_flow_style=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="modcache",
                        help="'modcache' (default), 'apiserver', or a path to api__v1_openapi.json")
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION,
                        help=f"the k8s.io/kubernetes release to read (default {KUBERNETES_VERSION})")
    parser.add_argument("--out", type=Path, default=CRD_DIR)
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a committed file differs")
    args = parser.parse_args(argv)
    document, source = load_openapi(args.source, "v" + args.kubernetes_version.lstrip("v"))
    stale = []
    for plural, manifest in build_crds(document, source).items():
        path = args.out / f"{plural}.{GROUP}.yaml"
        text = render(manifest)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path} ({len(text) // 1024} KiB)")
    if stale:
        print("stale CRDs (re-run operator/generate_crds.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
