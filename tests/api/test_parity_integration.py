"""Parity with dask-kubernetes on the local Kubernetes: the documented defaults of
make_cluster_spec, the kr8s helpers of the Dask resources, the start-up error wording and
HelmCluster's dashboard on a Dask chart release."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess
import urllib.request
import uuid

import kr8s
import pytest
from distributed import Client

from dask_k8s_lab import HelmCluster, KubeCluster, SchedulerStartupError, make_cluster_spec
from dask_k8s_common.resources import (
    LABEL_CLUSTER,
    LABEL_COMPONENT,
    DaskCluster,
    DaskWorkerGroup,
    default_worker_group_name,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CHART = pathlib.Path(__file__).parent / "charts" / "dask"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def _resource_helpers(namespace: str, name: str, extra_group: str) -> dict:
    cluster = await DaskCluster.get(name, namespace=namespace)
    groups = await cluster.worker_groups()
    default = next(g for g in groups if g.name == default_worker_group_name(name))
    pods = await default.pods()
    scheduler = await cluster.scheduler_pod()
    service = await cluster.scheduler_service()
    return {
        "ready": await cluster.ready(),
        "groups": sorted(g.name for g in groups),
        "group types": {type(g).__name__ for g in groups},
        "group cluster": (await default.cluster()).name,
        "worker pods": [(p.labels[LABEL_CLUSTER], p.labels[LABEL_COMPONENT]) for p in pods],
        "scheduler": (type(scheduler).__name__, scheduler.labels[LABEL_COMPONENT]),
        "service": (type(service).__name__, service.name),
        "unlabelled names it": (await DaskWorkerGroup.get(extra_group, namespace=namespace)).spec["cluster"] == name,
    }


def test_make_cluster_spec_defaults_compute_with_one_worker(operated_namespace):
    ns = operated_namespace
    name = unique("docs-defaults")
    spec = make_cluster_spec(name, image="ghcr.io/dask/dask:latest")
    with KubeCluster(custom_cluster_spec=spec, namespace=ns, quiet=True) as cluster:
        (resource,) = kr8s.get("daskclusters.kubernetes.dask.org", name, namespace=ns)
        assert resource.spec["worker"]["replicas"] == 1  # the CRD's default
        cluster.wait_for_workers(1, timeout=120)
        with Client(cluster) as client:
            assert client.submit(lambda x: x * 2, 21).result() == 42

        # a group that names the cluster without its label is not one of its worker_groups()
        unlabelled = f"{name}-unlabelled"
        group = {
            "apiVersion": "kubernetes.dask.org/v1",
            "kind": "DaskWorkerGroup",
            "metadata": {"name": unlabelled, "namespace": ns},
            "spec": {"cluster": name, "worker": {**resource.spec["worker"], "replicas": 0}},
        }
        subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps(group), text=True,
                       check=True, capture_output=True, env=os.environ.copy())
        cluster.add_worker_group("extra", n_workers=0)
        found = asyncio.run(_resource_helpers(ns, name, unlabelled))
    assert found == {
        "ready": True,
        "groups": sorted([default_worker_group_name(name), f"{name}-extra"]),
        "group types": {"DaskWorkerGroup"},
        "group cluster": name,
        "worker pods": [(name, "worker")],
        "scheduler": ("Pod", "scheduler"),
        "service": ("Service", f"{name}-scheduler"),
        "unlabelled names it": True,
    }


def test_scheduler_start_failure_uses_the_original_words(operated_namespace):
    spec = make_cluster_spec(name=unique("nostart"), n_workers=0)
    spec["spec"]["scheduler"]["spec"]["containers"][0]["args"] = ["dask", "scheduler", "--no-such-option"]
    with pytest.raises(SchedulerStartupError, match=r"(?s)^Scheduler failed to start .*no-such-option"):
        KubeCluster(custom_cluster_spec=spec, namespace=operated_namespace, resource_timeout=60, quiet=True)


def test_kubecluster_returns_once_the_scheduler_answers(operated_namespace):
    """KubeCluster waits for the scheduler, not for the operator's Running: here the operator never
    gets to Running (the scheduler's HTTP API, which it asks, is switched off), yet the scheduler
    answers Dask comms and the cluster computes."""
    ns = operated_namespace
    name = unique("answers")
    spec = make_cluster_spec(name, n_workers=1)
    scheduler = spec["spec"]["scheduler"]["spec"]["containers"][0]
    scheduler.setdefault("env", []).append(
        {"name": "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES", "value": '["distributed.http.health"]'}
    )
    with KubeCluster(custom_cluster_spec=spec, namespace=ns, resource_timeout=120, quiet=True) as cluster:
        (resource,) = kr8s.get("daskclusters.kubernetes.dask.org", name, namespace=ns)
        assert resource.status.get("phase") != "Running", resource.status
        assert cluster.comm_endpoint.mode == "cluster-ip"
        cluster.wait_for_workers(1, timeout=120)
        with Client(cluster) as client:
            assert client.submit(lambda: "ok").result() == "ok"


@pytest.fixture
def chart_release(namespace):
    name = "parity"
    env = os.environ.copy()
    subprocess.run(["helm", "install", name, str(CHART), "--namespace", namespace, "--wait", "--timeout", "120s"],
                   check=True, capture_output=True, env=env)
    yield name
    subprocess.run(["helm", "uninstall", name, "--namespace", namespace], capture_output=True, env=env)


@pytest.mark.parametrize("names", [("parity-dask-scheduler", "parity-dask-webui"), ("tcp-comm", "http")])
def test_helmcluster_dashboard_on_the_charts_port_80(chart_release, namespace, names):
    """The Dask chart's scheduler Service serves the dashboard on port 80 under a name that changed
    over its versions; the dashboard is found by name or number, directly and forwarded."""
    service = f"{chart_release}-dask-scheduler"
    comm, dashboard = names
    patch = [
        {"op": "replace", "path": "/spec/ports/0/name", "value": comm},
        {"op": "replace", "path": "/spec/ports/1/name", "value": dashboard},
        {"op": "replace", "path": "/spec/ports/1/targetPort", "value": 8787},
    ]
    subprocess.run(["kubectl", "patch", "service", service, "-n", namespace, "--type=json", "-p", json.dumps(patch)],
                   check=True, capture_output=True, env=os.environ.copy())
    for forward in (False, True):
        cluster = HelmCluster(release_name=chart_release, namespace=namespace, port_forward_cluster_ip=forward)
        try:
            link = cluster.dashboard_link
            assert link.startswith("http://") and link.endswith("/status"), link
            if not forward:
                assert link.endswith(":80/status"), link  # the Service's own port
            with urllib.request.urlopen(link.replace("/status", "/health"), timeout=30) as response:
                assert response.read() == b"ok"
        finally:
            cluster.close()
