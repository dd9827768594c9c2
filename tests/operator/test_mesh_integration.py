"""Pods the operator creates carry no mesh opt-out label, unless the DaskCluster asks for it."""

from __future__ import annotations

import pytest

from dask_k8s_operator import builders
from tests.fixtures.kube import wait_until
from tests.operator.helpers import apply, pods, small_cluster

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dask_operator")]


def _cluster_pods(kubectl, name: str) -> dict[str, dict]:
    """The scheduler and a worker pod of ``name``, once the operator has created both."""

    def both():
        found = {p["metadata"]["labels"]["dask.org/component"]: p
                 for p in pods(kubectl, f"dask.org/cluster-name={name}")}
        return found if {"scheduler", "worker"} <= set(found) else None

    return wait_until(both, 120, message=f"scheduler and worker pods of {name}")


def test_pods_are_mesh_neutral_by_default_and_opt_out_per_cluster(kubectl):
    apply(kubectl, small_cluster("plain"))
    opted = small_cluster("optout")
    opted["metadata"]["annotations"] = {builders.MESH_OPT_OUT_ANNOTATION: "true"}
    apply(kubectl, opted)

    for pod in _cluster_pods(kubectl, "plain").values():
        labels, annotations = pod["metadata"]["labels"], pod["metadata"].get("annotations") or {}
        assert builders.MESH_OPT_OUT_LABEL not in labels
        assert builders.MESH_OPT_OUT_LABEL not in annotations
    for component, pod in _cluster_pods(kubectl, "optout").items():
        assert pod["metadata"]["labels"][builders.MESH_OPT_OUT_LABEL] == "false", component
