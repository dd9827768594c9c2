"""A small work queue: coalesced, per-object-serialized reconciles plus periodic resyncs.

Watch events (from kopf) call ``trigger``, or ``trigger_soon`` for events that come in bursts.
A burst of events for one object results in at most one running reconcile and one follow-up.
Each reconcile returns how long until it wants to run again; a single loop re-triggers objects
when that time has come.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (kind, namespace, name)
Reconciler = Callable[[str, str], Awaitable[float]]
ERROR_BACKOFF = 5.0


class WorkQueue:
    def __init__(self) -> None:
        self.reconcilers: dict[str, Reconciler] = {}
        self._dirty: set[Key] = set()
        self._running: dict[Key, asyncio.Task] = {}
        self._due: dict[Key, float] = {}
        self._soon: dict[Key, float] = {}  # triggers that wait for the rest of their burst
        self._on_error: Callable[[Key, BaseException], Awaitable[None]] | None = None
        self.runs: Counter[str] = Counter()  # reconciles made, by kind (the liveness probe reports them)

    def register(self, kind: str, reconciler: Reconciler) -> None:
        self.reconcilers[kind] = reconciler

    def on_error(self, callback: Callable[[Key, BaseException], Awaitable[None]]) -> None:
        self._on_error = callback

    def trigger(self, kind: str, namespace: str, name: str) -> None:
        key = (kind, namespace, name)
        self._dirty.add(key)
        if key not in self._running:
            self._running[key] = asyncio.get_running_loop().create_task(self._run(key))

    def trigger_soon(self, kind: str, namespace: str, name: str, delay: float = 0.5) -> None:
        """Trigger within ``delay`` seconds (and a resync tick): the events of a burst (a new
        pod going through its phases, a group's replicas counting up) are then taken together
        by one reconcile instead of one each, which leaves the event loop free for reconciles
        someone waits on (at 100 clusters, pod events were most of all reconciles)."""
        key = (kind, namespace, name)
        if key not in self._dirty:
            self._soon.setdefault(key, time.monotonic() + delay)

    def forget(self, kind: str, namespace: str, name: str) -> None:
        self._due.pop((kind, namespace, name), None)
        self._soon.pop((kind, namespace, name), None)

    def tracked(self) -> list[Key]:
        return list(self._due)

    def knows(self, key: Key) -> bool:
        """Whether the object is in the queue: due for a resync, or being reconciled (a first
        reconcile still running, under load, is not yet due)."""
        return key in self._due or key in self._running or key in self._dirty or key in self._soon

    async def run_now(self, kind: str, namespace: str, name: str) -> None:
        """Trigger and wait until the object has been reconciled at least once."""
        self.trigger(kind, namespace, name)
        task = self._running.get((kind, namespace, name))
        if task is not None:
            await asyncio.shield(task)

    async def _run(self, key: Key) -> None:
        kind, namespace, name = key
        try:
            while key in self._dirty:
                self._dirty.discard(key)
                self._soon.pop(key, None)  # this reconcile sees what that trigger was for
                self.runs[kind] += 1
                try:
                    wait = await self.reconcilers[kind](namespace, name)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.exception("reconcile of %s %s/%s failed", kind, namespace, name)
                    if self._on_error is not None:
                        try:
                            await self._on_error(key, exc)
                        except Exception:
                            logger.exception("error callback failed")
                    wait = ERROR_BACKOFF
                if wait is not None and wait < 0:
                    self._due.pop(key, None)
                else:
                    self._due[key] = time.monotonic() + (wait or ERROR_BACKOFF)
        finally:
            self._running.pop(key, None)

    def trigger_due(self, now: float) -> None:
        """Trigger what is due at ``now`` (``time.monotonic``): resyncs, and soon triggers
        whose burst is over."""
        for key, due in list(self._due.items()):
            if due <= now and key not in self._running:
                self.trigger(*key)
        for key, due in list(self._soon.items()):
            if due <= now:
                del self._soon[key]
                self.trigger(*key)

    async def resync_forever(self, tick: float = 0.5) -> None:
        while True:
            self.trigger_due(time.monotonic())
            await asyncio.sleep(tick)

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
