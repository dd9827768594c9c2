"""Removing workers through the scheduler, beside the reconciles.

The scheduler may take minutes to move a worker's data, so a retirement runs as its own task (a
scale-up is not held up), and the next reconciles leave its pods alone instead of asking the
scheduler a second time. A pod is marked as retiring first, so that a restarted operator finishes
the job instead of counting the pod as live.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from kr8s.asyncio.objects import Pod

from .. import builders, events, kube, planning, scheduler_api
from .children import delete_pods
from .status import now_iso

logger = logging.getLogger(__name__)

# how long ready workers wait for an unreachable scheduler before they go without retirement
FALLBACK_GRACE = float(os.environ.get("DASK_K8S_OPERATOR_RETIRE_FALLBACK_SECONDS", "30"))


@dataclass
class Retirement:
    pods: frozenset[str]
    task: asyncio.Task


# (namespace, group) -> the retirement running for that group
RUNNING: dict[tuple[str, str], Retirement] = {}
# (namespace, group) -> since when (monotonic) ready workers wait for an unreachable scheduler
UNREACHABLE_SINCE: dict[tuple[str, str], float] = {}


def in_flight(namespace: str, group: str) -> frozenset[str]:
    """The pods whose retirement is running for this group (empty if none)."""
    retirement = RUNNING.get((namespace, group))
    if retirement is None:
        return frozenset()
    if retirement.task.done():
        del RUNNING[(namespace, group)]
        return frozenset()
    return retirement.pods


async def start(group: Any, url: str | None, connected: dict[str, tuple[str, Any]],
                names: list[str], raw_pods: dict[str, dict]) -> None:
    """Mark these pods as retiring, then retire them in the background (``_retire``)."""
    body = group.raw
    namespace = body["metadata"]["namespace"]
    for pod_name in names:
        annotations = raw_pods.get(pod_name, {}).get("metadata", {}).get("annotations") or {}
        if builders.RETIRING_ANNOTATION not in annotations:
            pod = kube.ref(Pod, pod_name, namespace)
            try:
                await kube.patch(pod, {"metadata": {"annotations": {
                    builders.RETIRING_ANNOTATION: now_iso()}}})
            except Exception as exc:
                logger.info("could not mark %s as retiring: %s", pod_name, exc)
    addresses = {connected[n][0]: n for n in names if n in connected}
    await events.post(body, "RetiringWorkers",
                      f"retiring {len(names)} worker(s) through the scheduler: "
                      + ", ".join(sorted(names)))
    key = (namespace, body["metadata"]["name"])
    task = asyncio.get_running_loop().create_task(_retire(body, url, addresses, names))
    retirement = RUNNING[key] = Retirement(frozenset(names), task)
    task.add_done_callback(
        lambda _: RUNNING.pop(key) if RUNNING.get(key) is retirement else None)


async def _retire(body: dict[str, Any], url: str | None, addresses: dict[str, str],
                  names: list[str]) -> None:
    """Retire the workers through the scheduler, then delete the pods it retired.

    If the scheduler cannot retire them (unreachable, an error, an unexpected answer), the pods
    are deleted without retirement, gracefully (their terminationGracePeriodSeconds is honoured),
    and that is reported as a warning.
    """
    namespace = body["metadata"]["namespace"]
    try:
        if url is None:
            await fallback_delete(body, names, "no scheduler address")
            return
        try:
            retired = await scheduler_api.retire_workers(url, list(addresses))
        except scheduler_api.SchedulerUnreachable as exc:
            await fallback_delete(body, names, str(exc))
            return
        done = [addresses[a] for a in retired if a in addresses]
        kept = sorted(set(names) - set(done))
        await delete_pods(namespace, done)
        if done:
            await events.post(body, "RetiredWorkers",
                              f"retired {len(done)} worker(s), their data moved to other workers")
        if kept:
            await events.post(body, "RetireIncomplete",
                              f"the scheduler did not retire {', '.join(kept)} yet (their data "
                              "could not be moved); will try again", warning=True)
    except asyncio.CancelledError:
        raise
    except Exception:  # the pods stay marked: the next reconcile retires them again
        logger.exception("retirement in %s/%s failed", namespace, body["metadata"]["name"])


async def fallback_delete(body: dict[str, Any], names: list[str], why: str) -> None:
    """Delete worker pods without retirement. The deletion is graceful: no grace period is
    given, so each pod's terminationGracePeriodSeconds applies (the worker gets SIGTERM and
    time to finish)."""
    message = (f"scheduler unreachable ({why}); deleting {len(names)} worker pod(s) without "
               "retirement, gracefully; data on them may be recomputed")
    logger.warning("worker group %s: %s", body["metadata"]["name"], message)
    await events.post(body, "RetireFallback", message, warning=True)
    await delete_pods(body["metadata"]["namespace"], names)


async def without_scheduler(body: dict[str, Any], delete: list[str],
                            pods: list[planning.PodSummary]) -> tuple[list[str], bool]:
    """What of ``delete`` may go now that the scheduler cannot tell which workers hold data.

    Pods that are not ready hold none and go at once; ready ones wait for the scheduler for
    ``FALLBACK_GRACE`` seconds, and only then are deleted without retirement (reported as a
    warning). Returns (the pods to delete now, whether some were held back).
    """
    key = (body["metadata"]["namespace"], body["metadata"]["name"])
    summaries = {pod.name: pod for pod in pods}
    risky = [n for n in delete if summaries[n].ready and not summaries[n].finished]
    if not risky:
        return delete, False
    since = UNREACHABLE_SINCE.setdefault(key, time.monotonic())
    rest = [n for n in delete if n not in risky]
    if time.monotonic() - since < FALLBACK_GRACE:
        return rest, True
    await fallback_delete(body, risky, f"scheduler unreachable for {FALLBACK_GRACE:.0f}s")
    return rest, False


def scheduler_answered(namespace: str, group: str) -> None:
    UNREACHABLE_SINCE.pop((namespace, group), None)
