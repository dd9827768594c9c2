"""KubeCluster against the local Kubernetes and the operator."""

from __future__ import annotations

import asyncio
import time
import uuid

import kr8s
import pytest
from distributed import Client

from dask_k8s_lab import KubeCluster, SchedulerStartupError, make_cluster_spec, make_worker_spec
from tests.fixtures.kube import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def cluster_exists(name: str, namespace: str) -> bool:
    api = kr8s.api(namespace=namespace)
    return bool(list(api.get("daskclusters.kubernetes.dask.org", name, namespace=namespace)))


def cluster_gone(name: str, namespace: str, timeout: float = 60) -> bool:
    """True once the DaskCluster no longer exists (deletion may still be finishing)."""
    deadline = time.monotonic() + timeout
    while cluster_exists(name, namespace):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def test_create_compute_attach_and_close(operated_namespace):
    ns = operated_namespace
    name = unique("basic")
    cluster = KubeCluster(name=name, namespace=ns, n_workers=1, idle_timeout=3600, quiet=True)
    try:
        assert cluster.created and cluster.shutdown_on_close
        (resource,) = kr8s.get("daskclusters.kubernetes.dask.org", name, namespace=ns)
        assert resource.spec["idleTimeout"] == 3600
        assert resource.spec["worker"]["replicas"] == 1
        assert cluster.comm_endpoint.mode == "cluster-ip"  # ClusterIPs are routable here
        with Client(cluster) as client:
            assert client.submit(lambda x: x + 1, 10).result() == 11
        assert cluster.dashboard_link.startswith("http://")

        attached = KubeCluster.from_name(name, namespace=ns, quiet=True)
        assert not attached.created and attached.shutdown_on_close is False
        assert attached == cluster
        attached.close()
        assert cluster_exists(name, ns), "closing an attached KubeCluster deleted the cluster"
        with Client(cluster) as client:
            assert client.submit(lambda: 42).result() == 42
    finally:
        cluster.close()
    assert cluster_gone(name, ns)


async def test_async_cluster_scales_and_keeps_results(operated_namespace):
    ns = operated_namespace
    async with KubeCluster(name=unique("scale"), namespace=ns, n_workers=1, asynchronous=True, quiet=True) as cluster:
        async with Client(cluster, asynchronous=True) as client:
            await cluster.scale(4)
            await client.wait_for_workers(4, timeout=120)
            futures = client.map(lambda i: bytes(1000) * i, range(40))
            await client.gather(futures)
            holders = {w for ws in (await client.who_has(futures)).values() for w in ws}
            assert len(holders) > 1
            await cluster.scale(1)
            deadline = time.monotonic() + 120
            while len(client.scheduler_info()["workers"]) > 1:
                assert time.monotonic() < deadline, "scale-down to 1 did not finish"
                await asyncio.sleep(0.5)
            results = await client.gather(futures)
            assert [len(r) for r in results] == [1000 * i for i in range(40)]


def test_worker_groups_and_logs(operated_namespace):
    ns = operated_namespace
    with KubeCluster(name=unique("groups"), namespace=ns, n_workers=1, quiet=True) as cluster:
        cluster.add_worker_group("extra", n=1)  # the documented example's spelling
        cluster.wait_for_workers(2, timeout=120)
        cluster.scale(2, worker_group="extra")
        cluster.wait_for_workers(3, timeout=120)
        cluster.scale(1, worker_group="extra")
        with pytest.raises(ValueError, match="worker_group='nope' does not exist"):
            cluster.scale(1, worker_group="nope")
        with Client(cluster) as client:
            assert sum(client.gather(client.map(lambda x: x * 2, range(10)))) == 90
            logs = cluster.get_logs()
            scheduler_logs = [text for pod, text in logs.items() if "scheduler" in pod]
            worker_logs = [pod for pod in logs if "worker" in pod]
            assert scheduler_logs and "Scheduler at" in scheduler_logs[0]
            assert len(worker_logs) >= 2
            cluster.delete_worker_group("extra")
            deadline = time.monotonic() + 120
            while len(client.scheduler_info()["workers"]) != 1:
                assert time.monotonic() < deadline, "deleting the worker group left its worker"
                time.sleep(0.5)
        # The documented custom_spec example, which names no group.
        cluster.add_worker_group(custom_spec=make_worker_spec(cluster_name=cluster.name, n_workers=1))
        cluster.wait_for_workers(2, timeout=120)


def test_adapt_grows_under_load_and_shrinks_when_idle(operated_namespace):
    ns = operated_namespace
    with KubeCluster(name=unique("adapt"), namespace=ns, n_workers=0, quiet=True) as cluster:
        cluster.adapt(minimum=0, maximum=2, scale_down_delay=5)
        (autoscaler,) = kr8s.get("daskautoscalers.kubernetes.dask.org", namespace=ns)
        assert autoscaler.name == cluster.name
        assert autoscaler.spec["workerGroup"] == f"{cluster.name}-default"
        assert (autoscaler.spec["minimum"], autoscaler.spec["maximum"]) == (0, 2)
        with Client(cluster) as client:
            futures = client.map(lambda i: __import__("time").sleep(2) or i, range(20))
            assert sum(client.gather(futures)) == sum(range(20))
            del futures
            deadline = time.monotonic() + 180
            while client.scheduler_info()["workers"]:
                assert time.monotonic() < deadline, "the autoscaler did not shrink the idle cluster"
                time.sleep(1)
        cluster.scale(1)  # turns adaptivity off
        assert not list(kr8s.get("daskautoscalers.kubernetes.dask.org", namespace=ns))
        cluster.wait_for_workers(1, timeout=120)


def submit_until_it_works(client, fn, timeout=60):
    """A client loses in-flight futures when its connection drops; it then reconnects."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.submit(fn, pure=False).result(timeout=10)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_port_forward_is_re_established(operated_namespace):
    import urllib.request

    ns = operated_namespace
    dashboard_port = free_port()
    with KubeCluster(
        name=unique("pf"),
        namespace=ns,
        n_workers=1,
        port_forward_cluster_ip=True,
        scheduler_forward_port=dashboard_port,
        quiet=True,
    ) as cluster:
        assert cluster.comm_endpoint.mode == "port-forward"
        assert cluster.dashboard_endpoint.mode == "port-forward"
        assert cluster.forwarded_dashboard_port == str(dashboard_port)
        assert cluster.dashboard_link == f"http://127.0.0.1:{dashboard_port}/status"
        with urllib.request.urlopen(cluster.dashboard_link, timeout=20) as response:
            assert response.status == 200
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        with Client(cluster) as client:
            assert client.submit(lambda: 1).result() == 1
            forwarder = cluster.comm_endpoint.forwarder
            forwarder.drop()  # listener closed and every open connection cut
            assert submit_until_it_works(client, lambda: 2) == 2
            assert forwarder.restarts >= 1
            assert cluster.scheduler_address == f"tcp://127.0.0.1:{forwarder.local_port}"
            # The cluster object re-subscribed to worker updates over the new forward.
            cluster.scale(2)
            deadline = time.monotonic() + 120
            while len(cluster.scheduler_info["workers"]) < 2:
                assert time.monotonic() < deadline, "cluster.scheduler_info stopped updating after the drop"
                time.sleep(0.5)


def test_failing_scheduler_reports_its_logs_and_leaves_nothing(operated_namespace):
    ns = operated_namespace
    spec = make_cluster_spec(name=unique("crash"), n_workers=0)
    spec["spec"]["scheduler"]["spec"]["containers"][0]["args"] = ["dask", "schmeduler"]
    with pytest.raises(SchedulerStartupError, match="(?s)Last log lines.*schmeduler"):
        KubeCluster(custom_cluster_spec=spec, namespace=ns, resource_timeout=60, quiet=True)
    assert cluster_gone(spec["metadata"]["name"], ns)


@pytest.mark.last  # pauses the shared operator for a few seconds
def test_missing_operator_times_out_with_advice(operator_paused):
    namespace = operator_paused
    name = unique("noop")
    with pytest.raises(TimeoutError, match="is the Dask Operator running"):
        KubeCluster(name=name, namespace=namespace, resource_timeout=3, quiet=True)
    assert cluster_gone(name, namespace)


def test_create_mode_rules(operated_namespace):
    ns = operated_namespace
    with pytest.raises(ValueError, match="does not exist.*CONNECT_ONLY"):
        KubeCluster(name=unique("absent"), namespace=ns, create_mode="CONNECT_ONLY", quiet=True)
    with KubeCluster(name=unique("once"), namespace=ns, quiet=True) as cluster:
        with pytest.raises(ValueError, match="already exists.*CREATE_ONLY"):
            KubeCluster(name=cluster.name, namespace=ns, create_mode="CREATE_ONLY", quiet=True)
        # Connecting by keywords (not from_name) still does not take ownership.
        again = KubeCluster(name=cluster.name, namespace=ns, quiet=True)
        assert again.shutdown_on_close is False
        again.close()
        assert cluster_exists(cluster.name, ns)


def test_node_port_jupyter_repr_and_discovery(operated_namespace):
    import urllib.request

    ns = operated_namespace
    name = unique("np")
    with KubeCluster(
        name=name, namespace=ns, n_workers=1, scheduler_service_type="NodePort", jupyter=True, quiet=True,
        # --jupyter needs jupyterlab in the scheduler's image: the notebook flavour has it
        image="ghcr.io/dask/dask-notebook:latest",
    ) as cluster:
        assert cluster.comm_endpoint.mode == "node-port"
        assert cluster.jupyter
        with urllib.request.urlopen(cluster.dashboard_link, timeout=20) as response:
            assert response.status == 200
        with urllib.request.urlopen(cluster.jupyter_link, timeout=20) as response:
            assert response.status == 200 and "/jupyter/lab" in response.url
        # KubeCluster returns once its scheduler answers, which may be before the operator
        # reports Running; the repr follows the cluster's state as it is refreshed.
        wait_until(lambda: "Running" in cluster._repr_html_(), timeout=120,
                   message="the HTML repr to show the cluster Running")
        html = cluster._repr_html_()
        assert "dask-k8s-lab-components" in html and "Running" in html and name in html
        assert {c.component for c in cluster.components} >= {"DaskCluster", "Scheduler", "Service", "Workers"}

        assert name in cluster.sync(_discover_in, ns)


async def _discover_in(namespace):
    from dask_k8s_lab.discovery import discover

    return [name async for name, _ in discover(namespace)]


def test_several_clusters_in_one_process(operated_namespace, tmp_path):
    import yaml

    ns = operated_namespace
    first = KubeCluster(name=unique("one"), namespace=ns, n_workers=1, quiet=True)
    manifest = tmp_path / "cluster.yaml"
    manifest.write_text(yaml.safe_dump(make_cluster_spec(name=unique("two"), n_workers=1)))
    second = KubeCluster(custom_cluster_spec=str(manifest), namespace=ns, quiet=True)
    try:
        assert first.scheduler_address != second.scheduler_address
        for cluster, value in ((first, 1), (second, 2)):
            with Client(cluster) as client:
                assert client.submit(lambda v: v * 10, value).result() == value * 10
    finally:
        first.close()
        second.close()
    assert cluster_gone(first.name, ns) and cluster_gone(second.name, ns)


async def test_async_clusters_share_one_loop(operated_namespace):
    ns = operated_namespace
    async with KubeCluster(name=unique("la"), namespace=ns, asynchronous=True, quiet=True) as a, KubeCluster(
        name=unique("lb"), namespace=ns, asynchronous=True, quiet=True
    ) as b:
        assert a.loop is b.loop
        assert a.scheduler_address != b.scheduler_address


def test_unschedulable_scheduler_times_out_with_the_reason(operated_namespace):
    ns = operated_namespace
    name = unique("huge")
    with pytest.raises(TimeoutError, match="(?s)still 'Pending'.*Unschedulable.*Insufficient memory"):
        KubeCluster(name=name, namespace=ns, resources={"requests": {"memory": "100Ti"}}, resource_timeout=15, quiet=True)
    assert cluster_gone(name, ns)


def test_crashing_workers_are_reported_with_their_logs(operated_namespace):
    from dask_k8s_lab.progress import ERROR

    ns = operated_namespace
    with KubeCluster(name=unique("wcrash"), namespace=ns, n_workers=1, worker_command="dask wurker", quiet=True) as cluster:
        deadline = time.monotonic() + 120
        while True:
            workers = [c for c in cluster.components if c.component == "Workers"]
            if workers and workers[0].level == ERROR and "last log lines" in workers[0].reason:
                break
            assert time.monotonic() < deadline, f"worker crash not reported: {cluster.components}"
            time.sleep(1)
        assert "wurker" in workers[0].reason


def test_lasting_operator_error_is_raised_with_its_reason(operated_namespace):
    ns = operated_namespace
    spec = make_cluster_spec(name=unique("badpod"), n_workers=0)
    # Accepted by the CRD schema, rejected by Pod validation: the operator cannot create it.
    spec["spec"]["scheduler"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "missing", "mountPath": "/x"}]
    with pytest.raises(RuntimeError, match="(?s)reports DaskCluster .* as Error.*scheduler pod.*missing"):
        KubeCluster(custom_cluster_spec=spec, namespace=ns, quiet=True)
    assert cluster_gone(spec["metadata"]["name"], ns)


def test_missing_namespace_is_explained(kube):
    with pytest.raises(ValueError, match="namespace='no-such-ns-xyz' does not exist"):
        KubeCluster(name=unique("nons"), namespace="no-such-ns-xyz", quiet=True)


def test_port_forward_follows_a_replaced_scheduler_pod(operated_namespace):
    ns = operated_namespace
    with KubeCluster(name=unique("pfpod"), namespace=ns, n_workers=1, port_forward_cluster_ip=True, quiet=True) as cluster:
        with Client(cluster, timeout=180) as client:
            assert client.submit(lambda: 1).result() == 1
            old = kr8s.objects.Pod.get(f"{cluster.name}-scheduler", namespace=ns)
            uid = old.metadata["uid"]
            old.delete()

            def replaced():  # (the old pod serves until it is gone; the new one has its name)
                try:
                    pod = kr8s.objects.Pod.get(f"{cluster.name}-scheduler", namespace=ns)
                except kr8s.NotFoundError:
                    return None
                return pod.metadata["uid"] != uid

            wait_until(replaced, timeout=150, message="a new scheduler pod")
            # The operator started a new scheduler pod; the same local port now reaches it.
            assert submit_until_it_works(client, lambda: 2, timeout=150) == 2
            cluster.wait_for_workers(1, timeout=120)
