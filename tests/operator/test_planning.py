"""Unit tests of the pure decisions: worker-group plans, status, autoscaling, idleness."""

from __future__ import annotations

import pytest

from dask_k8s_operator import planning
from dask_k8s_operator.builders import RETIRING_ANNOTATION, SPEC_HASH_ANNOTATION
from dask_k8s_operator.planning import PodSummary

H = "current"


def pod(name: str, *, ip: str | None = None, ready: bool = True, phase: str = "Running",
        hash_: str = H, created: str = "2026-01-01T00:00:00Z", **kw) -> PodSummary:
    return PodSummary(name=name, phase=phase, ready=ready, ip=ip or f"10.0.0.{name[-1]}",
                      spec_hash=hash_, created=created, **kw)


def connected(*pods: PodSummary, data: dict[str, int] | None = None) -> dict:
    data = data or {}
    workers = {f"tcp://{p.ip}:40000": {"metrics": {"managed_bytes": data.get(p.name, 0)}}
               for p in pods}
    return planning.connected_workers(pods, workers)


def test_summarize_pod_reads_status_and_annotations():
    summary = planning.summarize_pod({
        "metadata": {"name": "w1", "creationTimestamp": "2026-01-01T00:00:00Z",
                     "annotations": {SPEC_HASH_ANNOTATION: "h", RETIRING_ANNOTATION: "t"}},
        "status": {
            "phase": "Running", "podIP": "10.1.2.3",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{
                "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "boom"}},
                "lastState": {"terminated": {"exitCode": 3}},
            }],
        },
    })
    assert summary == PodSummary(
        name="w1", phase="Running", ready=True, ip="10.1.2.3", deleting=False, retiring=True,
        spec_hash="h", created="2026-01-01T00:00:00Z", waiting_reason="CrashLoopBackOff",
        waiting_message="boom", restarts=2, last_exit_code=3)
    assert not summary.live


def test_connected_workers_match_by_pod_ip_not_name():
    pods = [pod("w1", ip="10.0.0.1"), pod("w2", ip="10.0.0.2"), pod("w3", ip=None, ready=False)]
    result = planning.connected_workers(pods, {
        "tcp://10.0.0.2:3456": {"name": "same-name"},
        "tcp://10.0.0.9:3456": {"name": "same-name"},  # a worker of another group
    })
    assert result == {"w2": ("tcp://10.0.0.2:3456", {"name": "same-name"})}


def test_scale_up_from_zero_creates_all_at_once():
    plan = planning.plan_worker_group(5, [], H, connected())
    assert plan.create == 5 and plan.retire == [] and plan.delete == []


def test_scale_up_respects_batch_size():
    plan = planning.plan_worker_group(5, [pod("w1")], H, None, batch_size=2)
    assert plan.create == 2


def test_scale_down_retires_through_scheduler_the_workers_with_least_data():
    pods = [pod(f"w{i}") for i in range(1, 6)]
    conn = connected(*pods, data={"w1": 500, "w2": 10, "w3": 300, "w4": 0, "w5": 1000})
    plan = planning.plan_worker_group(3, pods, H, conn)
    assert sorted(plan.retire) == ["w2", "w4"]
    assert plan.delete == [] and plan.create == 0
    assert plan.replicas == 3


def test_scale_down_removes_unconnected_pods_first_without_retirement():
    pods = [pod("w1"), pod("w2"), pod("w3", ready=False)]
    conn = connected(pods[0], pods[1])
    plan = planning.plan_worker_group(2, pods, H, conn)
    assert plan.delete == ["w3"] and plan.retire == []


def test_scale_down_without_scheduler_marks_nothing_for_retirement():
    pods = [pod("w1"), pod("w2")]
    plan = planning.plan_worker_group(1, pods, H, None)
    assert plan.retire == [] and len(plan.delete) == 1


def test_finished_pods_are_deleted_and_replaced():
    pods = [pod("w1"), pod("w2", phase="Succeeded"), pod("w3", phase="Failed")]
    plan = planning.plan_worker_group(3, pods, H, connected(pods[0]))
    assert sorted(plan.delete) == ["w2", "w3"]
    assert plan.create == 2


def test_deleting_pods_are_ignored_and_replaced():
    pods = [pod("w1"), pod("w2", deleting=True)]
    plan = planning.plan_worker_group(2, pods, H, connected(pods[0]))
    assert plan.create == 1 and plan.delete == [] and plan.retire == []


def test_pods_marked_retiring_are_retired_again_and_not_counted():
    pods = [pod("w1"), pod("w2"), pod("w3", retiring=True)]
    plan = planning.plan_worker_group(2, pods, H, connected(*pods))
    assert plan.retire == ["w3"] and plan.create == 0 and plan.replicas == 2


def test_status_counts():
    pods = [pod("w1"), pod("w2"), pod("w3", ready=False, ip="10.9.9.9")]
    plan = planning.plan_worker_group(3, pods, H, connected(pods[0], pods[1]))
    assert (plan.replicas, plan.ready_replicas, plan.updated_replicas) == (3, 2, 3)


def simulate_rollout(desired: int, start: int) -> list[tuple[int, int]]:
    """Run the planner like the reconciler does until no outdated pod is left.

    New pods connect one step after they are created. Returns (live, ready) after each step.
    """
    pods = {f"o{i}": pod(f"o{i}", ip=f"10.1.0.{i}", hash_="old") for i in range(start)}
    ready = set(pods)
    history = []
    counter = 0
    for _ in range(50):
        summaries = list(pods.values())
        conn = connected(*[p for p in summaries if p.name in ready])
        plan = planning.plan_worker_group(desired, summaries, H, conn)
        ready |= set(pods)  # everything that existed before this step is now connected
        for name in plan.retire + plan.delete:
            pods.pop(name)
        for _ in range(plan.create):
            counter += 1
            pods[f"n{counter}"] = pod(f"n{counter}", ip=f"10.2.0.{counter}")
        history.append((len(pods), len([n for n in pods if n in ready])))
        if not any(p.spec_hash == "old" for p in pods.values()) and len(pods) == desired:
            return history
    raise AssertionError(f"rollout did not finish: {history}")


@pytest.mark.parametrize("desired", [1, 2, 4])
def test_rolling_update_replaces_one_at_a_time_and_keeps_capacity(desired):
    history = simulate_rollout(desired, desired)
    assert all(live <= desired + 1 for live, _ in history)  # surge of one
    assert all(ready >= desired for _, ready in history)  # never below desired connected
    assert history[-1][0] == desired


def test_rolling_update_plan_is_marked_rolling():
    pods = [pod("o1", hash_="old"), pod("o2", hash_="old")]
    plan = planning.plan_worker_group(2, pods, H, connected(*pods))
    assert plan.rolling and plan.create == 1 and plan.retire == []


def test_outdated_pods_go_when_enough_current_pods_exist():
    pods = [pod("o1", hash_="old"), pod("n2"), pod("n3")]
    plan = planning.plan_worker_group(2, pods, H, connected(*pods))
    assert plan.retire == ["o1"] and plan.create == 0


def test_fallback_removal_prefers_unready_then_newest():
    pods = [pod("w1", created="2026-01-01T00:00:01Z"), pod("w2", created="2026-01-01T00:00:03Z"),
            pod("w3", created="2026-01-01T00:00:02Z", ready=False)]
    assert planning.fallback_removal(pods, 2) == ["w3", "w2"]


@pytest.mark.parametrize(("cluster", "group", "synced", "expected"), [
    (2, 2, 2, 2),  # nothing moved
    (5, 2, 2, 5),  # kubectl scale daskcluster
    (2, 4, 2, 4),  # kubectl scale daskworkergroup / autoscaler
    (5, 4, 2, 5),  # both moved: the cluster wins
    (3, 1, None, 3),  # never synced
])
def test_sync_replicas(cluster, group, synced, expected):
    assert planning.sync_replicas(cluster, group, synced) == expected


def test_cluster_phase():
    assert planning.cluster_phase(None, False, False).phase == "Pending"
    starting = pod("s", ready=False)
    assert planning.cluster_phase(starting, True, False).reason == "SchedulerStarting"
    ready = pod("s")
    assert planning.cluster_phase(ready, False, True).reason == "ServiceMissing"
    assert planning.cluster_phase(ready, True, False).reason == "SchedulerNotAnswering"
    assert planning.cluster_phase(ready, True, True).phase == "Running"
    crash = pod("s", ready=False, waiting_reason="CrashLoopBackOff", waiting_message="back-off",
                last_exit_code=1)
    phase = planning.cluster_phase(crash, True, False)
    assert (phase.phase, phase.reason) == ("Error", "CrashLoopBackOff")
    assert "exit code 1" in phase.message
    failed = pod("s", phase="Failed", ready=False)
    assert planning.cluster_phase(failed, True, False).phase == "Error"


def test_job_status_from_runner():
    assert planning.job_status_from_runner("ClusterCreated", pod("r", phase="Pending")) is None
    assert planning.job_status_from_runner("ClusterCreated", pod("r")) == "Running"
    assert planning.job_status_from_runner("Running", pod("r")) is None
    assert planning.job_status_from_runner("Running", pod("r", phase="Succeeded")) == "Successful"
    assert planning.job_status_from_runner("ClusterCreated", pod("r", phase="Failed")) == "Failed"
    assert planning.job_status_from_runner("Successful", pod("r", phase="Failed")) is None


def decide(target, current, now=100.0, low_since=None, last_up=None, minimum=1, maximum=10):
    return planning.autoscale(target, current, minimum, maximum, now, low_since, last_up,
                              scale_down_delay=60, scale_up_cooldown=10)


def test_autoscale_clamps_to_minimum_and_maximum():
    assert decide(50, 2).replicas == 10
    assert decide(0, 0).replicas == 1


def test_autoscale_scale_up_is_prompt_but_rate_limited():
    assert decide(5, 2, now=100, last_up=95).replicas is None
    assert decide(5, 2, now=100, last_up=80).replicas == 5


def test_autoscale_scale_down_waits_for_a_sustained_low_target():
    first = decide(2, 5, now=100)
    assert first.replicas is None and first.low_since == 100
    assert decide(2, 5, now=130, low_since=100).replicas is None
    assert decide(2, 5, now=161, low_since=100).replicas == 2
    # the target recovering resets the timer: no thrashing
    assert decide(5, 5, now=140, low_since=100).low_since is None


def test_autoscale_target_for_a_named_group_excludes_other_groups():
    assert planning.group_target(6, 2) == 4
    assert planning.group_target(1, 2) == 0


def test_idle_expired():
    assert not planning.idle_expired(None, 1000, 10)  # busy
    assert not planning.idle_expired(995, 1000, 10)
    assert planning.idle_expired(985, 1000, 10)
    assert not planning.idle_expired(0, 1000, 0)  # disabled


def evicted(name: str, node: str, reason: str = "DeletionByTaintManager") -> dict:
    """A worker pod as the taint-based eviction leaves it when its node is lost."""
    return {
        "metadata": {"name": name, "deletionTimestamp": "2026-01-01T00:01:00Z"},
        "spec": {"nodeName": node},
        "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "DisruptionTarget", "status": "True", "reason": reason,
             "message": "Taint manager: deleting due to NoExecute taint"}]},
    }


def test_pods_lost_with_their_node_are_told_from_other_deletions():
    pods = [planning.summarize_pod(evicted("w1", "n2")),
            planning.summarize_pod(evicted("w0", "n2")),
            planning.summarize_pod(evicted("w3", "n3", reason="DeletionByPodGC")),
            planning.summarize_pod(evicted("w4", "n2", reason="PreemptionByScheduler")),
            pod("w5", deleting=True), pod("w6")]
    assert pods[0].node == "n2" and pods[0].disruption == "DeletionByTaintManager"
    assert planning.lost_with_nodes(pods) == {"n2": ["w0", "w1"], "n3": ["w3"]}
    # the replacements of lost pods are planned like those of any deleted pod
    assert planning.plan_worker_group(4, pods, H, None).create == 3


def test_lost_workers_are_reported_until_replaced():
    pods = [planning.summarize_pod(evicted("w1", "n2")), planning.summarize_pod(evicted("w2", "n2")),
            pod("w3")]
    message = planning.workers_lost_message(pods, desired=3, ready=1)
    assert message == "2 worker pod(s) were lost with node n2 (NotReady); replacing them"
    assert planning.is_workers_lost(message)
    assert planning.workers_lost_message(pods, desired=3, ready=3) == (
        "2 worker pod(s) were lost with node n2 (NotReady); replaced")
    assert planning.workers_lost_message([pod("w3"), pod("w4", deleting=True)], 3, 1) is None
    assert not planning.is_workers_lost("rolling update in progress")
    assert not planning.is_workers_lost(None)


def test_a_worker_group_message_says_the_most_pressing_thing():
    replacing = "1 worker pod(s) were lost with node n2 (NotReady); replacing them"
    replaced = "1 worker pod(s) were lost with node n2 (NotReady); replaced"

    def message(deferred=False, lost=None, rolling=False, unreachable=None):
        return planning.worker_group_message(deferred=deferred, lost=lost, rolling=rolling,
                                             unreachable=unreachable)

    assert message() == ""
    assert message(deferred=True, lost=replacing).startswith("waiting for the scheduler")
    assert message(lost=replacing, rolling=True, unreachable="down") == replacing
    assert message(lost=replaced, rolling=True) == "rolling update in progress"
    assert message(lost=replaced, unreachable="down").startswith("scheduler unreachable (down)")
    assert message(lost=replaced) == replaced
