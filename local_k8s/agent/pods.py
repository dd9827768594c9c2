"""Runs a PodRunner for every pod bound to this node, following the API server's view."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

from .. import network
from .podrunner import NodeContext, PodRunner

log = logging.getLogger(__name__)


class PodManager:
    def __init__(self, ctx: NodeContext, on_event: Callable[[str, dict], None] = lambda kind, pod: None) -> None:
        self.ctx = ctx
        self.on_event = on_event  # others that follow this node's pods (the scheduler) share this watch
        self.runners: dict[str, PodRunner] = {}
        self.tasks: dict[str, asyncio.Task] = {}

    def find(self, namespace: str, name: str) -> PodRunner | None:
        for runner in self.runners.values():
            if runner.namespace == namespace and runner.name == name:
                return runner
        return None

    async def run(self) -> None:
        path = "/api/v1/pods"
        async for kind, pod in self.ctx.kube.watch(path, fieldSelector=f"spec.nodeName={self.ctx.node_name}"):
            self.on_event(kind, pod)
            uid = pod["metadata"]["uid"]
            runner = self.runners.get(uid)
            if kind == "DELETED":
                if runner:
                    runner.removed()
            elif runner:
                runner.update(pod)
            elif pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                self._start(pod)

    def _start(self, pod: dict) -> None:
        runner = PodRunner(self.ctx, pod)
        uid = runner.uid
        self.runners[uid] = runner
        if pod["metadata"].get("deletionTimestamp"):
            runner.deleting.set()

        async def run() -> None:
            try:
                await runner.run()
            except Exception:
                log.exception("pod %s/%s failed in the agent", runner.namespace, runner.name)
            finally:
                self.runners.pop(uid, None)
                self.tasks.pop(uid, None)

        self.tasks[uid] = asyncio.create_task(run())

    def refresh_hosts(self) -> None:
        for runner in self.runners.values():
            runner.refresh_hosts()

    async def shutdown(self) -> None:
        mine = {network.netns_name(uid) for uid in self.runners}  # other nodes' pods share the host
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*(r.kill_now() for r in list(self.runners.values())), return_exceptions=True)
        # A runner cancelled half-way through its set-up may have left a namespace behind.
        for ns in set(network.list_pod_netns()) & mine:
            await asyncio.to_thread(network.delete_netns, ns)


class MountpointRegistry:
    """Host folders made as mount targets, so `down` can remove them again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.known: set[str] = set(json.loads(path.read_text())) if path.exists() else set()

    def add(self, targets: list[str]) -> None:
        new = {t for t in targets if t not in self.known and not Path(t).exists()}
        # Record every missing ancestor too: they are created along with the target.
        for target in list(new):
            parent = Path(target).parent
            while not parent.exists():
                new.add(str(parent))
                parent = parent.parent
        if new:
            self.known |= new
            self.path.write_text(json.dumps(sorted(self.known)))
