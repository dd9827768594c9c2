"""Mesh-friendly pods: no sidecar opt-out unless the operator setting or the annotation asks."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from dask_k8s_operator import builders
from tests.operator.test_chart import by_kind, helm, render  # noqa: F401 (fixture)

MANIFESTS = Path(__file__).parent / "manifests"
LABEL = builders.MESH_OPT_OUT_LABEL
ANNOTATION = builders.MESH_OPT_OUT_ANNOTATION


@pytest.fixture
def cluster() -> dict:
    body = yaml.safe_load((MANIFESTS / "cluster.yaml").read_text())
    body["metadata"].update(namespace="ns", uid="uid-1")
    return body


@pytest.fixture
def job(cluster) -> dict:
    return {
        "apiVersion": "kubernetes.dask.org/v1", "kind": "DaskJob",
        "metadata": {"name": "j", "namespace": "ns", "uid": "uid-j"},
        "spec": {"job": {"spec": {"containers": [{"name": "job", "image": "dask/dask:latest",
                                                  "args": ["python", "-c", "1"]}]}},
                 "cluster": {"spec": cluster["spec"]}},
    }


def _pods(cluster: dict, job: dict) -> list[dict]:
    group = builders.build_default_worker_group(cluster)
    group["metadata"]["uid"] = "uid-g"
    return [
        builders.build_scheduler_pod(cluster),
        builders.build_worker_pod(group, "w-1"),
        builders.build_job_runner_pod(job),
    ]


def _annotate(body: dict, value: str) -> dict:
    body = copy.deepcopy(body)
    body["metadata"].setdefault("annotations", {})[ANNOTATION] = value
    return body


def test_no_mesh_label_by_default(cluster, job, monkeypatch):
    monkeypatch.delenv(builders.MESH_OPT_OUT_ENV, raising=False)
    for pod in _pods(cluster, job):
        assert LABEL not in pod["metadata"]["labels"]
        assert LABEL not in pod["metadata"]["annotations"]


def test_annotation_opts_every_pod_out(cluster, job, monkeypatch):
    monkeypatch.delenv(builders.MESH_OPT_OUT_ENV, raising=False)
    for pod in _pods(_annotate(cluster, "true"), _annotate(job, "true")):
        assert pod["metadata"]["labels"][LABEL] == "false", pod["metadata"]["name"]


def test_operator_setting_opts_out_and_annotation_false_wins(cluster, job, monkeypatch):
    monkeypatch.setenv(builders.MESH_OPT_OUT_ENV, "true")
    for pod in _pods(cluster, job):
        assert pod["metadata"]["labels"][LABEL] == "false"
    for pod in _pods(_annotate(cluster, "false"), _annotate(job, "False")):
        assert LABEL not in pod["metadata"]["labels"]
    monkeypatch.setenv(builders.MESH_OPT_OUT_ENV, "false")
    assert not builders.mesh_opt_out_default()


def test_a_users_own_mesh_label_is_kept(cluster, job, monkeypatch):
    monkeypatch.delenv(builders.MESH_OPT_OUT_ENV, raising=False)
    cluster["metadata"]["labels"] = {LABEL: "true"}
    assert builders.build_scheduler_pod(cluster)["metadata"]["labels"][LABEL] == "true"


def _operator_env(docs: list[dict]) -> dict[str, str]:
    container = by_kind(docs)["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value") for item in container["env"]}


def test_chart_value_reaches_the_operator_env(helm):  # noqa: F811
    assert _operator_env(render(helm))[builders.MESH_OPT_OUT_ENV] == "false"
    env = _operator_env(render(helm, "--set", "mesh.disableSidecarInjection=true"))
    assert env[builders.MESH_OPT_OUT_ENV] == "true"
