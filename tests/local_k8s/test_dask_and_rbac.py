"""Dask from plain manifests (no operator), reached through a ClusterIP and through kr8s
port-forward; and a pod that talks to the API with its ServiceAccount's permissions only."""

from __future__ import annotations

import textwrap

import kr8s.asyncio
import pytest
from distributed import Client

from tests.fixtures.kube import Kubectl, wait_until

pytestmark = pytest.mark.integration

DASK = textwrap.dedent("""
    apiVersion: v1
    kind: Pod
    metadata: {name: scheduler, labels: {app: scheduler}}
    spec:
      containers:
      - name: scheduler
        image: ghcr.io/dask/dask:latest
        args: [dask, scheduler, --host, 0.0.0.0]
        ports: [{containerPort: 8786, name: comm}, {containerPort: 8787, name: dashboard}]
        readinessProbe: {httpGet: {path: /health, port: dashboard}, periodSeconds: 1}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: scheduler}
    spec:
      selector: {app: scheduler}
      ports: [{name: comm, port: 8786, targetPort: comm}, {name: dashboard, port: 8787, targetPort: dashboard}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: worker}
    spec:
      replicas: 2
      selector: {matchLabels: {app: worker}}
      template:
        metadata: {labels: {app: worker}}
        spec:
          containers:
          - name: worker
            image: ghcr.io/dask/dask:latest
            args: [dask, worker, "tcp://scheduler.$(NAMESPACE).svc.cluster.local:8786", --nthreads, "1"]
            env: [{name: NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}]
""")


async def compute(address: str) -> tuple[int, int]:
    async with Client(address, asynchronous=True, timeout="30s") as client:
        await client.wait_for_workers(2, timeout=60)
        result = await client.submit(sum, range(10))
        return result, len(client.scheduler_info()["workers"])


async def test_dask_cluster_from_manifests(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(DASK)
    kubectl("wait", "--for=condition=Ready", "pod/scheduler", "--timeout=90s")
    ip = kubectl.json("service", "scheduler")["spec"]["clusterIP"]
    assert await compute(f"tcp://{ip}:8786") == (45, 2)

    service = await kr8s.asyncio.objects.Service.get("scheduler", namespace=namespace)
    async with service.portforward(remote_port=8786, local_port=0) as port:
        assert await compute(f"tcp://127.0.0.1:{port}") == (45, 2)


LISTER = textwrap.dedent("""
    apiVersion: v1
    kind: ServiceAccount
    metadata: {name: lister}
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: Role
    metadata: {name: pod-lister}
    rules: [{apiGroups: [""], resources: [pods], verbs: [list]}]
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: RoleBinding
    metadata: {name: lister}
    roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-lister}
    subjects: [{kind: ServiceAccount, name: lister}]
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: lister}
    spec:
      serviceAccountName: lister
      restartPolicy: Never
      containers:
      - name: lister
        image: python:3.11
        command:
        - python
        - -c
        - |
          import kr8s
          # The projected service-account volume carries the namespace (kr8s reads only the token).
          own = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
          print("own namespace:", len(list(kr8s.get("pods", namespace=own))) >= 1)
          for ns in ("kube-system",):
              try:
                  list(kr8s.get("pods", namespace=ns))
                  print(ns + ": allowed")
              except kr8s.ServerError as e:
                  print(ns + ":", e.response.status_code)
          try:
              list(kr8s.get("services", namespace=own))
              print("services: allowed")
          except kr8s.ServerError as e:
              print("services:", e.response.status_code)
""")


def test_in_cluster_client_has_only_its_role(kubectl: Kubectl) -> None:
    kubectl.apply(LISTER)
    wait_until(lambda: kubectl.json("pod", "lister")["status"]["phase"] in ("Succeeded", "Failed"),
               timeout=90, message="the in-cluster client pod to finish")
    logs = kubectl("logs", "lister")
    assert kubectl.json("pod", "lister")["status"]["phase"] == "Succeeded", logs
    assert "own namespace: True" in logs
    assert "kube-system: 403" in logs
    assert "services: 403" in logs
