"""What each part of a Dask cluster is doing, and why it is stuck — plus how to show it.

``summarize`` is pure: it turns the DaskCluster, its pods, its scheduler Service and recent
events (plain dicts, as the API returns them) into one :class:`ComponentState` per component.
``render_table`` / ``render_html`` draw those states for terminals (rich) and notebooks, and
:class:`StartupDisplay` keeps a live view updated while a cluster starts.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dask_k8s_common.contract import (
    COMPONENT_SCHEDULER,
    COMPONENT_WORKER,
    FATAL_WAITING_REASONS,
    IMAGE_PULL_REASONS,
    scheduler_name,
)

from .specs import CLUSTER_LABEL, COMPONENT_LABEL, WORKERGROUP_LABEL

OK, PROGRESS, ERROR = "ok", "progress", "error"

#: Waiting reasons that may clear by themselves but deserve to be shown.
SLOW_WAITING_REASONS = IMAGE_PULL_REASONS


@dataclass(frozen=True)
class ComponentState:
    component: str
    name: str
    state: str
    level: str = PROGRESS
    reason: str = ""


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _name(obj: Mapping[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def latest_warning(events: Iterable[Mapping[str, Any]], object_name: str) -> str:
    """The newest Warning event message about ``object_name``, if any."""
    best: tuple[str, str] | None = None
    for event in events:
        involved = event.get("involvedObject") or event.get("regarding") or {}
        if involved.get("name") != object_name or event.get("type") != "Warning":
            continue
        when = event.get("lastTimestamp") or event.get("eventTime") or (event.get("metadata") or {}).get("creationTimestamp") or ""
        text = f"{event.get('reason', '')}: {event.get('message') or event.get('note') or ''}".strip(": ")
        if best is None or when >= best[0]:
            best = (when, text)
    return best[1] if best else ""


def pod_state(pod: Mapping[str, Any], events: Iterable[Mapping[str, Any]] = ()) -> tuple[str, str, str]:
    """``(state, level, reason)`` of one pod, from its status and events."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating", PROGRESS, ""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return cond.get("reason") or "Unschedulable", ERROR, cond.get("message") or ""
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        waiting = state.get("waiting")
        if waiting and waiting.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
            reason = waiting["reason"]
            detail = waiting.get("message") or ""
            last = ((cs.get("lastState") or {}).get("terminated")) or {}
            if last:
                detail = (detail + " " if detail else "") + _termination_text(last, cs.get("restartCount", 0))
            level = ERROR if reason in FATAL_WAITING_REASONS else PROGRESS
            return reason, level, detail
        terminated = state.get("terminated")
        if terminated and terminated.get("exitCode", 0) != 0:
            return "Failed", ERROR, _termination_text(terminated, cs.get("restartCount", 0))
    if phase == "Failed":
        return "Failed", ERROR, status.get("message") or status.get("reason") or ""
    if phase == "Succeeded":
        return "Completed", ERROR, "the process exited"
    if phase == "Running":
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        restarts = sum(cs.get("restartCount", 0) for cs in status.get("containerStatuses") or [])
        detail = f"restarted {restarts} time(s)" if restarts else ""
        return ("Ready", OK, detail) if ready else ("Starting", PROGRESS, detail or "waiting for readiness")
    return phase, PROGRESS, latest_warning(events, _name(pod))


def fatal_container_reason(pod: Mapping[str, Any]) -> str | None:
    """Why a pod's container cannot start (crash loop, bad config, failed exit), if it clearly cannot."""
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        terminated = (cs.get("state") or {}).get("terminated") or {}
        if waiting.get("reason") in FATAL_WAITING_REASONS:
            return f"{waiting['reason']}, exit code {last.get('exitCode', '?')}"
        if terminated and terminated.get("exitCode", 0) != 0 and (
            cs.get("restartCount", 0) >= 1 or (pod.get("spec") or {}).get("restartPolicy") == "Never"
        ):
            return f"exited with code {terminated['exitCode']}"
        if last and last.get("exitCode", 0) != 0 and cs.get("restartCount", 0) >= 2:
            return f"restarted {cs['restartCount']} times, last exit code {last['exitCode']}"
    if status.get("phase") == "Failed":
        return status.get("reason") or "pod failed"
    return None


def _termination_text(terminated: Mapping[str, Any], restarts: int) -> str:
    parts = [f"exit code {terminated.get('exitCode')}"]
    if terminated.get("reason"):
        parts.append(str(terminated["reason"]))
    if restarts:
        parts.append(f"{restarts} restart(s)")
    text = ", ".join(parts)
    if terminated.get("message"):
        text += f": {terminated['message']}"
    return f"last run ended with {text}"


def summarize(
    cluster: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]] = (),
    service: Mapping[str, Any] | None = None,
    events: Sequence[Mapping[str, Any]] = (),
    *,
    cluster_name: str = "",
    connection: str = "",
    log_tails: Mapping[str, str] | None = None,
) -> list[ComponentState]:
    """One state per component: the DaskCluster, scheduler pod, scheduler Service, worker groups.

    ``log_tails`` maps pod names to their last log lines, shown for pods in an error state.
    """
    tails = log_tails or {}

    def with_tail(pod: Mapping[str, Any], state: tuple[str, str, str]) -> tuple[str, str, str]:
        tail = tails.get(_name(pod), "").strip()
        if state[1] == ERROR and tail:
            return state[0], state[1], f"{state[2]}\nlast log lines:\n{tail}".strip()
        return state

    name = _name(cluster) if cluster else cluster_name
    states: list[ComponentState] = []

    if cluster is None:
        states.append(ComponentState("DaskCluster", name, "Not found", ERROR, "the resource does not exist"))
    else:
        status = cluster.get("status") or {}
        phase = status.get("phase")
        if not phase:
            states.append(ComponentState("DaskCluster", name, "Waiting for operator", PROGRESS, "no status yet"))
        else:
            level = {"Running": OK, "Error": ERROR}.get(phase, PROGRESS)
            reason = status.get("message") or status.get("reason") or ""
            if level != OK and not reason:
                reason = latest_warning(events, name)
            states.append(ComponentState("DaskCluster", name, phase, level, reason))

    schedulers = [p for p in pods if _labels(p).get(COMPONENT_LABEL) == COMPONENT_SCHEDULER]
    if schedulers:
        pod = max(schedulers, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")
        state, level, reason = with_tail(pod, pod_state(pod, events))
        states.append(ComponentState("Scheduler", _name(pod), state, level, reason))
    else:
        states.append(ComponentState("Scheduler", scheduler_name(name), "Not created", PROGRESS, ""))

    if service is None:
        states.append(ComponentState("Service", scheduler_name(name), "Not created", PROGRESS, ""))
    else:
        spec = service.get("spec") or {}
        svc_type = spec.get("type", "ClusterIP")
        detail = connection or f"{svc_type} {spec.get('clusterIP', '')}".strip()
        pending_lb = svc_type == "LoadBalancer" and not ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        states.append(
            ComponentState(
                "Service",
                _name(service),
                "Waiting for load balancer" if pending_lb else "Ready",
                PROGRESS if pending_lb else OK,
                detail,
            )
        )

    groups: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        labels = _labels(pod)
        if labels.get(COMPONENT_LABEL) == COMPONENT_WORKER:
            groups.setdefault(labels.get(WORKERGROUP_LABEL, "workers"), []).append(pod)
    default_group = f"{name}-default"
    desired = ((cluster or {}).get("spec") or {}).get("worker", {}).get("replicas")
    if default_group not in groups and desired:
        groups[default_group] = []
    for group, members in sorted(groups.items()):
        ready = 0
        problem: tuple[str, str, str] | None = None
        for pod in members:
            state, level, reason = with_tail(pod, pod_state(pod, events))
            if level == OK:
                ready += 1
            elif problem is None or (level == ERROR and problem[1] != ERROR):
                problem = (f"{_name(pod)}: {state}", level, reason)
        total = desired if group == default_group and desired is not None else len(members)
        text = f"{ready}/{total} ready"
        if problem:
            states.append(ComponentState("Workers", group, text, problem[1], f"{problem[0]} {problem[2]}".strip()))
        else:
            states.append(ComponentState("Workers", group, text, OK if ready >= total else PROGRESS, ""))
    return states


def is_cluster_pod(pod: Mapping[str, Any], cluster_name: str) -> bool:
    return _labels(pod).get(CLUSTER_LABEL) == cluster_name


def stuck_reasons(states: Sequence[ComponentState]) -> str:
    """A one-line summary of every component that is not OK, for error messages."""
    parts = [f"{s.component} {s.name}: {s.state}" + (f" ({s.reason})" if s.reason else "") for s in states if s.level != OK]
    return "; ".join(parts) if parts else "all components report ready"


_LEVEL_STYLE = {OK: "green", PROGRESS: "yellow", ERROR: "bold red"}
_LEVEL_COLOR = {OK: "#2e7d32", PROGRESS: "#b26a00", ERROR: "#c62828"}
_LEVEL_ICON = {OK: "✔", PROGRESS: "…", ERROR: "✖"}


def render_table(states: Sequence[ComponentState], title: str = "") -> Any:
    """A rich Table of the component states."""
    from rich.table import Table

    table = Table(title=title or None, expand=False)
    for col in ("Component", "Name", "State", "Detail"):
        table.add_column(col, overflow="fold")
    for s in states:
        style = _LEVEL_STYLE[s.level]
        table.add_row(s.component, s.name, f"[{style}]{_LEVEL_ICON[s.level]} {s.state}[/{style}]", s.reason)
    return table


def render_html(states: Sequence[ComponentState], title: str = "") -> str:
    """An HTML table of the component states (self-contained, escaped)."""
    esc = html.escape
    rows = "".join(
        "<tr>"
        f"<td style='text-align:left'>{esc(s.component)}</td>"
        f"<td style='text-align:left'><code>{esc(s.name)}</code></td>"
        f"<td style='text-align:left;color:{_LEVEL_COLOR[s.level]}'>{_LEVEL_ICON[s.level]} {esc(s.state)}</td>"
        f"<td style='text-align:left;white-space:pre-wrap'>{esc(s.reason)}</td>"
        "</tr>"
        for s in states
    )
    caption = f"<caption style='text-align:left'><strong>{esc(title)}</strong></caption>" if title else ""
    return (
        "<table class='dask-k8s-lab-components' style='text-align:left'>"
        f"{caption}<tr><th>Component</th><th>Name</th><th>State</th><th>Detail</th></tr>{rows}</table>"
    )


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where HTML output is rendered)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and hasattr(shell, "kernel")


class StartupDisplay:
    """A live view of component states: rich Live in a terminal, an updating HTML output in a
    notebook, and one line per state change otherwise. Nothing at all when ``quiet``."""

    def __init__(self, title: str, quiet: bool = False, mode: str | None = None, console: Any = None):
        self.title = title
        self.mode = "quiet" if quiet else (mode or self._detect_mode())
        self.console = console
        self._live: Any = None
        self._handle: Any = None
        self._last: dict[tuple[str, str], tuple[str, str]] = {}

    @staticmethod
    def _detect_mode() -> str:
        if in_notebook():
            return "notebook"
        if sys.stdout.isatty():
            return "terminal"
        return "lines"

    def update(self, states: Sequence[ComponentState]) -> None:
        if self.mode == "terminal":
            from rich.console import Group
            from rich.live import Live
            from rich.spinner import Spinner

            view = Group(Spinner("dots", text=self.title), render_table(states))
            if self._live is None:
                self._live = Live(view, refresh_per_second=4, transient=False, console=self.console)
                self._live.start(refresh=True)
            else:
                self._live.update(view, refresh=True)
        elif self.mode == "notebook":
            from IPython.display import HTML, display

            content = HTML(render_html(states, self.title))
            if self._handle is None:
                self._handle = display(content, display_id=True)
            else:
                self._handle.update(content)
        elif self.mode == "lines":
            for s in states:
                key = (s.component, s.name)
                value = (s.state, s.reason)
                if self._last.get(key) != value:
                    self._last[key] = value
                    detail = f" — {s.reason}" if s.reason else ""
                    print(f"[{self.title}] {s.component} {s.name}: {s.state}{detail}", flush=True)

    def finish(self, states: Sequence[ComponentState], title: str | None = None) -> None:
        if title:
            self.title = title
        if self.mode == "terminal" and self._live is not None:
            self._live.update(render_table(states, self.title), refresh=True)
            self._live.stop()
            self._live = None
        elif self.mode != "quiet":
            self.update(states)
