"""openapi.yaml states the contract's facts as dask_k8s_common.contract has them (its generated
block), and the validator checks requests against the document the server serves."""

from __future__ import annotations

import yaml

from dask_k8s_common import contract
from dask_k8s_lab.server import openapi, schemas


def test_the_generated_block_matches_the_contract():
    text = openapi.DOCUMENT.read_text()
    assert openapi.with_block(text) == text, "openapi.yaml is out of date: run python -m dask_k8s_lab.server.openapi"
    assert openapi.main(["--check"]) == 0


def test_a_changed_contract_fact_is_noticed(monkeypatch):
    text = openapi.DOCUMENT.read_text()
    monkeypatch.setattr(contract, "SCHEDULER_PORT", 8000)
    assert openapi.with_block(text) != text
    monkeypatch.undo()
    monkeypatch.setattr(contract, "CLUSTER_NAME_PATTERN", "^[a-z]+$")
    assert openapi.with_block(text) != text


def test_the_document_holds_the_contract_facts():
    components = yaml.safe_load(openapi.DOCUMENT.read_text())["components"]["schemas"]
    assert components["ClusterName"]["pattern"] == contract.CLUSTER_NAME_PATTERN
    assert components["ClusterName"]["maxLength"] == contract.MAX_CLUSTER_NAME
    assert components["Quantity"]["anyOf"][0]["pattern"] == contract.RESOURCE_QUANTITY_PATTERN
    assert components["GroupName"]["pattern"] == contract.WORKER_GROUP_NAME_PATTERN
    assert components["EnvName"]["pattern"] == contract.ENV_NAME_PATTERN
    assert f":{contract.SCHEDULER_PORT};" in components["SchedulerAddress"]["description"]
    # every request body refers to these schemas rather than restating them
    for name in ("CreateCluster", "WorkerGroupRequest", "ScaleRequest", "AdaptRange"):
        assert "pattern" not in yaml.safe_dump(components[name]), name


def test_the_validator_reads_the_served_document():
    assert openapi.document() == yaml.safe_load(openapi.DOCUMENT.read_text())
    checked = schemas.validator("CreateCluster").schema["components"]
    assert checked is openapi.document()["components"]
