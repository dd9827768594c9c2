"""`down` leaves nothing behind. Runs after every other test, since it stops the shared
cluster; a cluster this session did not start is brought up again afterwards."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from local_k8s import cluster, network, nodes, processes
from tests.fixtures.kube import Kubectl

pytestmark = [pytest.mark.integration, pytest.mark.last(9)]  # after every other `last` test


def test_down_leaves_nothing_behind(kube: cluster.LocalCluster) -> None:
    # Something running first, so there are pod namespaces, veths and service addresses to remove.
    kubectl = Kubectl("default")
    kubectl("run", "sleeper", "--image=python", "--command", "--", "sleep", "600")
    kubectl("expose", "pod", "sleeper", "--port=80")
    kubectl("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s")
    # A second node, with a pod of its own, whose agent was restarted (the pod adopted).
    extra = kube.add_node("down-extra", taints=[nodes.parse_taint("down-test=1:NoSchedule")])
    kubectl("run", "adopted", "--image=python", "--overrides", json.dumps({"spec": {
        "nodeSelector": {"kubernetes.io/hostname": extra.name}, "tolerations": [{"operator": "Exists"}]}}),
        "--command", "--", "sleep", "600")
    kubectl("wait", "--for=condition=Ready", "pod/adopted", "--timeout=60s")
    kube.restart_agent(extra.name)
    root = kube.layout.root
    pids = [int(p.read_text()) for p in (root / "pids").glob("*.pid")]
    mountpoints = json.loads((root / "mountpoints.json").read_text()) if (root / "mountpoints.json").exists() else []
    assert network.list_pod_netns()
    restore = not kube.started_here

    kube.down(quiet=True)
    try:
        assert not root.exists()
        alive = [pid for pid in pids if processes.alive(pid)]
        assert not alive, f"processes still running: {alive}"
        ours = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True).stdout.split()
        assert not [p for p in ours if processes.alive(int(p))], f"processes still using {root}: {ours}"
        assert network.leftovers() == []
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert " dkl" not in links
        addresses = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
        assert "10.244." not in addresses and "10.96." not in addresses
        assert not [m for m in mountpoints if Path(m).exists()]
    finally:
        if restore:
            kube.up(install_operator=os.environ.get("LOCAL_K8S_BARE") != "1")
            kube.started_here = False  # still not this session's to take down
