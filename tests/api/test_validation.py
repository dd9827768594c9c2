"""Every argument is checked before any API call; errors name the argument and the fix."""

from __future__ import annotations

import socket

import dask.config
import pytest

from dask_k8s_lab import KubeCluster
from dask_k8s_lab.options import KubeClusterOptions, default_cluster_name
from dask_k8s_lab.validation import (
    CreateMode,
    ValidationError,
    load_cluster_spec,
    normalize_env,
    validate_adapt_bounds,
    validate_cluster_name,
    validate_create_mode,
    validate_resources,
    validate_worker_group_name,
)
from dask_k8s_lab.kubecluster import daskcluster as kubecluster_module
from dask_k8s_lab.specs import make_cluster_spec


@pytest.mark.parametrize("name", ["a", "my-cluster", "c" + "0" * 52])
def test_valid_cluster_names(name):
    assert validate_cluster_name(name) == name


@pytest.mark.parametrize(
    "name, message",
    [
        ("invalid.chars.in.name", "e.g. 'invalid-chars-in-name'"),
        ("UPPER", "e.g. 'upper'"),
        ("1starts-with-digit", "starting with a letter"),
        ("ends-with-dash-", "ending with a letter or digit"),
        ("x" * 54, "54 characters long, more than the 53"),
        ("", "non-empty"),
        (None, "non-empty"),
    ],
)
def test_invalid_cluster_names(name, message):
    with pytest.raises(ValidationError, match="name=") as info:
        validate_cluster_name(name)
    assert message in str(info.value)


def test_resources_must_be_requests_and_limits():
    assert validate_resources({"requests": {"cpu": "1"}, "limits": {"memory": 2**30}}) == {
        "requests": {"cpu": "1"},
        "limits": {"memory": 2**30},
    }
    with pytest.raises(ValidationError, match="did you mean 'limits'"):
        validate_resources({"limit": {"cpu": "1"}})
    with pytest.raises(ValidationError, match=r"resources\['requests'\]"):
        validate_resources({"requests": "1 cpu"})
    with pytest.raises(ValidationError, match="quantity"):
        validate_resources({"limits": {"cpu": [1]}})
    with pytest.raises(ValidationError, match="not a mapping"):
        validate_resources(["cpu"])


def test_env_forms():
    assert normalize_env({"A": 1, "B": "x"}) == [{"name": "A", "value": "1"}, {"name": "B", "value": "x"}]
    entries = [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    assert normalize_env(entries) == entries
    with pytest.raises(ValidationError, match="env="):
        normalize_env([{"value": "no name"}])


def test_create_mode_accepts_enum_and_names():
    assert validate_create_mode(CreateMode.CONNECT_ONLY) is CreateMode.CONNECT_ONLY
    assert validate_create_mode("create_only") is CreateMode.CREATE_ONLY
    assert validate_create_mode("create-or-connect") is CreateMode.CREATE_OR_CONNECT
    with pytest.raises(ValidationError, match="create_mode='sometimes'.*CONNECT_ONLY"):
        validate_create_mode("sometimes")


def test_worker_group_names():
    assert validate_worker_group_name("highmem", "foo") == "highmem"
    with pytest.raises(ValidationError, match="name='High_Mem'"):
        validate_worker_group_name("High_Mem", "foo")
    with pytest.raises(ValidationError, match="longer than 63"):
        validate_worker_group_name("g" * 40, "c" * 30)


def test_adapt_bounds():
    assert validate_adapt_bounds(0, 2) == (0, 2)
    with pytest.raises(ValidationError, match="minimum=3 is larger than maximum=1"):
        validate_adapt_bounds(3, 1)
    with pytest.raises(ValidationError, match="minimum="):
        validate_adapt_bounds(-1, 1)


def test_custom_cluster_spec_checks(tmp_path):
    spec = make_cluster_spec(name="custom")
    del spec["spec"]["scheduler"]["service"]["ports"][0]
    with pytest.raises(ValidationError, match="no port named 'tcp-comm'"):
        load_cluster_spec(spec)
    with pytest.raises(ValidationError, match="not an existing file"):
        load_cluster_spec(str(tmp_path / "missing.yaml"))
    with pytest.raises(ValidationError, match=r"\['metadata'\]\['name'\]"):
        load_cluster_spec({"kind": "DaskCluster", "metadata": {"name": "Bad.Name"}, "spec": {}})
    with pytest.raises(ValidationError, match="is not 'DaskCluster'"):
        load_cluster_spec({"kind": "Pod"})


def test_options_take_config_defaults(monkeypatch):
    monkeypatch.setenv("TEAM", "ml")
    with dask.config.set(
        {
            "kubernetes.create-mode": "connect_only",
            "kubernetes.name": "dask-{TEAM}-{user}-{uuid}",
            "kubernetes.resource-timeout": 5,
            "kubernetes.port-forward-cluster-ip": True,
        }
    ):
        opts = KubeClusterOptions.resolve()
    assert opts.create_mode is CreateMode.CONNECT_ONLY
    assert opts.name.startswith("dask-ml-")
    validate_cluster_name(opts.name)
    assert opts.resource_timeout == 5
    assert opts.port_forward_cluster_ip is True
    assert opts.shutdown_on_close is None  # decided by create vs connect


def test_default_name_is_valid_for_awkward_user_names(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "John.Doe@CORP")
    name = default_cluster_name()
    assert name.startswith("dask-john-doe-corp-")
    validate_cluster_name(name)


def test_unknown_template_field_is_explained():
    with pytest.raises(ValidationError, match="NO_SUCH_VARIABLE_XYZ"):
        default_cluster_name("dask-{NO_SUCH_VARIABLE_XYZ}")


def test_custom_spec_name_wins_over_name():
    spec = make_cluster_spec(name="from-spec")
    with pytest.warns(UserWarning, match="ignored"):
        opts = KubeClusterOptions.resolve(name="other", custom_cluster_spec=spec)
    assert opts.name == "from-spec"


def test_forward_port_in_use_is_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ConnectionError, match=f"scheduler_forward_port={port} is already in use"):
            KubeClusterOptions.resolve(name="x", scheduler_forward_port=port)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"name": "Not.Valid"}, "name='Not.Valid'"),
        ({"n_workers": -2}, "n_workers=-2"),
        ({"resources": {"limit": {"memory": "1Gi"}}}, "did you mean 'limits'"),
        ({"create_mode": "whenever"}, "create_mode='whenever'"),
        ({"scheduler_service_type": "ExternalName"}, "scheduler_service_type="),
        ({"namespace": "Bad NS"}, "namespace="),
        ({"resource_timeout": 0}, "resource_timeout=0"),
        ({"idle_timeout": -5}, "idle_timeout=-5"),
        ({"shutdown_on_close": "yes"}, "shutdown_on_close='yes'"),
        ({"scheduler_forward_port": 70000}, "scheduler_forward_port=70000"),
    ],
)
def test_kubecluster_validates_before_any_api_call(monkeypatch, kwargs, argument):
    async def no_api(*args, **kw):  # pragma: no cover - reaching it is the failure
        raise AssertionError("an API client was requested before validation finished")

    monkeypatch.setattr(kubecluster_module, "resolve_api", no_api)
    with pytest.raises(ValidationError, match=argument.replace("(", r"\(").replace(".", r"\.")):
        KubeCluster(**{"name": "ok", **kwargs}, quiet=True)
