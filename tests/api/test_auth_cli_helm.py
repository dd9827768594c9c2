"""Auth wrappers, the `dask kubernetes` commands, HelmCluster pure parts and the client RBAC."""

from __future__ import annotations

import importlib.resources

import pytest
import yaml
from click.testing import CliRunner

from dask_k8s_lab import HelmCluster, InCluster, KubeAuth, KubeConfig
from dask_k8s_lab.auth import ClusterAuth
from dask_k8s_lab.helmcluster import ADAPT_REFUSAL, find_deployment, release_selector
from dask_k8s_lab.kubernetes_cli import main
from dask_k8s_lab.validation import ValidationError


def test_kubeauth_builds_an_equivalent_kubeconfig():
    auth = KubeAuth("https://k8s.example:6443", token="abc", verify_ssl=False, cert_file="c.pem", key_file="k.pem")
    config = auth.kubeconfig()
    (cluster,) = config["clusters"]
    (user,) = config["users"]
    assert cluster["cluster"] == {"server": "https://k8s.example:6443", "insecure-skip-tls-verify": True}
    assert user["user"] == {"token": "abc", "client-certificate": "c.pem", "client-key": "k.pem"}
    assert config["current-context"] == "kubeauth"


def test_kubeauth_refuses_basic_auth_with_the_alternative():
    with pytest.raises(ValueError, match="token=.*cert_file="):
        KubeAuth("https://k8s.example", username="admin", password="secret")


class Broken(ClusterAuth):
    def __init__(self, why):
        self.why = why

    async def load(self, namespace=None):
        raise RuntimeError(self.why)


async def test_load_first_reports_every_failure(tmp_path):
    with pytest.raises(RuntimeError) as info:
        await ClusterAuth.load_first(
            [Broken("first failed"), InCluster(str(tmp_path)), KubeConfig(str(tmp_path / "none"))]
        )
    text = str(info.value)
    assert "Broken: first failed" in text
    assert "InCluster: no service account token" in text
    assert "KubeConfig: kubeconfig" in text and "does not exist" in text


def test_gen_cluster_prints_a_daskcluster():
    result = CliRunner().invoke(
        main,
        ["gen", "cluster", "--name", "demo", "--n-workers", "2", "-e", "A=1", "--resources", '{"limits": {"memory": "1Gi"}}', "--jupyter"],
    )
    assert result.exit_code == 0, result.output
    spec = yaml.safe_load(result.output)
    assert spec["kind"] == "DaskCluster" and spec["metadata"]["name"] == "demo"
    assert spec["spec"]["worker"]["replicas"] == 2
    worker = spec["spec"]["worker"]["spec"]["containers"][0]
    assert worker["env"] == [{"name": "A", "value": "1"}]
    assert worker["resources"] == {"limits": {"memory": "1Gi"}}
    assert spec["spec"]["scheduler"]["spec"]["containers"][0]["args"][-1] == "--jupyter"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--name", "Bad.Name"], "name='Bad.Name'"),
        (["--name", "ok", "-e", "NOEQUALS"], "KEY=VALUE"),
        (["--name", "ok", "--resources", "{not json"], "not JSON"),
        (["--name", "ok", "--resources", '{"limit": {}}'], "did you mean 'limits'"),
    ],
)
def test_gen_cluster_rejects_bad_input(args, message):
    result = CliRunner().invoke(main, ["gen", "cluster", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_has_port_forward_command():
    result = CliRunner().invoke(main, ["port-forward", "--help"])
    assert result.exit_code == 0 and "CLUSTER" in result.output


def test_helm_release_lookup():
    deployments = [
        {"metadata": {"name": "other-scheduler", "labels": {"release": "other"}}},
        {"metadata": {"name": "myrel-dask-scheduler", "labels": {"release": "myrel"}}},
        {"metadata": {"name": "myrel-dask-worker", "labels": {"release": "myrel"}}},
    ]
    assert release_selector(deployments, "myrel") == "release"
    assert release_selector([{"metadata": {"name": "x", "labels": {"app.kubernetes.io/instance": "r"}}}], "r") == (
        "app.kubernetes.io/instance"
    )
    assert release_selector(deployments, "missing") is None
    mine = deployments[1:]
    assert find_deployment(mine, "scheduler") == "myrel-dask-scheduler"
    assert find_deployment(mine, "worker") == "myrel-dask-worker"
    assert find_deployment(mine, "jupyter") is None


def test_helmcluster_validates_and_refuses_adapt():
    with pytest.raises(ValidationError, match="release_name=None"):
        HelmCluster()
    with pytest.raises(NotImplementedError, match="Kubernetes rather than Dask"):
        HelmCluster.adapt(object(), minimum=1)
    assert "retires workers through the scheduler" in ADAPT_REFUSAL


def test_client_rbac_covers_what_the_client_does():
    text = importlib.resources.files("dask_k8s_lab").joinpath("manifests/client-rbac.yaml").read_text()
    roles = {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(text)}
    rules = roles["dask-k8s-lab-client"]["rules"]

    def allowed(group, resource, verb):
        return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)

    for resource in ("daskclusters", "daskworkergroups", "daskautoscalers"):
        for verb in ("get", "list", "create", "patch", "delete"):
            assert allowed("kubernetes.dask.org", resource, verb), (resource, verb)
    assert allowed("kubernetes.dask.org", "daskworkergroups/scale", "patch")
    assert allowed("", "pods/log", "get")
    assert allowed("", "pods/portforward", "create")
    assert allowed("", "events", "list")
    assert allowed("", "services", "get")
    assert not allowed("", "pods", "create")  # the operator, not the client, makes pods


def test_in_cluster_namespace_comes_from_the_service_account(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from dask_k8s_lab.auth import current_namespace

    (tmp_path / "namespace").write_text("team-a\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    in_pod = SimpleNamespace(auth=SimpleNamespace(server="https://10.96.0.1:443"), namespace="default")
    assert current_namespace(in_pod, serviceaccount=str(tmp_path)) == "team-a"
    from_kubeconfig = SimpleNamespace(auth=SimpleNamespace(server="https://127.0.0.1:6443"), namespace="dev")
    assert current_namespace(from_kubeconfig, serviceaccount=str(tmp_path)) == "dev"
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert current_namespace(in_pod, serviceaccount=str(tmp_path)) == "default"


def test_entry_points_are_declared_and_plug_into_the_dask_cli():
    import pathlib
    import tomllib
    from importlib.metadata import EntryPoint

    import click
    from dask.cli import _register_command_ep

    project = tomllib.loads((pathlib.Path(__file__).parents[2] / "pyproject.toml").read_text())
    entry_points = project["project"]["entry-points"]
    assert entry_points["dask_cli"]["kubernetes"] == "dask_k8s_lab.kubernetes_cli:main"
    assert entry_points["dask_cluster_discovery"]["kubecluster"] == "dask_k8s_lab.discovery:discover"
    assert entry_points["dask_cluster_discovery"]["helmcluster"] == "dask_k8s_lab.helmcluster:discover"

    @click.group()
    def dask_cli():
        pass

    _register_command_ep(dask_cli, EntryPoint("kubernetes", entry_points["dask_cli"]["kubernetes"], "dask_cli"))
    result = CliRunner().invoke(dask_cli, ["kubernetes", "gen", "cluster", "--name", "via-dask"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output)["metadata"]["name"] == "via-dask"
