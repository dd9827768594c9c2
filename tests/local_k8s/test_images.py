"""Image references as Python environments: the pure mapping (no cluster needed)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from local_k8s.agent import images
from local_k8s.agent.containerspec import ImageNotAvailable
from local_k8s.agent.policies import pull_policy


@pytest.mark.parametrize("image,repository,tag", [
    ("ghcr.io/dask/dask:2025.1.0", "ghcr.io/dask/dask", "2025.1.0"),
    ("daskdev/dask", "daskdev/dask", "latest"),
    ("localhost:5000/dask/dask", "localhost:5000/dask/dask", "latest"),
    ("localhost:5000/dask/dask:1.2", "localhost:5000/dask/dask", "1.2"),
    ("python@sha256:abc", "python", "latest"),
])
def test_parse(image: str, repository: str, tag: str) -> None:
    ref = images.parse(image)
    assert (ref.repository, ref.tag) == (repository, tag)


@pytest.mark.parametrize("image,expected", [
    ("ghcr.io/dask/dask:2025.1.0", images.Environment("dask", "2025.1.0")),
    ("daskdev/dask:2024.8.2-py3.12", images.Environment("dask", "2024.8.2")),
    ("ghcr.io/dask/dask:latest", images.Environment("dask", None)),
    ("daskdev/dask", images.Environment("dask", None)),
    ("ghcr.io/dask/dask-notebook:2025.1.0", images.Environment("dask", "2025.1.0", notebook=True)),
    ("dask-k8s-lab/dask-k8s-operator:0.1.0", images.OPERATOR),
    ("registry.example/me/dask-k8s-operator", images.OPERATOR),
    ("quay.io/jupyter/base-notebook:latest", images.PROJECT),
    ("python:3.11", images.PROJECT),
])
def test_environment_for(image: str, expected: images.Environment) -> None:
    assert images.environment_for(image) == expected


def test_unknown_images_and_tags_are_refused_with_the_reason() -> None:
    with pytest.raises(ImageNotAvailable, match="nginx"):
        images.environment_for("nginx:1.27")
    with pytest.raises(ImageNotAvailable, match='tag "nightly" is not a Dask release'):
        images.environment_for("ghcr.io/dask/dask:nightly")


def test_requirements_and_keys() -> None:
    reqs = images.requirements("2025.1.0", notebook=False)
    assert reqs[0] == "dask[distributed,diagnostics]==2025.1.0"
    assert "jupyterlab" not in reqs and "jupyterlab" in images.requirements("2025.1.0", notebook=True)
    assert images.env_key("2025.1.0", False, "3.11") == "dask-2025.1.0-py3.11"
    assert images.env_key("2025.1.0", True, "3.11") == "dask-notebook-2025.1.0-py3.11"


def test_the_operators_environment_follows_its_checkout_and_pyproject_files() -> None:
    common, operator = Path("/src/common"), Path("/src/operator")
    key = images.operator_env_key([(common, b"a"), (operator, b"b")], "3.11")
    assert key.startswith("dask-k8s-operator-") and key.endswith("-py3.11")
    assert key == images.operator_env_key([(common, b"a"), (operator, b"b")], "3.11")
    # new dependencies, another checkout or another Python: another environment
    assert key != images.operator_env_key([(common, b"a"), (operator, b"b2")], "3.11")
    assert key != images.operator_env_key([(Path("/other/common"), b"a"), (operator, b"b")], "3.11")
    assert key != images.operator_env_key([(common, b"a"), (operator, b"b")], "3.12")


def test_local_source_of_an_installed_distribution() -> None:
    editable = '{"url": "file:///src/my%20tree/operator", "dir_info": {"editable": true}}'
    assert images.local_source(editable) == Path("/src/my tree/operator")
    assert images.local_source('{"url": "https://example.invalid/x.whl", "archive_info": {}}') is None
    assert images.local_source(None) is None


def test_packages_of_an_old_image_come_from_its_release_time() -> None:
    assert images.built_before("2025.1.0") == date(2025, 3, 1)
    assert images.built_before("2024.12.1") == date(2025, 2, 1)
    assert images.built_before("2.30.0") is None


def test_pull_policy() -> None:
    assert images.pull_needed("Always", present=True)
    assert not images.pull_needed("IfNotPresent", present=True)
    assert images.pull_needed("IfNotPresent", present=False)
    assert not images.pull_needed("Never", present=False)
    assert pull_policy({"image": "ghcr.io/dask/dask"}) == "Always"
    assert pull_policy({"image": "ghcr.io/dask/dask:2025.1.0"}) == "IfNotPresent"
    assert pull_policy({"image": "ghcr.io/dask/dask:latest", "imagePullPolicy": "Never"}) == "Never"


def test_last_error_line() -> None:
    output = ("  × No solution found when resolving dependencies:\n"
              "  ╰─▶ Because there is no version of dask==2099.1.0 and you require dask==2099.1.0, we can\n"
              "      conclude that your requirements are unsatisfiable.\n")
    assert images.last_error_line(output) == (
        "Because there is no version of dask==2099.1.0 and you require dask==2099.1.0, we can "
        "conclude that your requirements are unsatisfiable.")
    assert images.last_error_line("error: Failed to fetch: x\n  Caused by: timeout\nhelp: retry\n") == \
        "error: Failed to fetch: x Caused by: timeout"
    assert images.tag_file_name("ghcr.io/dask/dask") == "ghcr.io_dask_dask_latest.json"
