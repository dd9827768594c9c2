"""Adding, stopping, restarting and removing the nodes of a running local Kubernetes."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from . import network, nodes
from .processes import alive, kill_group


class NodeControl:
    """The node operations of :class:`~local_k8s.cluster.LocalCluster` (mixed into it)."""

    def add_node(self, name: str | None = None, *, zone: str | None = None, labels: dict[str, str] | None = None,
                 taints: list[dict[str, str]] | None = None, timeout: float = 60) -> nodes.NodeConfig:
        """Register one more node (its own agent) with the running cluster."""
        known = self.nodes()
        index = nodes.free_index(known)
        node = nodes.new_node(index, name, zone, labels, taints)
        if any(n.name == node.name for n in known):
            raise ValueError(f"node {node.name} exists already")
        nodes.save(self.layout.nodes_file, [*known, node])
        self._start_agent(node, timeout)
        return node

    def _node(self, name: str) -> nodes.NodeConfig:
        node = next((n for n in self.nodes() if n.name == name), None)
        if node is None:
            raise ValueError(f"no node {name}; the nodes are {', '.join(n.name for n in self.nodes())}")
        return node

    def stop_node(self, name: str) -> list[str]:
        """The node's machine goes away: its agent and its pods' processes are killed, their
        network namespaces removed. The API server is not told: the Node turns NotReady once
        its Lease expires, and the node lifecycle controller evicts its pods (see settings)."""
        node = self._node(name)
        if node.runs_cluster_services:
            raise ValueError(f"{name} also runs the cluster's scheduler and service proxy; stop another node")
        stopped = []
        pid = self._pid(node.component)
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)
            stopped.append(f"{node.component} (pid {pid})")
        with self._http() as http:
            pods = http.get("/api/v1/pods", params={"fieldSelector": f"spec.nodeName={name}"}).json()["items"]
        on_node = {network.netns_name(p["metadata"]["uid"]) for p in pods}
        for ns in set(network.list_pod_netns()) & on_node:
            out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
            for proc in map(int, out.split()):
                kill_group(proc, grace=0)
            network.delete_netns(ns)
            stopped.append(f"netns {ns}")
        return stopped

    def restart_agent(self, name: str, timeout: float = 60) -> None:
        """Kill the node's agent hard (SIGKILL, as a crash would) and start it again: it adopts
        the pods that are still running, from the state it keeps on disk."""
        node = self._node(name)
        pid = self._pid(node.component)
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self._start_agent(node, timeout)

    def start_node(self, name: str, timeout: float = 60) -> None:
        node = self._node(name)
        if not alive(self._pid(node.component)):
            self._start_agent(node, timeout)

    def remove_node(self, name: str) -> None:
        """Stop the node and delete it from the API (its pods are then garbage-collected)."""
        node = self._node(name)
        self.stop_node(name)
        with self._http() as http:
            http.delete(f"/api/v1/nodes/{name}")
            http.delete(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}")
        nodes.save(self.layout.nodes_file, [n for n in self.nodes() if n.name != node.name])
        (self.layout.pids / f"{node.component}.pid").unlink(missing_ok=True)
