"""The operator section's example manifests, as the docs print them, applied with `kubectl apply`.

They start containers with `dask-scheduler` / `dask-worker`, console scripts that distributed no
longer ships. The operator runs `dask scheduler` / `dask worker` instead and says so in an Event.
Changes to the docs' text, and nothing else: the image is named without its registry host (no
registry host names in this repository), the high-memory group asks for 256Mi instead of 32Gi
(this machine has 24 GiB), and the job's `namespace: default` is dropped (each test applies into
its own namespace). The readiness probes keep the docs' 5 s initial delay.
"""

from __future__ import annotations

import pytest

from dask_k8s_common import legacy_commands
from tests.fixtures.kube import wait_until
from tests.operator.helpers import (
    dask_client,
    events,
    get,
    group_pods,
    pods,
    wait_phase,
    wait_ready_workers,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dask_operator")]

CLUSTER_YAML = """\
# cluster.yaml
apiVersion: kubernetes.dask.org/v1
kind: DaskCluster
metadata:
  name: simple
spec:
  worker:
    replicas: 2
    spec:
      containers:
      - name: worker
        image: "dask/dask:latest"
        imagePullPolicy: "IfNotPresent"
        args:
          - dask-worker
          - --name
          - $(DASK_WORKER_NAME)
          - --dashboard
          - --dashboard-address
          - "8788"
        ports:
          - name: http-dashboard
            containerPort: 8788
            protocol: TCP
  scheduler:
    spec:
      containers:
      - name: scheduler
        image: "dask/dask:latest"
        imagePullPolicy: "IfNotPresent"
        args:
          - dask-scheduler
        ports:
          - name: tcp-comm
            containerPort: 8786
            protocol: TCP
          - name: http-dashboard
            containerPort: 8787
            protocol: TCP
        readinessProbe:
          httpGet:
            port: http-dashboard
            path: /health
          initialDelaySeconds: 5
          periodSeconds: 10
        livenessProbe:
          httpGet:
            port: http-dashboard
            path: /health
          initialDelaySeconds: 15
          periodSeconds: 20
    service:
      type: NodePort
      selector:
        dask.org/cluster-name: simple
        dask.org/component: scheduler
      ports:
      - name: tcp-comm
        protocol: TCP
        port: 8786
        targetPort: "tcp-comm"
      - name: http-dashboard
        protocol: TCP
        port: 8787
        targetPort: "http-dashboard"
"""

HIGHMEM_YAML = """\
# highmemworkers.yaml
apiVersion: kubernetes.dask.org/v1
kind: DaskWorkerGroup
metadata:
  name: simple-highmem
spec:
  cluster: simple
  worker:
    replicas: 2
    spec:
      containers:
      - name: worker
        image: "dask/dask:latest"
        imagePullPolicy: "IfNotPresent"
        resources:
          requests:
            memory: "256Mi"
          limits:
            memory: "256Mi"
        args:
          - dask-worker
          - --name
          - $(DASK_WORKER_NAME)
          - --resources
          - MEMORY=32e9
          - --dashboard
          - --dashboard-address
          - "8788"
        ports:
          - name: http-dashboard
            containerPort: 8788
            protocol: TCP
"""

JOB_YAML = """\
# job.yaml
apiVersion: kubernetes.dask.org/v1
kind: DaskJob
metadata:
  name: simple-job
spec:
  job:
    spec:
      containers:
        - name: job
          image: "dask/dask:latest"
          imagePullPolicy: "IfNotPresent"
          args:
            - python
            - -c
            - "from dask.distributed import Client; client = Client(); # Do some work..."

  cluster:
    spec:
      worker:
        replicas: 2
        spec:
          containers:
            - name: worker
              image: "dask/dask:latest"
              imagePullPolicy: "IfNotPresent"
              args:
                - dask-worker
                - --name
                - $(DASK_WORKER_NAME)
                - --dashboard
                - --dashboard-address
                - "8788"
              ports:
                - name: http-dashboard
                  containerPort: 8788
                  protocol: TCP
              env:
                - name: WORKER_ENV
                  value: hello-world # We dont test the value, just the name
      scheduler:
        spec:
          containers:
            - name: scheduler
              image: "dask/dask:latest"
              imagePullPolicy: "IfNotPresent"
              args:
                - dask-scheduler
              ports:
                - name: tcp-comm
                  containerPort: 8786
                  protocol: TCP
                - name: http-dashboard
                  containerPort: 8787
                  protocol: TCP
              readinessProbe:
                httpGet:
                  port: http-dashboard
                  path: /health
                initialDelaySeconds: 5
                periodSeconds: 10
              livenessProbe:
                httpGet:
                  port: http-dashboard
                  path: /health
                initialDelaySeconds: 15
                periodSeconds: 20
              env:
                - name: SCHEDULER_ENV
                  value: hello-world
        service:
          type: ClusterIP
          selector:
            dask.org/cluster-name: simple-job
            dask.org/component: scheduler
          ports:
            - name: tcp-comm
              protocol: TCP
              port: 8786
              targetPort: "tcp-comm"
            - name: http-dashboard
              protocol: TCP
              port: 8787
              targetPort: "http-dashboard"
"""


def rewrite_events(kubectl, kind: str, name: str) -> list[str]:
    return [e["message"] for e in events(kubectl, kind, name)
            if e["reason"] == legacy_commands.REASON]


def test_docs_cluster_and_worker_group_run_with_the_removed_commands(kubectl):
    kubectl.apply(CLUSTER_YAML)
    wait_phase(kubectl, "simple")
    wait_ready_workers(kubectl, "daskcluster", "simple", 2)
    scheduler = kubectl.json("pod", "simple-scheduler")
    assert scheduler["spec"]["containers"][0]["args"] == ["dask", "scheduler"]
    note = scheduler["metadata"]["annotations"][legacy_commands.ANNOTATION]
    assert "'dask-scheduler' -> 'dask scheduler'" in note
    for pod in group_pods(kubectl, "simple-default"):
        assert pod["spec"]["containers"][0]["args"][:3] == ["dask", "worker", "--name"]
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0  # no crash loop
    # what was changed and why, on the resource the user applied
    messages = rewrite_events(kubectl, "DaskCluster", "simple")
    assert any("dask-scheduler" in m and "removed" in m for m in messages), messages
    assert any("dask-worker" in m for m in messages), messages
    assert legacy_commands.REASON in kubectl("describe", "daskcluster", "simple")

    kubectl.apply(HIGHMEM_YAML)
    wait_ready_workers(kubectl, "daskworkergroup", "simple-highmem", 2)
    assert any("dask-worker" in m
               for m in rewrite_events(kubectl, "DaskWorkerGroup", "simple-highmem"))
    with dask_client(kubectl, "simple") as client:
        client.wait_for_workers(4, timeout=60)
        assert client.submit(sum, range(10)).result() == 45
        futures = client.map(lambda x: x * 2, range(10), resources={"MEMORY": 1e9})
        assert sum(client.gather(futures)) == 90
        names = set(client.run(lambda dask_worker: dask_worker.name).values())
    assert names == {p["metadata"]["name"] for p in pods(kubectl, "dask.org/component=worker")}

    kubectl("delete", "daskcluster", "simple")
    wait_until(lambda: not pods(kubectl, "dask.org/cluster-name=simple"), 90,
               message="all pods of the cluster gone")


def test_docs_job_ends_successful_with_the_removed_commands(kubectl):
    kubectl.apply(JOB_YAML)

    def finished():
        status = (get(kubectl, "daskjob", "simple-job") or {}).get("status") or {}
        return status if status.get("jobStatus") in ("Successful", "Failed") else None

    status = wait_until(finished, 240, interval=0.5, message="the docs' DaskJob to finish")
    assert status["jobStatus"] == "Successful", status
    runner = kubectl.json("pod", "simple-job-runner")
    assert runner["status"]["phase"] == "Succeeded"
    assert legacy_commands.ANNOTATION not in (runner["metadata"].get("annotations") or {})
    # the job's cluster ran the rewritten commands (its events outlive it)
    messages = rewrite_events(kubectl, "DaskCluster", "simple-job")
    assert any("dask-scheduler" in m for m in messages), messages
    assert any("dask-worker" in m for m in messages), messages
    wait_until(lambda: get(kubectl, "daskcluster", "simple-job") is None, 90,
               message="the job's cluster removed")
