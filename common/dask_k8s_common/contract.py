"""The facts every part of dask-k8s-lab agrees on, defined once.

The CRD generator, the OpenAPI document of the server extension, the server's request checks,
the Python API's validation, the operator's builders and the front end (through the generated
``src/contract.generated.ts``, see :func:`as_json`) all read these. A test fails when any of them
is written a second time elsewhere (tests/test_contract.py).

Standard library only: the operator image, the client and the code generators import it alike.
"""

from __future__ import annotations

from typing import Any

# --- API group and kinds -------------------------------------------------------------------------

GROUP = "kubernetes.dask.org"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
#: kind -> plural (the REST path segment and the CRD's ``spec.names.plural``)
KINDS: dict[str, str] = {
    "DaskCluster": "daskclusters",
    "DaskWorkerGroup": "daskworkergroups",
    "DaskJob": "daskjobs",
    "DaskAutoscaler": "daskautoscalers",
}
#: The Kubernetes release whose API (and OpenAPI document) the CRDs and the local Kubernetes use.
KUBERNETES_VERSION = "1.35.4"

# --- labels and annotations ----------------------------------------------------------------------

LABEL_CLUSTER = "dask.org/cluster-name"
LABEL_COMPONENT = "dask.org/component"
LABEL_WORKER_GROUP = "dask.org/workergroup-name"
COMPONENT_SCHEDULER = "scheduler"
COMPONENT_WORKER = "worker"
COMPONENT_WORKER_GROUP = "workergroup"
COMPONENT_JOB_RUNNER = "job-runner"

ANNOTATION_PREFIX = f"{GROUP}/"
#: The JupyterHub user a DaskCluster belongs to: the annotation holds the exact user name, the
#: label (same key) a label-safe form of it for selectors.
ANNOTATION_OWNER = LABEL_OWNER = f"{ANNOTATION_PREFIX}owner"
#: A namespace with this label is exempt from the operator's admission policy.
LABEL_POLICY_EXEMPT = f"{ANNOTATION_PREFIX}policy-exempt"
#: "true"/"false" on a DaskCluster: keep a service mesh's sidecar out of (or in) its pods.
ANNOTATION_DISABLE_MESH_SIDECAR = "dask.org/disable-mesh-sidecar"
#: What the operator rewrote of a container's removed ``dask-scheduler``/``dask-worker`` command.
ANNOTATION_REWRITTEN_COMMAND = f"{ANNOTATION_PREFIX}rewritten-command"
ANNOTATION_SPEC_HASH = f"{ANNOTATION_PREFIX}spec-hash"
ANNOTATION_RETIRING = f"{ANNOTATION_PREFIX}retiring"
ANNOTATION_SYNCED_REPLICAS = f"{ANNOTATION_PREFIX}synced-replicas"

# --- names of the objects a cluster is made of ---------------------------------------------------

#: The worker group every DaskCluster has (its ``spec.worker``), as users and the REST API name it.
DEFAULT_WORKER_GROUP = "default"
SCHEDULER_SUFFIX = "-scheduler"
DEFAULT_GROUP_SUFFIX = f"-{DEFAULT_WORKER_GROUP}"
RUNNER_SUFFIX = "-runner"


def scheduler_name(cluster_name: str) -> str:
    """Name of the scheduler Pod and Service of a cluster."""
    return f"{cluster_name}{SCHEDULER_SUFFIX}"


def default_worker_group_name(cluster_name: str) -> str:
    """Name of the DaskWorkerGroup that every DaskCluster creates from ``spec.worker``."""
    return f"{cluster_name}{DEFAULT_GROUP_SUFFIX}"


def job_runner_name(job_name: str) -> str:
    """Name of the runner Pod of a DaskJob."""
    return f"{job_name}{RUNNER_SUFFIX}"


# --- ports -----------------------------------------------------------------------------------------

SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
SCHEDULER_PORT_NAME = "tcp-comm"
DASHBOARD_PORT_NAME = "http-dashboard"

# --- rules for names and values (JavaScript-compatible regular expressions) -----------------------

#: DNS-1123 label: names used in labels, worker groups, namespaces.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_DNS_LABEL = 63
#: A cluster name also names a Service (``<name>-scheduler``): a DNS-1035 label, so it starts with
#: a letter, and short enough for the suffix.
CLUSTER_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
MAX_CLUSTER_NAME = MAX_DNS_LABEL - len(SCHEDULER_SUFFIX)
MAX_LABEL_VALUE = 63
#: A worker group name: a DNS label (its DaskWorkerGroup is ``<cluster>-<group>``, which starts
#: with the cluster's letter and must itself stay within MAX_DNS_LABEL).
WORKER_GROUP_NAME_PATTERN = DNS_LABEL_PATTERN
#: A Kubernetes resource quantity (the API server's grammar: 500m, 1.5, 2Gi, 1e3).
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
#: A resource request or limit: a quantity without a minus sign. The grammar (and so the CRDs)
#: allows one, but Pod validation refuses a negative request or limit, late; refuse it early.
RESOURCE_QUANTITY_PATTERN = QUANTITY_PATTERN.replace(r"^(\+|-)?", r"^\+?", 1)
#: An environment variable name as the API server accepts it (C identifiers plus '-' and '.').
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
#: A resource name in requests/limits: ``cpu``, ``memory``, ``nvidia.com/gpu``.
RESOURCE_NAME_PATTERN = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$"
MAX_RESOURCE_NAME = 253

# --- pod states ----------------------------------------------------------------------------------

#: The waiting reason of a container that keeps exiting.
CRASH_LOOP_REASON = "CrashLoopBackOff"
#: Waiting reasons of an image reference that can never be used as written.
FATAL_IMAGE_REASONS = frozenset({"InvalidImageName", "ErrImageNeverPull"})
#: Container waiting reasons after which a pod will not start without a change from the user.
FATAL_WAITING_REASONS = frozenset({
    CRASH_LOOP_REASON,
    *FATAL_IMAGE_REASONS,
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
})
#: Waiting reasons of an image that cannot be pulled (yet): they may clear by themselves.
IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff"})


def as_json() -> dict[str, Any]:
    """The facts the front end needs, for ``src/contract.generated.ts``."""
    return {
        "GROUP": GROUP,
        "VERSION": VERSION,
        "LABEL_CLUSTER": LABEL_CLUSTER,
        "LABEL_OWNER": LABEL_OWNER,
        "SCHEDULER_SUFFIX": SCHEDULER_SUFFIX,
        "DEFAULT_WORKER_GROUP": DEFAULT_WORKER_GROUP,
        "SCHEDULER_PORT": SCHEDULER_PORT,
        "DASHBOARD_PORT": DASHBOARD_PORT,
        "DNS_LABEL_PATTERN": DNS_LABEL_PATTERN,
        "MAX_DNS_LABEL": MAX_DNS_LABEL,
        "CLUSTER_NAME_PATTERN": CLUSTER_NAME_PATTERN,
        "WORKER_GROUP_NAME_PATTERN": WORKER_GROUP_NAME_PATTERN,
        "MAX_CLUSTER_NAME": MAX_CLUSTER_NAME,
        "QUANTITY_PATTERN": QUANTITY_PATTERN,
        "RESOURCE_QUANTITY_PATTERN": RESOURCE_QUANTITY_PATTERN,
        "ENV_NAME_PATTERN": ENV_NAME_PATTERN,
        "FATAL_WAITING_REASONS": sorted(FATAL_WAITING_REASONS),
        "IMAGE_PULL_REASONS": sorted(IMAGE_PULL_REASONS),
    }
