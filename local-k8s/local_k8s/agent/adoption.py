"""What a node agent writes about each pod it runs, so that an agent that restarts adopts the pod
(its containers go on running under their shims) instead of starting it again. Part of PodRunner
(podrunner.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .. import network
from .podstatus import ContainerState

STATE_FILE = "state.json"  # the pod as this node runs it, for an agent that restarts


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class AdoptionMixin:
    """Saves the pod's state on disk and restores it (PodRunner's part for it)."""

    def _save_state(self) -> None:
        """What a restarted agent needs to adopt this pod (written with every status change)."""
        if not self.dir.exists():
            return
        state = {"node": self.ctx.node_name, "ip": self.ip, "ip_taken": self._ip_taken, "netns": self.netns,
                 "sandbox_ready": self.sandbox_ready, "start_time": self.start_time, "initialized": self.initialized,
                 "transitions": self.transitions, "bins": {k: str(v) for k, v in self._bins.items()},
                 "volumes": {k: str(v) for k, v in self.volumes.paths.items()},
                 "init": [dataclasses.asdict(c) for c in self.init], "main": [dataclasses.asdict(c) for c in self.main]}
        tmp = self.dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.dir / STATE_FILE)

    def _restore(self, saved: dict[str, Any]) -> bool:
        """Take over a pod an earlier agent ran; False if there is not enough left to adopt."""
        names = [c["name"] for c in saved.get("main", [])]
        if not saved.get("initialized") or names != [c.name for c in self.main]:
            return False
        if saved.get("netns") and saved["netns"] not in network.list_pod_netns():
            return False
        self.ip, self.netns, self._ip_taken = saved["ip"], saved.get("netns"), bool(saved.get("ip_taken"))
        if self._ip_taken and self.ip:
            self.ctx.ips.claim(self.ip)
        self.sandbox_ready, self.start_time = saved["sandbox_ready"], saved["start_time"]
        self.initialized, self.transitions = True, saved["transitions"]
        self._bins = {k: Path(v) for k, v in saved.get("bins", {}).items()}
        self.volumes.paths = {k: Path(v) for k, v in saved.get("volumes", {}).items()}
        self.init = [ContainerState(**c) for c in saved["init"]]
        self.main = [ContainerState(**c) for c in saved["main"]]
        self._changed.set()
        return True
