"""Unit tests of the version-skew logic (pure: no cluster, no scheduler)."""

from __future__ import annotations

import pytest

from dask_k8s_lab import versions
from dask_k8s_lab.versions import Mismatch

NOTEBOOK = {"python": "3.11.7", "dask": "2026.8.0", "distributed": "2026.8.0", "cloudpickle": "3.1.1", "msgpack": "1.1.0"}


def test_matching_versions_give_no_report():
    remote = {**NOTEBOOK, "python": "3.11.9.final.0"}  # a micro release does not matter
    assert versions.compare(NOTEBOOK, {"scheduler": remote, "workers (2)": NOTEBOOK}) == []
    assert versions.report(NOTEBOOK, []) is None


def test_mismatch_names_package_versions_and_where():
    old = {**NOTEBOOK, "dask": "2025.1.0", "distributed": "2025.1.0"}
    found = versions.compare(NOTEBOOK, {"scheduler": NOTEBOOK, "workers (1)": old})
    assert found == [
        Mismatch("dask", "2026.8.0", "2025.1.0", "workers (1)"),
        Mismatch("distributed", "2026.8.0", "2025.1.0", "workers (1)"),
    ]
    assert versions.describe(found)[1] == "distributed: notebook 2026.8.0, workers (1) 2025.1.0"
    report = versions.report(NOTEBOOK, found)
    assert "ghcr.io/dask/dask:2026.8.0-py3.11" in report["fix"]
    assert report["mismatches"][0] == {"package": "dask", "local": "2026.8.0", "remote": "2025.1.0", "where": "workers (1)"}


def test_python_minor_differs():
    found = versions.compare(NOTEBOOK, {"scheduler": {"python": "3.12.1"}})
    assert found == [Mismatch("python", "3.11.7", "3.12.1", "scheduler")]


def test_unreported_packages_are_not_mismatches():
    assert versions.compare(NOTEBOOK, {"scheduler": {"dask": "2026.8.0"}}) == []


def test_packages_of_a_distributed_versions_reply():
    reply = {"host": {"python": "3.11.7.final.0"},
             "packages": {"python": "3.11.7.final.0", "dask": "2025.1.0", "distributed": "2025.1.0",
                          "msgpack": "1.1.0", "cloudpickle": "3.1.1", "tornado": "6.4", "numpy": None}}
    assert versions.packages_of(reply) == {
        "python": "3.11.7.final.0", "dask": "2025.1.0", "distributed": "2025.1.0", "msgpack": "1.1.0",
        "cloudpickle": "3.1.1"}
    assert versions.packages_of(None) == {}


def test_workers_with_the_same_versions_are_one_entry():
    old = {**NOTEBOOK, "distributed": "2025.1.0"}
    assert versions.group_workers({"tcp://a:1": NOTEBOOK, "tcp://b:1": NOTEBOOK}) == {"workers (2)": NOTEBOOK}
    grouped = versions.group_workers({"tcp://a:1": NOTEBOOK, "tcp://b:1": NOTEBOOK, "tcp://c:1": old})
    assert grouped == {"workers tcp://a:1, tcp://b:1": NOTEBOOK, "worker tcp://c:1": old}


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("ghcr.io/dask/dask:2025.1.0", {"dask": "2025.1.0", "distributed": "2025.1.0"}),
        ("ghcr.io/dask/dask:2025.1.0-py3.12", {"dask": "2025.1.0", "distributed": "2025.1.0", "python": "3.12"}),
        ("daskdev/dask:2024.12.1", {"dask": "2024.12.1", "distributed": "2024.12.1"}),
        ("dask/dask:2024.12.1", {"dask": "2024.12.1", "distributed": "2024.12.1"}),
        ("ghcr.io/dask/dask:latest", {}),
        ("myorg/dask:2025.1.0", {}),  # not the official image: its tag says nothing about Dask
        ("localhost:5000/dask/dask", {}),
        ("ghcr.io/dask/dask@sha256:abc", {}),
        ("", {}),
    ],
)
def test_image_versions(image, expected):
    assert versions.image_versions(image) == expected


def test_image_skew_of_an_older_worker_image():
    skew = versions.image_skew(
        {"scheduler": "ghcr.io/dask/dask:2026.8.0", "workers (default)": "ghcr.io/dask/dask:2025.1.0"}, NOTEBOOK)
    assert [(m["package"], m["where"]) for m in skew["mismatches"]] == [
        ("dask", "workers (default)"), ("distributed", "workers (default)")]
    assert versions.image_skew({"scheduler": "ghcr.io/dask/dask:2026.8.0-py3.11"}, NOTEBOOK) is None


def test_local_versions_are_this_process():
    import dask
    import distributed

    mine = versions.local_versions()
    assert mine["dask"] == dask.__version__ and mine["distributed"] == distributed.__version__
    assert set(versions.PACKAGES) <= set(mine)
