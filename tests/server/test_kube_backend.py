"""Kr8sBackend's informer loop against a scripted stand-in for the kr8s client (no cluster)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from dask_k8s_lab.server.config import DaskK8sLab
from dask_k8s_lab.server.kube import Kr8sBackend
from dask_k8s_lab.server.service import ClusterService


def cluster(name: str, version: str) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": version}, "status": {"phase": "Running"}}


class ScriptedApi:
    """Lists return the next scripted snapshot; watches stream scripted events, then fail or end."""

    def __init__(self, lists, watches):
        self.lists, self.watches = list(lists), list(watches)
        self.watch_since: list[str | None] = []
        self.namespace = "ns"

    @contextlib.asynccontextmanager
    async def async_get_kind(self, cls, namespace=None, label_selector=None, params=None, watch=False, timeout=None):
        if watch:
            self.watch_since.append((params or {}).get("resourceVersion"))
            yield cls, WatchResponse(self.watches.pop(0) if self.watches else None)
            return
        items, version = self.lists.pop(0) if self.lists else ([], "0")

        class Response:
            def json(self_inner):
                return {"items": items, "metadata": {"resourceVersion": version}}

        yield cls, Response()


class WatchResponse:
    def __init__(self, script):
        self.script = script

    async def aiter_lines(self):
        if self.script is None:
            await asyncio.Event().wait()  # a quiet, healthy watch
        events, failure = self.script
        for event_type, obj in events:
            yield json.dumps({"type": event_type, "object": obj})
        if failure:
            raise failure


async def test_informer_relists_after_a_broken_watch_and_drops_what_vanished():
    backend = Kr8sBackend(DaskK8sLab(namespaces=["ns"]))
    api = ScriptedApi(
        lists=[([cluster("a", "1"), cluster("b", "2")], "10"), ([cluster("a", "1"), cluster("c", "12")], "12")],
        watches=[([("ADDED", cluster("d", "11"))], ConnectionResetError("stream reset"))],
    )
    backend._api = api
    service = ClusterService(backend.config, backend)
    service.namespaces = ["ns"]
    seen = []
    queue, _ = service.subscribe()
    task = asyncio.ensure_future(backend._informer("DaskCluster", "ns", service))
    try:
        deadline = asyncio.get_running_loop().time() + 5
        while {m["name"] for m in service.store.list_models()} != {"a", "c"}:
            assert asyncio.get_running_loop().time() < deadline, service.store.list_models()
            await asyncio.sleep(0.05)
        while not queue.empty():
            seen.append(queue.get_nowait())
    finally:
        task.cancel()
    assert api.watch_since[:2] == ["10", "12"]  # each watch resumes from its list's resourceVersion
    deleted = {(m["namespace"], m["name"]) for m in seen if m["type"] == "deleted"}
    assert deleted == {("ns", "b"), ("ns", "d")}  # gone while the watch was down: reported on relist
    assert service._watch_errors == {}  # the error was recorded, then cleared by the successful relist


def test_credentials_rejected_looks_through_wrapped_tls_errors():
    import ssl

    import httpx

    from dask_k8s_lab.server.kube import credentials_rejected

    try:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLError as tls:
            raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]") from tls
    except httpx.ConnectError as wrapped:
        assert credentials_rejected(wrapped)
    assert not credentials_rejected(ConnectionResetError("stream reset"))
    assert not credentials_rejected(httpx.ConnectError("All connection attempts failed"))
