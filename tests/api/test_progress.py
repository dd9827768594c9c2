"""Component states and their reasons, read from pod status and events, and their rendering."""

from __future__ import annotations

import io

from rich.console import Console

from dask_k8s_lab.progress import (
    ERROR,
    OK,
    PROGRESS,
    StartupDisplay,
    fatal_container_reason,
    pod_state,
    render_html,
    render_table,
    stuck_reasons,
    summarize,
)


def pod(name, component="worker", group="c-default", phase="Running", ready=True, containers=None, conditions=None):
    conds = conditions if conditions is not None else [{"type": "Ready", "status": "True" if ready else "False"}]
    labels = {"dask.org/cluster-name": "c", "dask.org/component": component}
    if component == "worker":
        labels["dask.org/workergroup-name"] = group
    return {
        "metadata": {"name": name, "labels": labels, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {},
        "status": {"phase": phase, "conditions": conds, "containerStatuses": containers or []},
    }


def crashloop(restarts=3, code=2):
    return [
        {
            "name": "scheduler",
            "restartCount": restarts,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s restarting failed container"}},
            "lastState": {"terminated": {"exitCode": code, "reason": "Error"}},
        }
    ]


def test_pod_states():
    assert pod_state(pod("w")) == ("Ready", OK, "")
    assert pod_state(pod("w", ready=False))[:2] == ("Starting", PROGRESS)
    unschedulable = pod(
        "w",
        phase="Pending",
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes: Insufficient memory."}],
    )
    assert pod_state(unschedulable) == ("Unschedulable", ERROR, "0/1 nodes: Insufficient memory.")
    state, level, reason = pod_state(pod("s", "scheduler", containers=crashloop()))
    assert (state, level) == ("CrashLoopBackOff", ERROR)
    assert "exit code 2" in reason and "3 restart(s)" in reason
    pulling = [{"name": "w", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "pull failed"}}}]
    assert pod_state(pod("w", phase="Pending", containers=pulling)) == ("ImagePullBackOff", PROGRESS, "pull failed")
    creating = [{"name": "w", "state": {"waiting": {"reason": "ContainerCreating"}}}]
    events = [
        {"involvedObject": {"name": "w"}, "type": "Warning", "reason": "FailedMount", "message": "no volume", "lastTimestamp": "2"},
        {"involvedObject": {"name": "w"}, "type": "Warning", "reason": "Old", "message": "older", "lastTimestamp": "1"},
        {"involvedObject": {"name": "other"}, "type": "Warning", "reason": "X", "message": "not ours", "lastTimestamp": "3"},
    ]
    assert pod_state(pod("w", phase="Pending", containers=creating, conditions=[]), events) == (
        "Pending",
        PROGRESS,
        "FailedMount: no volume",
    )


def test_summary_while_waiting_for_the_operator():
    states = summarize({"metadata": {"name": "c"}, "spec": {"worker": {"replicas": 2}}}, cluster_name="c")
    by_component = {s.component: s for s in states}
    assert by_component["DaskCluster"].state == "Waiting for operator"
    assert by_component["Scheduler"].state == "Not created"
    assert by_component["Service"].state == "Not created"
    assert by_component["Workers"].state == "0/2 ready"
    assert "DaskCluster c: Waiting for operator" in stuck_reasons(states)


def test_summary_reports_the_stuck_worker_and_the_crashing_scheduler():
    cluster = {"metadata": {"name": "c"}, "spec": {"worker": {"replicas": 2}}, "status": {"phase": "Pending"}}
    pods = [
        pod("c-scheduler", "scheduler", containers=crashloop()),
        pod("c-default-worker-a"),
        pod(
            "c-default-worker-b",
            phase="Pending",
            conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "no node"}],
        ),
        pod("c-gpu-worker-a", group="c-gpu"),
    ]
    svc = {"metadata": {"name": "c-scheduler"}, "spec": {"type": "ClusterIP", "clusterIP": "10.96.1.2"}}
    states = summarize(cluster, pods, svc)
    by_name = {(s.component, s.name): s for s in states}
    assert by_name[("Scheduler", "c-scheduler")].level == ERROR
    default = by_name[("Workers", "c-default")]
    assert default.state == "1/2 ready" and default.level == ERROR
    assert "c-default-worker-b: Unschedulable no node" == default.reason
    assert by_name[("Workers", "c-gpu")] .state == "1/1 ready"
    assert by_name[("Service", "c-scheduler")].reason == "ClusterIP 10.96.1.2"
    assert by_name[("DaskCluster", "c")].state == "Pending"


def test_error_phase_uses_status_message():
    cluster = {"metadata": {"name": "c"}, "status": {"phase": "Error", "message": "spec.worker.spec has no containers"}}
    (first, *_) = summarize(cluster)
    assert (first.state, first.level, first.reason) == ("Error", ERROR, "spec.worker.spec has no containers")


def test_html_is_escaped_and_complete():
    states = summarize({"metadata": {"name": "c"}, "status": {"phase": "Error", "message": "<script>x</script>"}})
    out = render_html(states, "Creating <c>")
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "Creating &lt;c&gt;" in out
    assert out.count("<tr>") == len(states) + 1


def test_rich_table_lists_every_component():
    states = summarize({"metadata": {"name": "c"}, "status": {"phase": "Running"}})
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(render_table(states))
    text = console.file.getvalue()
    for s in states:
        assert s.component in text and s.state in text


def test_line_mode_prints_only_changes(capsys):
    display = StartupDisplay("Creating c", mode="lines")
    waiting = summarize({"metadata": {"name": "c"}})
    display.update(waiting)
    display.update(waiting)
    first = capsys.readouterr().out
    assert first.count("Waiting for operator") == 1
    display.update(summarize({"metadata": {"name": "c"}, "status": {"phase": "Running"}}))
    assert "DaskCluster c: Running" in capsys.readouterr().out


def test_quiet_prints_nothing(capsys):
    display = StartupDisplay("x", quiet=True)
    display.update(summarize({"metadata": {"name": "c"}}))
    display.finish([])
    assert capsys.readouterr().out == ""


def test_fatal_scheduler_reasons():
    assert fatal_container_reason(pod("s", "scheduler", containers=crashloop())).startswith("CrashLoopBackOff")
    assert fatal_container_reason(pod("s", "scheduler", ready=False)) is None
    exited = [{"name": "s", "restartCount": 1, "state": {"terminated": {"exitCode": 1}}}]
    assert fatal_container_reason(pod("s", "scheduler", containers=exited)) == "exited with code 1"
    restarting = [
        {"name": "s", "restartCount": 2, "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 3}}}
    ]
    assert "last exit code 3" in fatal_container_reason(pod("s", "scheduler", containers=restarting))
    pulling = [{"name": "s", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]
    assert fatal_container_reason(pod("s", "scheduler", phase="Pending", containers=pulling)) is None


def test_notebook_mode_updates_one_output_in_place(monkeypatch):
    calls = []

    class Handle:
        def update(self, obj):
            calls.append(("update", obj.data))

    def fake_display(obj, display_id=None):
        calls.append(("display", obj.data, display_id))
        return Handle()

    monkeypatch.setattr("IPython.display.display", fake_display)
    display = StartupDisplay("Creating c", mode="notebook")
    display.update(summarize({"metadata": {"name": "c"}}))
    display.finish(summarize({"metadata": {"name": "c"}, "status": {"phase": "Running"}}), "c is running")
    assert [c[0] for c in calls] == ["display", "update"]
    assert calls[0][2] is True and "Waiting for operator" in calls[0][1]
    assert "c is running" in calls[1][1] and "Running" in calls[1][1]


def test_terminal_mode_draws_a_live_table():
    console = Console(file=io.StringIO(), force_terminal=True, width=160, color_system=None)
    display = StartupDisplay("Creating c", mode="terminal", console=console)
    display.update(summarize({"metadata": {"name": "c"}}))
    display.finish(summarize({"metadata": {"name": "c"}, "status": {"phase": "Running"}}), "c is running")
    text = console.file.getvalue()
    assert "Waiting for operator" in text and "c is running" in text
    assert display._live is None  # stopped


def test_crashing_pods_show_their_last_log_lines():
    pods = [pod("c-scheduler", "scheduler", containers=crashloop()), pod("c-default-worker-a")]
    states = summarize(
        {"metadata": {"name": "c"}, "status": {"phase": "Pending"}},
        pods,
        log_tails={"c-scheduler": "Error: No such command 'schmeduler'.", "c-default-worker-a": "fine"},
    )
    scheduler = next(s for s in states if s.component == "Scheduler")
    assert scheduler.reason.endswith("last log lines:\nError: No such command 'schmeduler'.")
    workers = next(s for s in states if s.component == "Workers")
    assert "fine" not in workers.reason  # healthy pods do not get log lines
