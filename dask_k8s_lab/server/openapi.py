"""The OpenAPI document of the REST API (``openapi.yaml``): loading it, and writing the part of
it that states the contract's facts.

The schemas of names, quantities (of requests and limits: not negative), environment variable and resource names, worker counts and
the scheduler's address are generated from ``dask_k8s_common.contract`` (and the default of
``c.DaskK8sLab.max_workers``) into the block between the markers at the end of the document::

    python -m dask_k8s_lab.server.openapi          # rewrite the block
    python -m dask_k8s_lab.server.openapi --check  # fail if it differs (tests/server/test_openapi_contract.py)

A schema's ``title`` and ``description`` are also what a request's error message says is
accepted (``schemas``), so the document, the reference docs and the errors agree.
"""

from __future__ import annotations

import argparse
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from dask_k8s_common import contract

DOCUMENT = Path(__file__).with_name("openapi.yaml")
BEGIN = "    # BEGIN generated from dask_k8s_common.contract by `python -m dask_k8s_lab.server.openapi`; do not edit\n"
END = "    # END generated\n"
#: Server limits of a request (not Kubernetes facts): they keep a body small.
MAX_QUANTITY = 64
MAX_ENV_NAME = 256
NAME_RULE = "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
LABEL_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit"


def contract_schemas() -> dict[str, dict[str, Any]]:
    """The component schemas that state the contract's facts."""
    from .config import DaskK8sLab

    max_workers = DaskK8sLab.max_workers.default_value
    return {
        "ClusterName": {
            "type": "string", "title": "a valid name", "pattern": contract.CLUSTER_NAME_PATTERN,
            "maxLength": contract.MAX_CLUSTER_NAME,
            "description": f"use at most {contract.MAX_CLUSTER_NAME} {NAME_RULE}.",
        },
        "GroupName": {
            "type": "string", "title": "a valid name", "pattern": contract.WORKER_GROUP_NAME_PATTERN,
            "maxLength": contract.MAX_LABEL_VALUE,
            "description": f"use at most {contract.MAX_LABEL_VALUE} {LABEL_RULE}.",
        },
        "NamespaceName": {
            "type": "string", "title": "a valid namespace name", "pattern": contract.DNS_LABEL_PATTERN,
            "maxLength": contract.MAX_DNS_LABEL,
            "description": f"use at most {contract.MAX_DNS_LABEL} {LABEL_RULE}.",
        },
        "Quantity": {
            "title": 'a quantity of 0 or more such as "2", "500m" or "4Gi"',
            "anyOf": [
                {"type": "string", "pattern": contract.RESOURCE_QUANTITY_PATTERN, "maxLength": MAX_QUANTITY},
                {"type": "number", "minimum": 0},
            ],
            "example": "2Gi",
        },
        "ResourceName": {
            "type": "string", "title": "a resource name such as cpu, memory or nvidia.com/gpu",
            "pattern": contract.RESOURCE_NAME_PATTERN, "maxLength": contract.MAX_RESOURCE_NAME,
        },
        "EnvName": {
            "type": "string", "title": "a valid environment variable name", "pattern": contract.ENV_NAME_PATTERN,
            "maxLength": MAX_ENV_NAME, "description": "use letters, digits, '_', '-' and '.', not starting with a digit.",
        },
        "WorkerCount": {
            "type": "integer", "minimum": 0, "maximum": max_workers,
            "description": f"At most `c.DaskK8sLab.max_workers` (default {max_workers}).",
        },
        "SchedulerAddress": {
            "type": "string",
            "description": f"In-cluster address of the scheduler, "
                           f"tcp://<name>{contract.SCHEDULER_SUFFIX}.<namespace>.svc.cluster.local:"
                           f"{contract.SCHEDULER_PORT}; the dashboard is port `{contract.DASHBOARD_PORT_NAME}` "
                           f"({contract.DASHBOARD_PORT}) of the same Service.",
        },
    }


def render_block() -> str:
    """The generated block, markers included."""
    text = yaml.safe_dump(contract_schemas(), sort_keys=False, width=110, allow_unicode=True)
    return BEGIN + "".join(f"    {line}\n" for line in text.splitlines()) + END


def with_block(text: str) -> str:
    """``text`` (the document) with its generated block as the contract says it should be."""
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
    else:  # first run: the block ends components.schemas, the last section
        head, tail = text.rstrip("\n") + "\n", ""
    return head + render_block() + tail


@lru_cache(maxsize=1)
def document_text() -> str:
    """The document as served at ``/dask-k8s/openapi.yaml``."""
    return DOCUMENT.read_text()


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The parsed document (shared: never change it)."""
    return yaml.safe_load(document_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if openapi.yaml differs from the contract")
    args = parser.parse_args(argv)
    text = DOCUMENT.read_text()
    wanted = with_block(text)
    if args.check:
        if wanted != text:
            print(f"{DOCUMENT.name} is out of date: run python -m dask_k8s_lab.server.openapi", file=sys.stderr)
            return 1
        return 0
    if wanted != text:
        DOCUMENT.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
