"""`python -m local_k8s.agent --state-dir DIR`: run the node agent until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from .. import network, nodes, settings
from . import node
from .imagestore import ImageStore
from .kube import Kube
from .kubelet_api import KubeletApi
from .podrunner import NodeContext
from .pods import MountpointRegistry, PodManager
from .scheduler import Scheduler
from .services import ServiceProxy


async def serve(state_dir: Path, node_name: str | None) -> None:
    layout = settings.Layout(state_dir)
    configs = nodes.load(layout.nodes_file)
    config = next((n for n in configs if n.name == node_name), None) if node_name else configs[0]
    if config is None:
        raise SystemExit(f"node {node_name} is not in {layout.nodes_file}")
    kube = await Kube.connect(str(layout.kubeconfig))
    mountpoints = MountpointRegistry(layout.root / "mountpoints.json")
    pods: PodManager | None = None
    proxy = ServiceProxy(kube, lambda: pods.refresh_hosts() if pods else None, listen=config.runs_cluster_services)
    ctx = NodeContext(kube=kube, root=layout.pods, ips=network.PodIPs(config.pod_cidr), hosts_for=proxy.hosts_for,
                      mountpoints=mountpoints.add, images=ImageStore(), node_name=config.name,
                      hollow_node=config.hollow)
    pods = PodManager(ctx)
    api = KubeletApi(pods)
    await api.start(settings.NODE_IP, config.kubelet_port, layout.pki / "kubelet.crt", layout.pki / "kubelet.key")
    await node.register(kube, config)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    work = [node.heartbeat(kube, config), proxy.run(), pods.run()]
    if config.runs_cluster_services:
        work.append(Scheduler(kube).run())
    tasks = [asyncio.create_task(t) for t in work]
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task is not stopper and task.exception():
            logging.error("agent task failed", exc_info=task.exception())
    for task in tasks:
        task.cancel()
    await pods.shutdown()
    proxy.close()
    await api.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local_k8s.agent")
    parser.add_argument("--state-dir", type=Path, default=settings.default_state_dir())
    parser.add_argument("--node", default=None, help="this agent's node in nodes.json (default: the first)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(serve(args.state_dir, args.node))


if __name__ == "__main__":
    main()
