"""Runs a PodRunner for every pod bound to this node, following the API server's view."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from .. import network
from .adoption import STATE_FILE, read_json
from .hollow import HollowPod, is_hollow
from .podbase import NodeContext
from .podrunner import PodRunner
from .shims import is_shim, signal_group

log = logging.getLogger(__name__)


class PodManager:
    def __init__(self, ctx: NodeContext, on_event: Callable[[str, dict], None] = lambda kind, pod: None) -> None:
        self.ctx = ctx
        self.on_event = on_event  # others that follow this node's pods (the scheduler) share this watch
        self.runners: dict[str, PodRunner | HollowPod] = {}
        self.tasks: dict[str, asyncio.Task] = {}

    def find(self, namespace: str, name: str) -> PodRunner | HollowPod | None:
        for runner in self.runners.values():
            if runner.namespace == namespace and runner.name == name:
                return runner
        return None

    async def run(self) -> None:
        await self._collect_orphans()
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

    async def _collect_orphans(self) -> None:
        """Pods this node ran that were deleted while no agent watched (the agent restarted):
        stop what is left of them. Pods still in the API are adopted by their runners."""
        node = self.ctx.node_name
        while True:
            try:
                listing = await self.ctx.kube.get("/api/v1/pods", fieldSelector=f"spec.nodeName={node}")
                break
            except Exception as e:  # the API server may be restarting too
                log.warning("listing this node's pods failed (%s); retrying", e)
                await asyncio.sleep(1)
        live = {p["metadata"]["uid"] for p in listing.get("items", [])}
        if not self.ctx.root.is_dir():
            return
        for folder in self.ctx.root.iterdir():
            saved = read_json(folder / STATE_FILE)
            if not saved or saved.get("node") != node or folder.name in live:
                continue
            log.info("pod %s was deleted while the agent was away; stopping what is left", folder.name)
            for container in saved.get("main", []) + saved.get("init", []):
                if is_shim(container.get("pid"), folder / f"{container['name']}.launch.json"):
                    signal_group(container["pid"], signal.SIGKILL)
            if saved.get("netns"):
                await asyncio.to_thread(network.delete_pod_netns, folder.name)
            shutil.rmtree(folder, ignore_errors=True)

    def _start(self, pod: dict) -> None:
        hollow = is_hollow(pod, self.ctx.hollow_node)
        runner = HollowPod(self.ctx, pod) if hollow else PodRunner(self.ctx, pod)
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
