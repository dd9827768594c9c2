"""The schemas of the four Dask custom resources, around the PodSpec and ServiceSpec of the
Kubernetes release (``crd_openapi``). Used by ``generate_crds.py``."""

from __future__ import annotations

from typing import Any

from crd_openapi import Converter

from dask_k8s_common.contract import (
    ANNOTATION_PREFIX,
    CLUSTER_NAME_PATTERN,
    GROUP,
    KINDS,
    MAX_CLUSTER_NAME,
    MAX_LABEL_VALUE,
    VERSION,
)

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
