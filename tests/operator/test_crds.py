"""The committed CRDs: generated from the Kubernetes OpenAPI, structural, and with the contract
(scale/status subresources, printer columns, name rules) that clients rely on."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "operator" / "crds"
PLURALS = ["daskclusters", "daskworkergroups", "daskjobs", "daskautoscalers"]


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_crds", ROOT / "operator" / "generate_crds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def crds() -> dict[str, dict]:
    return {p: yaml.safe_load((CRD_DIR / f"{p}.kubernetes.dask.org.yaml").read_text())
            for p in PLURALS}


def schema(crd: dict) -> dict:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crds_match_the_generator():
    generator = load_generator()
    assert generator.main(["--check"]) == 0, "re-run operator/generate_crds.py"


def test_crds_embed_the_v135_podspec(crds):
    pod_spec = schema(crds["daskclusters"])["properties"]["spec"]["properties"]["worker"][
        "properties"]["spec"]
    containers = pod_spec["properties"]["containers"]
    assert containers["minItems"] == 1 and "containers" in pod_spec["required"]
    # fields added after Kubernetes 1.21 are present, not pruned
    container = containers["items"]["properties"]
    assert {"resizePolicy", "restartPolicy", "restartPolicyRules"} <= set(container)
    assert {"resourceClaims", "schedulingGates", "hostUsers", "os"} <= set(pod_spec["properties"])
    assert "kubernetes v1.35" in crds["daskclusters"]["metadata"]["annotations"][
        "kubernetes.dask.org/schema-source"].replace("@", " ")


def walk(node, path="$"):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


@pytest.mark.parametrize("plural", PLURALS)
def test_schemas_are_structural(crds, plural):
    for path, node in walk(schema(crds[plural])):
        assert "$ref" not in node and "allOf" not in node and "oneOf" not in node, path
        if path.endswith((".properties", ".x-kubernetes-validations")) or ".anyOf[" in path:
            continue
        if path.split(".")[-1] in ("x-kubernetes-list-map-keys", "required", "enum", "default"):
            continue
        if isinstance(node, dict) and any(k in node for k in ("properties", "items", "type",
                                                              "x-kubernetes-int-or-string")):
            assert ("type" in node or node.get("x-kubernetes-int-or-string")
                    or node.get("x-kubernetes-preserve-unknown-fields")), path
        if node.get("x-kubernetes-list-type") == "map":
            item = node["items"]
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in item.get("required", []) or "default" in item["properties"][key], path


@pytest.mark.parametrize("plural", PLURALS)
def test_crd_fits_kubectl_client_side_apply(crds, plural):
    # kubectl apply stores the object in an annotation limited to 256 KiB
    assert len(json.dumps(crds[plural], separators=(",", ":"))) < 256 * 1024


@pytest.mark.parametrize("plural", ["daskclusters", "daskworkergroups"])
def test_scale_subresource(crds, plural):
    subresources = crds[plural]["spec"]["versions"][0]["subresources"]
    assert subresources["scale"] == {
        "specReplicasPath": ".spec.worker.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    assert subresources["status"] == {}


@pytest.mark.parametrize("plural", PLURALS)
def test_every_crd_has_status_and_printer_columns(crds, plural):
    version = crds[plural]["spec"]["versions"][0]
    assert "status" in version["subresources"]
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    assert names[-1] == "Age"
    if plural in ("daskclusters", "daskworkergroups"):
        assert {"Workers", "Ready"} <= set(names)
    if plural == "daskclusters":
        assert "Status" in names
        assert crds[plural]["spec"]["names"]["shortNames"][0] == "dsk"


def test_cluster_and_job_names_are_limited(crds):
    for plural in ("daskclusters", "daskjobs"):
        name = schema(crds[plural])["properties"]["metadata"]["properties"]["name"]
        assert name["maxLength"] == 53
        assert name["pattern"] == "^[a-z]([-a-z0-9]*[a-z0-9])?$"


def test_replicas_and_minimums_cannot_be_negative(crds):
    worker = schema(crds["daskclusters"])["properties"]["spec"]["properties"]["worker"]
    assert worker["properties"]["replicas"]["minimum"] == 0
    autoscaler = schema(crds["daskautoscalers"])["properties"]["spec"]
    assert autoscaler["properties"]["minimum"]["minimum"] == 0
    assert autoscaler["x-kubernetes-validations"][0]["rule"] == "self.minimum <= self.maximum"


def test_quantities_and_int_or_string(crds):
    container = (schema(crds["daskworkergroups"])["properties"]["spec"]["properties"]["worker"]
                 ["properties"]["spec"]["properties"]["containers"]["items"]["properties"])
    limits = container["resources"]["properties"]["limits"]["additionalProperties"]
    assert limits["x-kubernetes-int-or-string"] is True and "pattern" in limits
    port = container["readinessProbe"]["properties"]["httpGet"]["properties"]["port"]
    assert port == {"anyOf": [{"type": "integer"}, {"type": "string"}],
                    "x-kubernetes-int-or-string": True}
