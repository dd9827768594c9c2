"""Parity with dask-kubernetes where its users would notice: defaults, error wording, the Helm
chart's Service ports (pure parts; the behaviour is in test_parity_integration.py)."""

from __future__ import annotations

import inspect

import jsonschema
import pytest

from dask_k8s_lab import make_cluster_spec, make_worker_spec
from dask_k8s_lab.helmcluster import scheduler_ports
from dask_k8s_lab.kubecluster import operator_missing_message, scheduler_failed_message
from tests.api.test_specs import crd_schema


def test_make_cluster_spec_leaves_the_worker_count_to_the_crd_default():
    assert inspect.signature(make_cluster_spec).parameters["n_workers"].default is None
    spec = make_cluster_spec("x", image="ghcr.io/dask/dask:latest")
    assert "replicas" not in spec["spec"]["worker"]
    jsonschema.validate(spec, crd_schema("daskclusters"))
    # explicit counts, 0 included, are written out
    assert make_cluster_spec("x", n_workers=0)["spec"]["worker"]["replicas"] == 0
    assert make_worker_spec(n_workers=None).keys() == {"spec"}
    assert make_worker_spec()["replicas"] == 3  # the documented default of make_worker_spec


def test_the_documented_worker_command_is_accepted():
    spec = make_cluster_spec("x", worker_command="dask-worker")
    assert spec["spec"]["worker"]["spec"]["containers"][0]["args"][0] == "dask-worker"
    default = make_cluster_spec("x")["spec"]["worker"]["spec"]["containers"][0]["args"][:2]
    assert default == ["dask", "worker"]  # the same program under its current name


def test_error_messages_begin_with_the_original_phrases():
    missing = operator_missing_message("c", "ns", 60)
    assert "is the Dask Operator running" in missing
    assert missing.index("is the Dask Operator running") < missing.index("resource_timeout")
    assert "namespace 'ns'" in missing and "kubectl get crd" in missing
    failed = scheduler_failed_message("c", "CrashLoopBackOff, exit code 2", "c-scheduler", "boom")
    assert failed.startswith("Scheduler failed to start")
    assert failed.endswith("Last log lines of pod c-scheduler:\nboom")


@pytest.mark.parametrize(
    ("ports", "comm", "dashboard"),
    [
        # <fullname>-scheduler / <fullname>-webui, as the Dask chart names them
        (
            [
                {"name": "rel-dask-scheduler", "port": 8786, "targetPort": 8786},
                {"name": "rel-dask-webui", "port": 80, "targetPort": 8787},
            ],
            ("rel-dask-scheduler", 8786),
            ("rel-dask-webui", 80),
        ),
        (
            [{"name": "tcp-comm", "port": 8786}, {"name": "http", "port": 80, "targetPort": "dashboard"}],
            ("tcp-comm", 8786),
            ("http", 80),
        ),
        (
            [{"name": "dashboard", "port": 80, "targetPort": 8787}, {"name": "comm", "port": 8786}],
            ("comm", 8786),
            ("dashboard", 80),
        ),
        ([{"name": "tcp-comm", "port": 8786}, {"name": "http-dashboard", "port": 8787}], ("tcp-comm", 8786), ("http-dashboard", 8787)),
        # unnamed ports are told apart by number
        ([{"port": 8786, "targetPort": 8786}, {"port": 80, "targetPort": 8787}], ("", 8786), ("", 80)),
        ([{"name": "tcp-comm", "port": 8786}], ("tcp-comm", 8786), None),
    ],
)
def test_helm_chart_scheduler_ports(ports, comm, dashboard):
    assert scheduler_ports({"spec": {"ports": ports}}) == (comm, dashboard)
