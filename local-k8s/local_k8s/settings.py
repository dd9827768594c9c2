"""Pinned versions, addresses and folders of the local Kubernetes, in one place."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dask_k8s_common import contract

KUBE_VERSION = contract.KUBERNETES_VERSION
ETCD_VERSION = "3.6.5"
HELM_VERSION = "3.22.0"

NODE_NAME = "local-node"
# The node's address: the host side of the pod bridge. Pods reach the API server here,
# and the API server reaches the node agent's kubelet API here.
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/16"
POD_PREFIX_LEN = 16
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
CLUSTER_DOMAIN = "cluster.local"

# Every link, namespace and chain this project makes starts with this, so `down` can find them.
NAME_PREFIX = "dkl"
BRIDGE = "dkl0"
# A fixed, locally administered address for the bridge. Left alone, a Linux bridge takes the
# lowest MAC of its ports, so a pod's veth coming or going would change the gateway's MAC under
# every other pod: their cached ARP entry goes dead and their connections to the API server
# hang until it is re-learnt (up to minutes with TCP's SYN back-off).
BRIDGE_MAC = "02:64:6b:6c:00:01"

# Node loss, shorter than a default cluster's (40 s grace, 300 s toleration) so that trying it
# takes about a minute: a node whose agent has not renewed its Lease for the grace period turns
# NotReady, and its pods are evicted once they have tolerated that for the toleration seconds.
NODE_MONITOR_GRACE_SECONDS = 25
NODE_LOSS_TOLERATION_SECONDS = 20

# Pulled by `up`: the image that clusters use unless told otherwise (dask_k8s_lab's default).
PREPULLED_IMAGES = ("ghcr.io/dask/dask:latest",)

GO_MODULES = Path(__file__).parent / "gomod"


def cache_root() -> Path:
    """Build caches live outside the repository, keyed by version."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dask-k8s-lab"


def image_cache() -> Path:
    """The node's "pulled" images: one virtual environment per Dask version (agent/imagestore.py)."""
    return cache_root() / "images"


def uv_cache() -> Path:
    """uv's wheel and index cache, shared by every image build."""
    return cache_root() / "uv"


def default_state_dir() -> Path:
    return Path(os.environ.get("LOCAL_K8S_STATE_DIR", "/tmp/dask-k8s-lab-local-k8s"))


def python_env_bin() -> Path:
    """The bin folder of the Python environment that pods' containers run from."""
    return Path(sys.executable).parent


@dataclass(frozen=True)
class Ports:
    etcd_client: int = 23790
    etcd_peer: int = 23800
    apiserver: int = 6443
    kubelet: int = 10250
    # The agent's own health/metrics listener on loopback (used by `status`).
    agent_health: int = 10248


@dataclass(frozen=True)
class Layout:
    """Where one run keeps its files. `down` removes the whole folder."""

    root: Path
    ports: Ports = field(default_factory=Ports)

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def nodes_file(self) -> Path:
        return self.root / "nodes.json"

    @property
    def pods(self) -> Path:
        return self.root / "pods"

    @property
    def api_url(self) -> str:
        return f"https://{NODE_IP}:{self.ports.apiserver}"
