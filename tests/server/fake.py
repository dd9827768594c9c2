"""An in-memory stand-in for the Kubernetes API (and the operator's first step), for unit tests.

It implements the KubeBackend interface of ``dask_k8s_lab.server.service``: objects live in a
dict, every change is delivered to the service as a watch event, and creating a DaskCluster
creates its default DaskWorkerGroup the way the operator does.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import datetime, timezone

from dask_k8s_common.resources import LABEL_CLUSTER, LABEL_COMPONENT, LABEL_WORKER_GROUP

KINDS = ("DaskCluster", "DaskWorkerGroup", "DaskAutoscaler", "Pod")
PLURALS = {
    "DaskCluster": "daskclusters",
    "DaskWorkerGroup": "daskworkergroups",
    "DaskAutoscaler": "daskautoscalers",
    "Pod": "pods",
}


class FakeKubeError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


def merge(target: dict, patch: dict) -> dict:
    """JSON merge patch (RFC 7386)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class FakeBackend:
    def __init__(self, config=None) -> None:
        self.config = config
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.sink = None
        self.namespaces: list[str] = []
        self.calls: list[tuple] = []
        self.failures: dict[tuple[str, str], tuple[int, str]] = {}
        self.dashboard: tuple[str, int] | None = None
        self.pod_log_texts: dict[str, str] = {}
        self.event_list: list[dict] = []
        self.forgotten: list[tuple[str, str]] = []
        self._versions = itertools.count(1)

    # -- helpers for tests -----------------------------------------------------------------------

    def _fail_if_told(self, op: str, kind: str) -> None:
        if (op, kind) in self.failures:
            status, message = self.failures[(op, kind)]
            raise FakeKubeError(status, message)

    def _stamp(self, obj: dict) -> dict:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        meta["resourceVersion"] = str(next(self._versions))
        return obj

    def put(self, kind: str, obj: dict, event: str = "ADDED") -> dict:
        """Store an object as if another client (kubectl, the operator) made or changed it."""
        obj = self._stamp(copy.deepcopy(obj))
        meta = obj["metadata"]
        self.objects[(kind, meta["namespace"], meta["name"])] = obj
        if self.sink is not None:
            self.sink.on_event(kind, event, copy.deepcopy(obj))
        return obj

    def remove(self, kind: str, namespace: str, name: str) -> None:
        obj = self.objects.pop((kind, namespace, name), None)
        if obj is not None and self.sink is not None:
            self.sink.on_event(kind, "DELETED", copy.deepcopy(obj))

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        return self.objects.get((kind, namespace, name))

    def add_worker_pod(self, namespace: str, cluster: str, group: str, index: int, ready: bool = True, **status) -> dict:
        pod = {
            "metadata": {
                "name": f"{cluster}-{group}-worker-{index}",
                "namespace": namespace,
                "labels": {
                    LABEL_CLUSTER: cluster,
                    LABEL_COMPONENT: "worker",
                    LABEL_WORKER_GROUP: f"{cluster}-{group}",
                },
            },
            "spec": {"containers": [{"name": "worker", "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}]},
            "status": {
                "phase": "Running" if ready else "Pending",
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                **status,
            },
        }
        return self.put("Pod", pod)

    # -- KubeBackend -----------------------------------------------------------------------------

    async def default_namespace(self) -> str:
        return "default"

    async def start(self, namespaces, sink) -> None:
        self.sink = sink
        self.namespaces = list(namespaces)
        for kind in KINDS:
            for namespace in namespaces:
                items = [copy.deepcopy(o) for (k, ns, _), o in self.objects.items() if k == kind and ns == namespace]
                sink.on_replace(kind, namespace, items)
                sink.on_synced(kind, namespace)

    async def create(self, manifest: dict) -> dict:
        kind = manifest["kind"]
        self.calls.append(("create", kind, manifest["metadata"]["name"]))
        self._fail_if_told("create", kind)
        meta = manifest["metadata"]
        if (kind, meta["namespace"], meta["name"]) in self.objects:
            raise FakeKubeError(409, f'{PLURALS[kind]}.kubernetes.dask.org "{meta["name"]}" already exists')
        obj = self.put(kind, manifest)
        if kind == "DaskCluster":  # the operator's first move
            name = meta["name"]
            self.put(
                "DaskWorkerGroup",
                {
                    "apiVersion": manifest["apiVersion"],
                    "kind": "DaskWorkerGroup",
                    "metadata": {
                        "name": f"{name}-default",
                        "namespace": meta["namespace"],
                        "labels": {LABEL_CLUSTER: name},
                        "ownerReferences": [{"kind": "DaskCluster", "name": name, "uid": obj["metadata"]["uid"]}],
                    },
                    "spec": {"cluster": name, "worker": copy.deepcopy(manifest["spec"]["worker"])},
                },
            )
        return copy.deepcopy(obj)

    async def patch(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
        self.calls.append(("patch", kind, name, copy.deepcopy(patch)))
        self._fail_if_told("patch", kind)
        obj = self.objects.get((kind, namespace, name))
        if obj is None:
            raise FakeKubeError(404, f'{PLURALS[kind]}.kubernetes.dask.org "{name}" not found')
        return copy.deepcopy(self.put(kind, merge(copy.deepcopy(obj), patch), "MODIFIED"))

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        self.calls.append(("delete", kind, name))
        self._fail_if_told("delete", kind)
        obj = self.objects.get((kind, namespace, name))
        if obj is None:
            raise FakeKubeError(404, f'{PLURALS[kind]}.kubernetes.dask.org "{name}" not found')
        self.remove(kind, namespace, name)
        uid = obj["metadata"]["uid"]
        for key, child in list(self.objects.items()):  # the garbage collector
            owners = child["metadata"].get("ownerReferences") or []
            labels = child["metadata"].get("labels") or {}
            if any(o.get("uid") == uid for o in owners) or (
                kind == "DaskCluster" and key[0] == "Pod" and labels.get(LABEL_CLUSTER) == name
            ):
                self.remove(*key)

    async def pod_logs(self, namespace, pod, container, tail_lines, previous=False) -> str:
        self.calls.append(("logs", pod, container, tail_lines, previous))
        if pod not in self.pod_log_texts:
            raise FakeKubeError(400, f'container in pod "{pod}" is waiting to start')
        return "\n".join(self.pod_log_texts[pod].splitlines()[-tail_lines:])

    async def events(self, namespace: str, field_selector: str | None = None) -> list[dict]:
        self._fail_if_told("list", "Event")
        wanted = dict(term.split("=", 1) for term in (field_selector or "").split(",") if term)
        return [copy.deepcopy(e) for e in self.event_list
                if all(e.get(path.split(".")[0], {}).get(path.split(".")[1]) == value for path, value in wanted.items())]

    async def dashboard_target(self, namespace, cluster, scheduler_pod) -> tuple[str, int]:
        if self.dashboard is None:
            raise FakeKubeError(404, f'services "{cluster}-scheduler" not found')
        return self.dashboard

    async def forget_cluster(self, namespace, cluster) -> None:
        self.forgotten.append((namespace, cluster))

    async def close(self) -> None:
        self.sink = None
