"""The classic KubeCluster against the local Kubernetes, with real Dask processes in pods.

The docs' quickstart asks for 4G and 1 cpu per worker; this machine (2 cores, 24 GiB, shared by
several test sessions) gets 512M and 100m, and the array is 100x smaller. Everything else is as
the docs print it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import dask.array as da
import dask.config
import pytest
from distributed import Client

from dask_k8s_lab.classic import KubeCluster, make_pod_spec
from dask_k8s_lab.classic.manifests import LABEL_CLASSIC
from tests.classic.docs import worker_spec_for_tests
from tests.fixtures.kube import Kubectl, wait_until

pytestmark = pytest.mark.integration
IMAGE = "dask/dask:latest"  # the docs' image, without its registry host
KINDS = "pods,services,poddisruptionbudgets,jobs"


def quickstart_spec() -> dict:
    return make_pod_spec(image=IMAGE, memory_limit="512M", memory_request="512M",
                         cpu_limit="100m", cpu_request="100m")


def classic_objects(kubectl: Kubectl, name: str | None = None) -> list[str]:
    selector = f"{LABEL_CLASSIC}=true" + (f",dask.org/cluster-name={name}" if name else "")
    items = kubectl.json(KINDS, "-l", selector)["items"]
    return [f"{i['kind']}/{i['metadata']['name']}" for i in items]


def assert_nothing_left(kubectl: Kubectl, name: str) -> None:
    assert classic_objects(kubectl, name) == []


def worker_count(cluster: KubeCluster) -> int:
    return len(cluster.scheduler_info["workers"])


def test_docs_quickstart_scale_adapt_compute_close(kubectl, namespace):
    cluster = KubeCluster(quickstart_spec(), namespace=namespace)
    try:
        kinds = sorted(o.split("/")[0] for o in classic_objects(kubectl, cluster.name))
        assert kinds == ["Job", "Pod", "PodDisruptionBudget", "Service"]
        service = kubectl.json("service", cluster.name)
        assert service["spec"]["type"] == "ClusterIP"
        assert service["metadata"]["ownerReferences"][0]["kind"] == "Pod"

        cluster.scale(3)
        client = Client(cluster)
        client.wait_for_workers(3, timeout=120)
        workers = kubectl.json("pods", "-l", f"{LABEL_CLASSIC}=true,dask.org/component=worker")
        assert len(workers["items"]) == 3
        for pod in workers["items"]:
            args = pod["spec"]["containers"][0]["args"]
            assert "--death-timeout" in args
            assert pod["metadata"]["ownerReferences"][0]["name"].startswith(
                f"{cluster.name}-scheduler")
            assert {t["key"] for t in pod["spec"]["tolerations"]} >= {
                "k8s.dask.org/dedicated", "k8s.dask.org_dedicated"}

        cluster.adapt(minimum=1, maximum=4)
        wait_until(lambda: worker_count(cluster) == 1, 120, interval=0.5,
                   message="adapt to scale the idle cluster down to its minimum of 1")
        array = da.ones((100, 100, 100))
        assert array.mean().compute() == 1.0
        logs = cluster.get_logs()
        assert any("scheduler" in key for key in logs)
        client.close()
    finally:
        cluster.close()
    assert_nothing_left(kubectl, cluster.name)


def test_docs_worker_spec_yaml_by_path_and_by_config(kubectl, namespace, tmp_path):
    path = tmp_path / "worker-spec.yml"
    path.write_text(worker_spec_for_tests())
    with pytest.warns(FutureWarning, match="'dask-worker' -> 'dask worker'"):
        cluster = KubeCluster(str(path), namespace=namespace, n_workers=1)
    with cluster, Client(cluster) as client:
        client.wait_for_workers(1, timeout=120)
        assert client.submit(sum, [1, 2, 3]).result() == 6
        pod = kubectl.json("pods", "-l", f"{LABEL_CLASSIC}=true,dask.org/component=worker")[
            "items"][0]
        assert pod["metadata"]["labels"]["foo"] == "bar"
        assert pod["spec"]["containers"][0]["args"][:2] == ["dask", "worker"]
        assert "dask-worker" in pod["metadata"]["annotations"][
            "kubernetes.dask.org/rewritten-command"]
    assert_nothing_left(kubectl, cluster.name)

    with dask.config.set({"kubernetes.worker-template-path": str(path)}), \
            pytest.warns(FutureWarning):
        cluster = KubeCluster(namespace=namespace)
    with cluster, Client(cluster) as client:
        cluster.scale(1)
        client.wait_for_workers(1, timeout=120)
        assert client.submit(lambda: 42).result() == 42
    assert_nothing_left(kubectl, cluster.name)


def test_local_deploy_mode_workers_connect_back(kubectl, namespace):
    with pytest.warns(DeprecationWarning, match="from_dict"):
        cluster = KubeCluster.from_dict(quickstart_spec(), namespace=namespace,
                                        deploy_mode="local", n_workers=1)
    with cluster, Client(cluster) as client:
        client.wait_for_workers(1, timeout=120)
        assert classic_objects(kubectl, cluster.name)[0].startswith("Pod/")
        assert len(classic_objects(kubectl, cluster.name)) == 1  # no scheduler pod or Service
        assert client.submit(sum, range(5)).result() == 10
        where = list(client.run(lambda: 1))[0]
        worker_ips = {p["status"]["podIP"] for p in kubectl.json("pods")["items"]}
        assert where.split("://")[1].rsplit(":", 1)[0] in worker_ips  # the worker is in a pod
        # it reached this process through the node's address (this machine is the node)
        pod = kubectl.json("pods")["items"][0]
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        node = kubectl.json("nodes")["items"][0]
        node_ips = {a["address"] for a in node["status"]["addresses"]}
        assert env["DASK_SCHEDULER_ADDRESS"].split("://")[1].rsplit(":", 1)[0] in node_ips
    assert_nothing_left(kubectl, cluster.name)


def test_load_balancer_service_connects_through_its_ingress(kubectl, namespace):
    with dask.config.set({"kubernetes.scheduler-service-type": "LoadBalancer"}):
        cluster = KubeCluster(quickstart_spec(), namespace=namespace, n_workers=1)
    with cluster, Client(cluster) as client:
        assert cluster.scheduler.connection_mode == "load-balancer"
        service = kubectl.json("service", cluster.name)
        ingress = service["status"]["loadBalancer"]["ingress"][0]["ip"]
        assert cluster.scheduler.address == f"tcp://{ingress}:8786"
        client.wait_for_workers(1, timeout=120)
        assert client.submit(lambda x: x * 3, 3).result() == 9
    assert_nothing_left(kubectl, cluster.name)


def test_nodeport_service_connects_through_a_node_address(kubectl, namespace):
    with dask.config.set({"kubernetes.scheduler-service-type": "NodePort"}):
        cluster = KubeCluster(quickstart_spec(), namespace=namespace, n_workers=1)
    with cluster, Client(cluster) as client:
        assert cluster.scheduler.connection_mode == "node-port"
        node = kubectl.json("nodes")["items"][0]
        node_ips = {a["address"] for a in node["status"]["addresses"]}
        host, port = cluster.scheduler.address.split("://")[1].rsplit(":", 1)
        assert host in node_ips
        service = kubectl.json("service", cluster.name)
        assert service["spec"]["type"] == "NodePort"
        assert int(port) == next(p["nodePort"] for p in service["spec"]["ports"]
                                 if p["name"] == "tcp-comm")
        client.wait_for_workers(1, timeout=120)
        assert client.submit(lambda x: x + 1, 1).result() == 2
    assert_nothing_left(kubectl, cluster.name)


CLIENT_SCRIPT = """
import json, sys, time
from dask_k8s_lab.classic import KubeCluster, make_pod_spec
spec = make_pod_spec(image="dask/dask:latest", memory_request="256M", cpu_request="100m")
# idle: the scheduler closes itself after 30 s without work (longer than this start-up)
cluster = KubeCluster(spec, namespace=sys.argv[1], n_workers=1,
                      deploy_mode="local" if sys.argv[2] == "local" else "remote",
                      idle_timeout="30s" if sys.argv[2] == "idle" else None)
cluster.wait_for_workers(1, timeout=120)
print(json.dumps({"name": cluster.name}), flush=True)
time.sleep(3600)
"""


@pytest.mark.parametrize("mode", ["lease", "idle", "local"])
def test_killed_client_leaves_nothing_running(kubectl, namespace, mode):
    """lease (the default): the dead client stops renewing the scheduler Job's deadline, so the
    Job ends; idle (lease off): the scheduler's idle timeout ends the Job. Either way Kubernetes
    deletes the finished Job and the garbage collector the scheduler pod, Service, PDB and
    workers it owns. local: the scheduler dies with the process; workers exit by
    --death-timeout (their pods stay Completed, as the cluster's docstring says)."""
    lease = "20" if mode == "lease" else "None"
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CLIENT_SCRIPT), namespace,
                                mode], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONWARNINGS": "ignore",
                                    "DASK_KUBERNETES__CLIENT_LEASE": lease})
    try:
        line = process.stdout.readline()
        assert line, "the client process exited before its cluster was up"
        name = json.loads(line)["name"]
        assert classic_objects(kubectl, name)
        if mode == "lease":  # while the client lives, it keeps pushing the deadline out
            def deadline() -> int:
                return kubectl.json("job", f"{name}-scheduler")["spec"]["activeDeadlineSeconds"]

            first = deadline()
            wait_until(lambda: deadline() > first, 30, message="the client to renew its lease")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    if mode != "local":
        workers = kubectl.json("pods", "-l", f"{LABEL_CLASSIC}=true,dask.org/component=worker")
        assert all("--death-timeout" in p["spec"]["containers"][0]["args"]
                   for p in workers["items"])
        wait_until(lambda: not classic_objects(kubectl, name), 180, interval=1,
                   message="the scheduler Job, pod, Service, PDB and workers gone")
    else:
        def workers_exited():
            pods = kubectl.json("pods", "-l", f"{LABEL_CLASSIC}=true,dask.org/cluster-name={name}")
            return all(p["status"].get("phase") in ("Succeeded", "Failed") for p in pods["items"])

        wait_until(workers_exited, 180, interval=1, message="the worker containers exited")
        kubectl("delete", "pods", "-l", f"{LABEL_CLASSIC}=true,dask.org/cluster-name={name}")


def test_from_name_attaches_and_leaves_the_cluster_running(kubectl, namespace):
    cluster = KubeCluster(quickstart_spec(), namespace=namespace)
    try:
        other = KubeCluster.from_name(cluster.name, namespace=namespace)
        other.scale(1)  # with the worker template the creator stored on the scheduler's Job
        with Client(other) as client:
            client.wait_for_workers(1, timeout=120)
            assert client.submit(lambda: "attached").result() == "attached"
        other.close()
        left = classic_objects(kubectl, cluster.name)
        assert sorted(o.split("/")[0] for o in left) == ["Job", "Pod", "PodDisruptionBudget",
                                                         "Service"]
        with Client(cluster) as client:  # the creator's scheduler still serves
            cluster.scale(1)
            client.wait_for_workers(1, timeout=120)
            assert client.submit(lambda: "still here").result() == "still here"
    finally:
        cluster.close()
    assert_nothing_left(kubectl, cluster.name)
