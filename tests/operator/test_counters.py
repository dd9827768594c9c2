"""The API request counters the liveness endpoint reports are kept by the kube helpers
themselves (nothing of kr8s is overridden)."""

from __future__ import annotations

import inspect

from dask_k8s_operator import counters, kube


class FakeObject:
    endpoint, namespace, name = "daskclusters", "ns-count", "c1"

    def __init__(self):
        self.calls = []

    async def patch(self, patch, **kwargs):
        self.calls.append(("patch", patch, kwargs))

    async def delete(self, **kwargs):
        self.calls.append(("delete", kwargs))


async def test_each_helper_counts_its_request_by_verb_resource_and_namespace(monkeypatch):
    monkeypatch.setattr(counters, "REQUESTS", {"count": 0})
    monkeypatch.setattr(counters, "BY_KIND", {})
    monkeypatch.setattr(counters, "BY_NAMESPACE", {})
    obj = FakeObject()
    await kube.patch(obj, {"spec": {}})
    await kube.patch_status(obj, {"phase": "Running"})
    await kube.delete(obj)
    assert [call[0] for call in obj.calls] == ["patch", "patch", "delete"]
    assert obj.calls[1][2] == {"subresource": "status"}
    assert counters.REQUESTS["count"] == 3
    assert counters.BY_KIND == {"patch daskclusters": 1, "patch daskclusters/status": 1,
                                "delete daskclusters": 1}
    assert counters.BY_NAMESPACE == {"ns-count": counters.BY_KIND}


def test_the_shared_client_is_left_as_kr8s_made_it():
    source = inspect.getsource(kube)
    assert "call_api =" not in source and "_dask_operator_counted" not in source
    assert kube.REQUESTS is counters.REQUESTS  # what handlers.stats reports
