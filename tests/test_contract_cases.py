"""The server, the Python API and the CRDs accept and refuse the names and quantities of the shared
table ``tests/contract_cases.json`` alike; the form is held to the same table by
``src/tests/contract_cases.test.ts``.

A case may excuse one consumer (its ``exceptions``, with the reason); every other consumer must
give the table's verdict.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dask_k8s_lab import specs, validation
from dask_k8s_lab.server.errors import ApiError
from dask_k8s_lab.server.requests import parse_add_worker_group, parse_create

TABLE = json.loads((Path(__file__).resolve().parent / "contract_cases.json").read_text())
GROUP_CLUSTER = TABLE["worker_group_names"]["cluster"]
MAX_WORKERS = 10
IMAGE = "ghcr.io/dask/dask:latest"


def expected(case: dict, consumer: str) -> bool:
    """The verdict ``consumer`` must give: the table's, or the opposite where it is excused."""
    return case["accepted"] != (consumer in case.get("exceptions", {}))


def disagreements(kind: str, consumer: str, accepts: Callable[[str], bool]) -> list[str]:
    out = []
    for case in TABLE[kind]["cases"]:
        verdict = accepts(case["value"])
        if verdict != expected(case, consumer):
            out.append(f"{case['value']!r} {'accepted' if verdict else 'refused'} ({case['why']})")
    return out


def accepted_by(call: Callable[[], Any], *errors: type[Exception]) -> bool:
    try:
        call()
    except errors:
        return False
    return True


# --- the table itself ----------------------------------------------------------------------------


def test_the_table_is_well_formed() -> None:
    consumers = {"form", "server", "python", "crd"}
    for kind in ("cluster_names", "worker_group_names", "quantities"):
        cases = TABLE[kind]["cases"]
        values = [c["value"] for c in cases]
        assert len(values) == len(set(values)), f"{kind}: a value is listed twice"
        assert {c["accepted"] for c in cases} == {True, False}, f"{kind}: needs cases of both verdicts"
        for case in cases:
            assert set(case) <= {"value", "accepted", "why", "exceptions"}, case
            assert case["why"], case
            assert set(case.get("exceptions", {})) <= consumers, case
            assert all(case.get("exceptions", {}).values()), f"{case}: an exception needs its reason"


# --- the server's request parsing ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["cluster_names", "worker_group_names", "quantities"])
def test_server_requests_agree(kind: str) -> None:
    def accepts(value: str) -> bool:
        if kind == "cluster_names":
            return accepted_by(lambda: parse_create({"name": value}, MAX_WORKERS), ApiError)
        if kind == "worker_group_names":
            body = {"name": value, "n_workers": 1}
            return accepted_by(lambda: parse_add_worker_group(body, MAX_WORKERS), ApiError)
        resources = {"requests": {"cpu": value}, "limits": {"memory": value}}
        return accepted_by(lambda: parse_create({"resources": resources}, MAX_WORKERS), ApiError)

    assert disagreements(kind, "server", accepts) == []


# --- the Python API ------------------------------------------------------------------------------


def test_python_api_agrees_on_cluster_names() -> None:
    def accepts(value: str) -> bool:
        return accepted_by(lambda: validation.validate_cluster_name(value), validation.ValidationError)

    assert disagreements("cluster_names", "python", accepts) == []


def test_python_api_agrees_on_worker_group_names() -> None:
    def accepts(value: str) -> bool:
        return accepted_by(lambda: validation.validate_worker_group_name(value, GROUP_CLUSTER),
                           validation.ValidationError)

    assert disagreements("worker_group_names", "python", accepts) == []


# --- the CRDs, by a server-side dry run ----------------------------------------------------------


def _dry_run(kubectl, manifest: dict) -> bool:
    """Whether the API server (CRD schema and admission) accepts ``manifest``; a refusal must be
    a validation error, not some other failure."""
    try:
        kubectl("apply", "--dry-run=server", "-o", "name", "-f", "-", stdin=json.dumps(manifest))
    except AssertionError as e:
        assert "invalid" in str(e).lower(), f"not a validation error: {e}"
        return False
    return True


@pytest.fixture
def cluster_manifest() -> dict:
    return specs.make_cluster_spec(GROUP_CLUSTER, image=IMAGE, n_workers=1)


@pytest.mark.parametrize("kind", ["cluster_names", "worker_group_names", "quantities"])
def test_crds_agree(kind: str, dask_operator, kubectl, cluster_manifest: dict) -> None:
    def accepts(value: str) -> bool:
        manifest = copy.deepcopy(cluster_manifest)
        if kind == "cluster_names":
            manifest["metadata"]["name"] = value
        elif kind == "worker_group_names":
            manifest = specs.make_worker_group(GROUP_CLUSTER, value, manifest["spec"]["worker"])
        else:
            container = manifest["spec"]["worker"]["spec"]["containers"][0]
            container["resources"] = {"requests": {"cpu": value}, "limits": {"memory": value}}
        return _dry_run(kubectl, manifest)

    assert disagreements(kind, "crd", accepts) == []
