"""The API request counters the liveness endpoint reports are kept by the kube helpers
themselves (nothing of kr8s is overridden)."""

from __future__ import annotations

import inspect
import json

from kr8s.asyncio.objects import Pod

from dask_k8s_common.resources import DaskCluster

from dask_k8s_operator import counters, kube


async def test_each_helper_counts_its_request_by_verb_resource_and_namespace(monkeypatch):
    monkeypatch.setattr(counters, "REQUESTS", {"count": 0})
    monkeypatch.setattr(counters, "BY_KIND", {})
    monkeypatch.setattr(counters, "BY_NAMESPACE", {})
    sent = []

    async def call(method, cls, url, namespace, **kwargs):
        sent.append((method, url, namespace, json.loads(kwargs["content"])))
        return {}

    monkeypatch.setattr(kube, "_call", call)
    obj = kube.ref(DaskCluster, "c1", "ns-count")
    await kube.patch(obj, {"spec": {}})
    await kube.patch_status(obj, {"phase": "Running"})
    await kube.post(Pod, {"metadata": {"name": "p", "namespace": "ns-count"}})
    await kube.delete(obj)
    assert [s[:3] for s in sent] == [("PATCH", "daskclusters/c1", "ns-count"),
                                     ("PATCH", "daskclusters/c1/status", "ns-count"),
                                     ("POST", "pods", "ns-count"),
                                     ("DELETE", "daskclusters/c1", "ns-count")]
    assert sent[1][3] == {"status": {"phase": "Running"}}
    assert sent[2][3]["kind"] == "Pod" and sent[2][3]["apiVersion"] == "v1"  # as kr8s sends it
    assert sent[3][3] == {"propagationPolicy": "Background"}
    assert counters.REQUESTS["count"] == 4
    assert counters.BY_KIND == {"patch daskclusters": 1, "patch daskclusters/status": 1,
                                "create pods": 1, "delete daskclusters": 1}
    assert counters.BY_NAMESPACE == {"ns-count": counters.BY_KIND}


def test_the_shared_client_is_left_as_kr8s_made_it():
    source = inspect.getsource(kube)
    assert "call_api =" not in source and "_dask_operator_counted" not in source
    assert kube.REQUESTS is counters.REQUESTS  # what handlers.stats reports
