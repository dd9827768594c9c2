"""The local Kubernetes runs ordinary workloads: Deployments, Services, DNS, logs, scaling,
garbage collection, restart policies and probes."""

from __future__ import annotations

import subprocess
import textwrap
import urllib.request

import pytest

from tests.fixtures.kube import Kubectl, wait_until

pytestmark = pytest.mark.integration

WEB = textwrap.dedent("""
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - name: web
            image: python:3.11
            command: [python, -m, http.server, "8080"]
            ports: [{containerPort: 8080, name: http}]
            readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: http}]
""")


def ready_pods(kubectl: Kubectl, selector: str) -> list[dict]:
    pods = kubectl.json("pods", "-l", selector)["items"]
    return [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


def test_node_is_ready(kube) -> None:
    out = subprocess.run(["kubectl", "get", "nodes", "--no-headers"], capture_output=True, text=True, check=True).stdout
    assert out.split()[1] == "Ready"


def test_deployment_service_dns_logs_scale_and_gc(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(WEB)
    pods = wait_until(lambda: len(ready_pods(kubectl, "app=web")) == 2 and ready_pods(kubectl, "app=web"),
                      message="2 ready web pods")
    assert len({p["status"]["podIP"] for p in pods}) == 2

    # A third pod reaches the Service by its cluster DNS name.
    kubectl("run", "fetch", "--image=python:3.11", "--restart=Never", "--command", "--", "python", "-c",
            f"import urllib.request; print(urllib.request.urlopen('http://web.{namespace}.svc.cluster.local:80/').status)")
    wait_until(lambda: kubectl.json("pod", "fetch")["status"]["phase"] in ("Succeeded", "Failed"),
               message="fetch pod to finish")
    assert kubectl.json("pod", "fetch")["status"]["phase"] == "Succeeded"
    assert kubectl("logs", "fetch").strip() == "200"

    # The host reaches the ClusterIP.
    ip = kubectl.json("service", "web")["spec"]["clusterIP"]
    with urllib.request.urlopen(f"http://{ip}/", timeout=10) as response:
        assert response.status == 200
    # The servers' own log lines (one per request) are served by `kubectl logs`.
    logs = "".join(kubectl("logs", p["metadata"]["name"]) for p in pods)
    assert '"GET / HTTP/1.1" 200' in logs

    kubectl("scale", "deployment/web", "--replicas=3")
    wait_until(lambda: len(ready_pods(kubectl, "app=web")) == 3, message="3 ready web pods")

    kubectl("delete", "deployment/web", "--wait=false")
    wait_until(lambda: not kubectl.json("replicasets")["items"] and not kubectl.json("pods", "-l", "app=web")["items"],
               message="the garbage collector to remove the ReplicaSet and its pods")


def test_restart_policies(kubectl: Kubectl) -> None:
    for name, policy in (("never", "Never"), ("onfailure", "OnFailure")):
        kubectl("run", name, "--image=python", f"--restart={policy}", "--command", "--",
                "python", "-c", "import sys; print('failing'); sys.exit(1)")
    wait_until(lambda: kubectl.json("pod", "never")["status"]["phase"] == "Failed", message="pod never Failed")
    state = kubectl.json("pod", "never")["status"]["containerStatuses"][0]
    assert state["state"]["terminated"]["exitCode"] == 1
    assert state["restartCount"] == 0
    wait_until(lambda: kubectl.json("pod", "onfailure")["status"]["containerStatuses"][0]["restartCount"] >= 2,
               message="restartCount of the OnFailure pod to grow")
    assert kubectl.json("pod", "onfailure")["status"]["phase"] != "Failed"


def test_failing_readiness_probe_keeps_pod_out_of_endpoints(kubectl: Kubectl) -> None:
    kubectl.apply(textwrap.dedent("""
        apiVersion: v1
        kind: Pod
        metadata: {name: good, labels: {app: probe}}
        spec:
          containers:
          - {name: c, image: python, command: [python, -m, http.server, "8080"],
             readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: bad, labels: {app: probe}}
        spec:
          containers:
          - {name: c, image: python, command: [python, -m, http.server, "8080"],
             readinessProbe: {httpGet: {path: /, port: 9999}, periodSeconds: 1}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: probe}
        spec:
          selector: {app: probe}
          ports: [{port: 8080}]
    """))

    def endpoint_ips() -> set[str]:
        slices = kubectl.json("endpointslices", "-l", "kubernetes.io/service-name=probe")["items"]
        return {a for s in slices for e in s.get("endpoints") or [] if e["conditions"].get("ready")
                for a in e["addresses"]}

    good_ip = wait_until(lambda: kubectl.json("pod", "good")["status"].get("podIP"), message="good pod IP")
    wait_until(lambda: endpoint_ips() == {good_ip}, message="only the good pod in the endpoints")
    bad = kubectl.json("pod", "bad")
    assert bad["status"]["phase"] == "Running"
    assert bad["status"]["containerStatuses"][0]["ready"] is False
    assert bad["status"]["podIP"] not in endpoint_ips()


def test_unrunnable_containers_report_why(kubectl: Kubectl) -> None:
    kubectl("run", "badcmd", "--image=python", "--restart=Never", "--command", "--", "no-such-command")
    kubectl("run", "badimage", "--image=nginx:1.27", "--restart=Never", "--command", "--", "nginx")
    kubectl("run", "huge", "--image=python", "--restart=Never", "--overrides",
            '{"spec": {"containers": [{"name": "huge", "image": "python", "command": ["sleep", "60"],'
            ' "resources": {"requests": {"cpu": "5000"}}}]}}')

    def terminated(name: str) -> dict:
        statuses = kubectl.json("pod", name)["status"].get("containerStatuses") or [{}]
        return statuses[0].get("state", {}).get("terminated") or {}

    wait_until(lambda: terminated("badcmd"), message="badcmd to terminate")
    assert terminated("badcmd")["reason"] == "StartError"
    assert "no-such-command" in terminated("badcmd")["message"]
    assert kubectl.json("pod", "badcmd")["status"]["phase"] == "Failed"

    def waiting(name: str) -> dict:
        statuses = kubectl.json("pod", name)["status"].get("containerStatuses") or [{}]
        return statuses[0].get("state", {}).get("waiting") or {}

    wait_until(lambda: waiting("badimage").get("reason") == "ImagePullBackOff", message="ImagePullBackOff")
    assert "nginx" in waiting("badimage")["message"]

    def scheduled(name: str) -> dict:
        conditions = kubectl.json("pod", name)["status"].get("conditions") or []
        return next((c for c in conditions if c["type"] == "PodScheduled"), {})

    wait_until(lambda: scheduled("huge").get("reason") == "Unschedulable", message="huge pod Unschedulable")
    assert "Insufficient cpu" in scheduled("huge")["message"]
    events = kubectl("get", "events", "--field-selector", "involvedObject.name=huge")
    assert "FailedScheduling" in events


def test_pods_keep_the_gateway_mac_when_other_pods_come_and_go(kubectl: Kubectl) -> None:
    """A Linux bridge left alone takes its lowest port's MAC; a pod joining with a lower one, or
    leaving, would then change the gateway MAC under every other pod and cut their connections
    to the API server until ARP is re-learnt."""
    from local_k8s import network, settings

    for name in ("stay", "churn"):
        kubectl("run", name, "--image=python", "--restart=Never", "--command", "--", "sleep", "600")
    wait_until(lambda: len(ready_pods(kubectl, "run in (stay,churn)")) == 2, message="2 running pods")
    uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in ready_pods(kubectl, "run in (stay,churn)")}
    stay_ns = network.netns_name(uids["stay"])

    def gateway_mac_seen_by_stay() -> str:
        # a connection to the node refreshes the pod's ARP entry for its gateway
        subprocess.run(["ip", "netns", "exec", stay_ns, "python", "-c",
                        f"import socket; socket.create_connection(('{settings.NODE_IP}', 6443), 5).close()"],
                       check=True, timeout=30)
        out = subprocess.run(["ip", "-n", stay_ns, "neigh", "show", settings.NODE_IP],
                             capture_output=True, text=True, check=True).stdout
        return out.split("lladdr")[1].split()[0]

    def bridge_mac() -> str:
        return open(f"/sys/class/net/{settings.BRIDGE}/address").read().strip()

    before = gateway_mac_seen_by_stay()
    assert before == bridge_mac() == settings.BRIDGE_MAC
    # the churning pod's host-side link gets a MAC lower than any other, then the pod goes
    subprocess.run(["ip", "link", "set", network._host_veth(uids["churn"]), "address", "02:00:00:00:00:01"],
                   check=True)
    assert bridge_mac() == settings.BRIDGE_MAC
    kubectl("delete", "pod", "churn", "--grace-period=1")
    assert bridge_mac() == settings.BRIDGE_MAC
    out = subprocess.run(["ip", "-n", stay_ns, "neigh", "show", settings.NODE_IP],
                         capture_output=True, text=True, check=True).stdout
    assert before in out, f"stay's cached gateway MAC went stale: {out!r}"
