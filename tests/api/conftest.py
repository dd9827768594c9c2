"""Fixtures for the Python API's integration tests."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def operated_namespace(dask_operator, namespace: str) -> str:
    """A fresh namespace, with the Dask operator running."""
    return namespace


def _kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=os.environ.copy(), check=check)


@pytest.fixture
def operator_paused(dask_operator, namespace: str) -> Iterator[str]:
    """A fresh namespace while the operator is scaled to zero; it is restored afterwards."""
    ns, release = dask_operator["namespace"], dask_operator["release"]
    deployment = f"deployment/{release}"
    _kubectl("scale", "-n", ns, deployment, "--replicas=0")
    try:
        deadline = time.monotonic() + 60
        while _kubectl("get", "pods", "-n", ns, "-o", "name", f"--selector=app.kubernetes.io/instance={release}").stdout.strip():
            assert time.monotonic() < deadline, "the operator pod did not go away"
            time.sleep(0.5)
        yield namespace
    finally:
        _kubectl("scale", "-n", ns, deployment, "--replicas=1")
        _kubectl("rollout", "status", "-n", ns, deployment, "--timeout=120s", check=False)
