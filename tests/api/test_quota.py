"""Unit tests of the quota arithmetic (pure: no cluster)."""

from __future__ import annotations

from decimal import Decimal

from dask_k8s_lab import quota
from dask_k8s_lab.specs import make_cluster_spec


def _quota(hard: dict, used: dict | None = None, name: str = "compute") -> dict:
    return {"metadata": {"name": name}, "spec": {"hard": hard},
            "status": {"hard": hard, "used": used or {k: "0" for k in hard}}}


LIMIT_RANGE = {"spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "512Mi"},
                                    "defaultRequest": {"cpu": "250m"}}]}}


def test_quantities_and_how_they_are_shown():
    assert quota.quantity("500m") == Decimal("0.5")
    assert quota.quantity("2Gi") == 2 * 2**30
    assert quota.quantity(4) == 4
    assert quota.quantity("nonsense") == 0
    assert quota.show("requests.cpu", Decimal("4.5")) == "4.5"
    assert quota.show("cpu", Decimal("2")) == "2"
    assert quota.show("requests.memory", Decimal(3 * 2**30)) == "3Gi"
    assert quota.show("memory", Decimal(512 * 2**20)) == "512Mi"
    assert quota.show("pods", Decimal(5)) == "5"


def test_limit_range_defaults_apply_as_the_api_server_does():
    pod = {"containers": [{"name": "a"}, {"name": "b", "resources": {"limits": {"cpu": "2"}}}]}
    amounts = quota.pod_amounts(pod, [LIMIT_RANGE])
    assert amounts["requests.cpu"] == Decimal("0.25") + 2  # defaultRequest; a limit alone is the request
    assert amounts["limits.cpu"] == Decimal("0.5") + 2
    assert amounts["requests.memory"] == 2 * 512 * 2**20  # no defaultRequest: the default limit
    assert amounts["pods"] == 1


def test_init_containers_count_when_larger():
    pod = {"containers": [{"resources": {"requests": {"cpu": "1"}}}],
           "initContainers": [{"resources": {"requests": {"cpu": "3"}}}]}
    assert quota.pod_amounts(pod)["requests.cpu"] == 3


def test_cluster_adds_scheduler_and_workers_times_requests():
    manifest = make_cluster_spec(name="c", n_workers=4, resources={"requests": {"cpu": "1", "memory": "1Gi"}})
    adds = quota.cluster_amounts(manifest)
    assert adds["requests.cpu"] == 5  # scheduler + 4 workers
    assert adds["pods"] == 5
    assert adds[quota.DASKCLUSTER_COUNT] == 1 and adds["services"] == 1


def test_four_workers_of_one_cpu_do_not_fit_two_cpu():
    manifest = make_cluster_spec(name="c", n_workers=4, resources={"requests": {"cpu": "1", "memory": "1Gi"}})
    found = quota.rows([_quota({"requests.cpu": "2", "pods": "10"}, {"requests.cpu": "500m", "pods": "1"})],
                       quota.cluster_amounts(manifest))
    assert [(r.resource, r.fits) for r in found] == [("requests.cpu", False), ("pods", True)]
    message = quota.refusal("team-a", found, "DaskCluster 'c'")
    assert message.startswith("DaskCluster 'c' does not fit the quota of namespace 'team-a': ")
    assert "requests.cpu would be 5.5 of 2 (used 0.5 + 5 for this) in ResourceQuota 'compute'" in message
    assert "pods" not in message


def test_what_fits_is_not_refused_and_aliases_count():
    manifest = make_cluster_spec(name="c", n_workers=1, resources={"requests": {"cpu": "500m", "memory": "1Gi"}})
    found = quota.rows([_quota({"cpu": "2", "memory": "4Gi"})], quota.cluster_amounts(manifest))
    assert [(r.resource, r.adds) for r in found] == [("cpu", 1), ("memory", 2 * 2**30)]
    assert quota.refusal("ns", found, "it") is None
    assert found[0].to_json() == {"quota": "compute", "resource": "cpu", "used": "0", "hard": "2", "adds": "1",
                                  "fits": True}


def test_scaling_up_adds_only_the_new_workers():
    worker = {"replicas": 1, "spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}}
    assert quota.worker_amounts(worker, 3)["requests.cpu"] == 3
    assert quota.worker_amounts(worker, -2) == {}
    found = quota.rows([_quota({"requests.cpu": "2"}, {"requests.cpu": "2"})], quota.worker_amounts(worker, 3))
    assert "requests.cpu would be 5 of 2 (used 2 + 3 for this)" in quota.refusal("ns", found, "Scaling to 4")


def test_quota_on_requests_needs_them_set():
    pod = {"containers": [{"name": "worker"}]}
    assert quota.unset_resources(pod, [], ["requests.cpu", "pods", "memory"]) == ["requests.cpu", "requests.memory"]
    assert quota.unset_resources(pod, [LIMIT_RANGE], ["requests.cpu", "memory"]) == []
    assert "sets no requests.cpu" in quota.missing_refusal("ns", ["requests.cpu"], "worker")


def test_limit_range_summary():
    assert quota.limit_range_summary([LIMIT_RANGE]) == {
        "default_requests": {"cpu": "250m", "memory": "512Mi"},
        "default_limits": {"cpu": "500m", "memory": "512Mi"},
    }
