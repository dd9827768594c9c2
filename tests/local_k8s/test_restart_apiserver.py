"""`local-k8s restart apiserver`: the API server process is replaced (same command line, so the
same certificates, etcd and ports) and the API answers again with what was stored before.

The cluster is shared: the restart runs once, under the lock the local-Kubernetes tools take
around restarts, and is kept short."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from local_k8s import components
from local_k8s.cli import local_k8s
from local_k8s.cluster import LocalCluster
from local_k8s.processes import alive

from tests.fixtures.kube import Kubectl

pytestmark = [pytest.mark.integration, pytest.mark.last]

RESTART_LOCK = Path("/tmp/dkl-restart.lock")  # shared with the other tools that restart the cluster


@pytest.fixture
def restart_lock() -> Iterator[None]:
    with RESTART_LOCK.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def kept(args: list[str]) -> list[str]:
    """What must not change across a restart: certificates, keys, tokens, etcd, addresses, ports."""
    return [a for a in args if a.startswith(("--tls-", "--client-ca", "--token-auth", "--service-account-",
                                             "--etcd-", "--bind-", "--secure-port", "--advertise-"))]


def test_restart_apiserver_keeps_state(kube: LocalCluster, kubectl: Kubectl, namespace: str, restart_lock) -> None:
    kubectl("create", "configmap", "kept", "--from-literal=answer=42")
    before = kube._pid("kube-apiserver")
    assert before and kube.status()["api_ready"]
    before_cmd = command_line(before)

    result = CliRunner().invoke(local_k8s, ["restart", "apiserver", "--state-dir", str(kube.layout.root)])

    assert result.exit_code == 0, result.output
    assert "ready again after" in result.output
    after = kube._pid("kube-apiserver")
    assert after != before and not alive(before)
    # Started as `up` starts it (one definition of the command line), with the same state.
    assert command_line(after) == components.apiserver(kube.layout)
    assert kept(command_line(after)) == kept(before_cmd) != []
    # Same certificates and token (the kubeconfig still works), same etcd (the object is there).
    assert kubectl.json("configmap", "kept")["data"] == {"answer": "42"}
    kubectl("create", "configmap", "made-after")
    assert kube.status()["node_ready"]


def test_restart_apiserver_when_stopped_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(local_k8s, ["restart", "apiserver", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "kube-apiserver is not running" in result.output
