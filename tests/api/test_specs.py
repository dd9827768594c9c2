"""make_cluster_spec / make_worker_spec: shape, defaults from config, and CRD conformance."""

from __future__ import annotations

import pathlib

import dask.config
import jsonschema
import pytest
import yaml

from dask_k8s_lab import make_cluster_spec, make_worker_spec
from dask_k8s_lab.specs import derive_worker_spec, make_worker_group
from dask_k8s_lab.validation import ValidationError, load_cluster_spec

CRDS = pathlib.Path(__file__).parents[2] / "operator" / "crds"


def crd_schema(plural: str) -> dict:
    crd = yaml.safe_load((CRDS / f"{plural}.kubernetes.dask.org.yaml").read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_cluster_spec_shape():
    spec = make_cluster_spec(name="foo", n_workers=2, env={"A": 1}, resources={"limits": {"memory": "1Gi"}})
    assert spec["apiVersion"] == "kubernetes.dask.org/v1"
    assert spec["kind"] == "DaskCluster"
    assert spec["metadata"] == {"name": "foo"}
    assert spec["spec"]["idleTimeout"] == 0
    worker = spec["spec"]["worker"]
    assert worker["replicas"] == 2
    (wc,) = worker["spec"]["containers"]
    assert wc["args"] == ["dask", "worker", "--name", "$(DASK_WORKER_NAME)", "--dashboard", "--dashboard-address", "8788"]
    assert wc["env"] == [{"name": "A", "value": "1"}]
    assert wc["resources"] == {"limits": {"memory": "1Gi"}}
    assert {"name": "http-dashboard", "containerPort": 8788, "protocol": "TCP"} in wc["ports"]
    (sc,) = spec["spec"]["scheduler"]["spec"]["containers"]
    assert sc["args"] == ["dask", "scheduler", "--host", "0.0.0.0"]
    assert sc["env"] == wc["env"] and sc["resources"] == wc["resources"]
    assert {p["name"]: p["containerPort"] for p in sc["ports"]} == {"tcp-comm": 8786, "http-dashboard": 8787}
    assert sc["readinessProbe"]["httpGet"] == {"port": "http-dashboard", "path": "/health"}
    service = spec["spec"]["scheduler"]["service"]
    assert service["type"] == "ClusterIP"
    assert service["selector"] == {"dask.org/cluster-name": "foo", "dask.org/component": "scheduler"}
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["ports"]] == [
        ("tcp-comm", 8786, "tcp-comm"),
        ("http-dashboard", 8787, "http-dashboard"),
    ]


def test_options_change_the_spec():
    spec = make_cluster_spec(
        name="bar",
        image="ghcr.io/dask/dask:2026.1",
        worker_command=["python", "-m", "distributed.cli.dask_worker"],
        scheduler_service_type="nodeport",
        idle_timeout=30,
        jupyter=True,
        env=[{"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    )
    wc = spec["spec"]["worker"]["spec"]["containers"][0]
    sc = spec["spec"]["scheduler"]["spec"]["containers"][0]
    assert wc["image"] == sc["image"] == "ghcr.io/dask/dask:2026.1"
    assert wc["args"][:3] == ["python", "-m", "distributed.cli.dask_worker"]
    assert sc["args"][-1] == "--jupyter"
    assert spec["spec"]["scheduler"]["service"]["type"] == "NodePort"
    assert spec["spec"]["idleTimeout"] == 30
    assert wc["env"] == [{"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    assert "resources" not in wc


def test_defaults_come_from_dask_config():
    with dask.config.set(
        {
            "kubernetes.image": "example.org/dask:7",
            "kubernetes.count.start": 4,
            "kubernetes.worker-command": "dask-worker",
            "kubernetes.scheduler-service-type": "LoadBalancer",
            "kubernetes.idle-timeout": 99,
        }
    ):
        spec = make_cluster_spec(name="cfg")
    assert "replicas" not in spec["spec"]["worker"]  # count.start is KubeCluster's; the CRD default applies
    assert spec["spec"]["worker"]["spec"]["containers"][0]["image"] == "example.org/dask:7"
    assert spec["spec"]["worker"]["spec"]["containers"][0]["args"][0] == "dask-worker"
    assert spec["spec"]["scheduler"]["service"]["type"] == "LoadBalancer"
    assert spec["spec"]["idleTimeout"] == 99
    # Explicit arguments still win over config.
    with dask.config.set({"kubernetes.count.start": 4}):
        assert make_cluster_spec(name="cfg", n_workers=0)["spec"]["worker"]["replicas"] == 0


def test_cluster_spec_matches_the_crd_schema():
    spec = make_cluster_spec(name="schema-check", n_workers=1, env={"X": "y"}, resources={"requests": {"cpu": "1"}})
    jsonschema.validate(spec, crd_schema("daskclusters"))


def test_worker_group_matches_the_crd_schema():
    group = make_worker_group("foo", "highmem", make_worker_spec(n_workers=2))
    assert group["metadata"]["name"] == "foo-highmem"
    assert group["spec"]["cluster"] == "foo"
    jsonschema.validate(group, crd_schema("daskworkergroups"))


def test_worker_spec_shape_and_documented_example():
    spec = make_worker_spec(cluster_name="example", n_workers=2, resources={"limits": {"nvidia.com/gpu": 1}})
    assert spec["replicas"] == 2
    assert spec["spec"]["containers"][0]["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert make_worker_spec()["replicas"] == 3


def test_spec_round_trips_through_yaml_as_custom_cluster_spec(tmp_path):
    spec = make_cluster_spec(name="roundtrip", n_workers=2)
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert load_cluster_spec(str(path)) == spec
    assert load_cluster_spec(spec) == spec


def test_derive_worker_spec_keeps_customisations():
    base = make_worker_spec(image="img:1", n_workers=1)
    base["spec"]["nodeSelector"] = {"disk": "ssd"}
    derived = derive_worker_spec(base, n_workers=5, resources={"limits": {"memory": "8Gi"}}, worker_command="dask-cuda-worker")
    assert derived["replicas"] == 5
    assert derived["spec"]["nodeSelector"] == {"disk": "ssd"}
    container = derived["spec"]["containers"][0]
    assert container["image"] == "img:1"
    assert container["resources"] == {"limits": {"memory": "8Gi"}}
    assert container["args"][0] == "dask-cuda-worker" and "$(DASK_WORKER_NAME)" in container["args"]
    assert base["replicas"] == 1  # the base is not modified


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"name": "Bad_Name"}, "name="),
        ({"name": "ok", "n_workers": -1}, "n_workers="),
        ({"name": "ok", "resources": {"limit": {"cpu": 1}}}, "'limits'"),
        ({"name": "ok", "scheduler_service_type": "Ingress"}, "scheduler_service_type="),
        ({"name": "ok", "env": "A=1"}, "env="),
        ({"name": "ok", "worker_command": ""}, "worker_command="),
    ],
)
def test_make_cluster_spec_validates(kwargs, argument):
    with pytest.raises(ValidationError, match=argument):
        make_cluster_spec(**kwargs)


def test_autoscaler_manifests_match_the_crd_schema():
    from dask_k8s_lab.specs import make_autoscaler

    default = make_autoscaler("foo", 0, 5)
    assert default["metadata"]["name"] == "foo"
    assert default["spec"] == {"cluster": "foo", "workerGroup": "foo-default", "minimum": 0, "maximum": 5}
    gpu = make_autoscaler("foo", 1, 3, group="gpu", scale_down_delay=30)
    assert gpu["metadata"]["name"] == "foo-gpu"
    assert gpu["spec"]["workerGroup"] == "foo-gpu" and gpu["spec"]["scaleDownDelaySeconds"] == 30
    for manifest in (default, gpu):
        jsonschema.validate(manifest, crd_schema("daskautoscalers"))
