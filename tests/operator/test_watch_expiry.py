"""The operator's cache and calls when the API server misbehaves: watch gaps, 410 Gone and calls
that never return. The cache, its watches and the reconcilers run in this process against the
real API server through a proxy (tests/fixtures/apiproxy.py); the operator in the cluster keeps
running too, which the assertions allow for (it never creates children for a deleted cluster)."""

from __future__ import annotations

import asyncio
import contextlib

import kr8s.asyncio
import pytest
from kr8s.asyncio.objects import ConfigMap, Pod, Service

from dask_k8s_common import watching
from dask_k8s_common.resources import LABEL_CLUSTER, DaskCluster
from dask_k8s_operator import handlers, kube, metadata, reconcile, store
from dask_k8s_operator.reconcile import children
from dask_k8s_operator.workqueue import WorkQueue
from tests.fixtures.apiproxy import api_proxy
from tests.operator.helpers import small_cluster
from tests.fixtures import waiting

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300), pytest.mark.usefixtures("dask_operator")]

TIMEOUTS = watching.Timeouts(request=2.0, watch=3.0)
BOUND = 60.0  # a wait that proves "it did not hang"; timings go to bench/faults.py



async def until(predicate, what: str, bound: float = BOUND):
    return await waiting.until(predicate, what, bound)


@pytest.fixture
async def proxy(kube):
    async with api_proxy() as proxy:
        yield proxy


@pytest.fixture
async def proxied(proxy, namespace, tmp_path):
    """A kr8s client that talks to the API server through the proxy."""
    path = proxy.kubeconfig(tmp_path, namespace)
    return await watching.connect(lambda: kr8s.asyncio.api(kubeconfig=path), TIMEOUTS)


@pytest.fixture
def cache():
    store.clear()
    tasks: list[asyncio.Task] = []
    pruned: list[tuple[str, str]] = []

    def start(client, plural: str, namespace: str) -> None:
        kind, selector = handlers.CACHED[plural]
        tasks.append(asyncio.ensure_future(store.follow(
            lambda: _ready(client), plural, kind, namespace, selector, TIMEOUTS,
            lambda plural, body: pruned.append((plural, body["metadata"]["name"])))))

    yield start, pruned
    for task in tasks:
        task.cancel()
    store.clear()


async def _ready(client):
    return client


async def _cluster(namespace: str, name: str) -> DaskCluster:
    cluster = await DaskCluster(small_cluster(name, workers=0), namespace=namespace)
    await cluster.create()
    return cluster


async def _our_pods(namespace: str, cluster: str) -> list[dict]:
    client = await kr8s.asyncio.api()
    return [p.raw async for p in client.async_get(Pod, namespace=namespace, label_selector={LABEL_CLUSTER: cluster})]


async def test_a_cluster_deleted_in_a_watch_gap_gets_no_children(proxy, proxied, cache, namespace):
    start, pruned = cache
    start(proxied, "daskclusters", namespace)
    start(proxied, "pods", namespace)
    cluster = await _cluster(namespace, "gap")
    await until(lambda: store.get("pods", namespace, "gap-scheduler"), "the scheduler pod in the cache")
    assert store.fresh("daskclusters", namespace)

    # the API server goes away for this process's watches; meanwhile the cluster is deleted
    proxy.freeze()
    proxy.cut()
    await until(lambda: not store.fresh("daskclusters", namespace), "the cache noticing the gap")
    await cluster.delete(propagation_policy="Foreground")
    await until(lambda: _none(_our_pods(namespace, "gap")), "the cluster's pods gone")
    assert store.get("daskclusters", namespace, "gap") is not None  # the cache missed the deletion

    # a reconcile now (a resync, say) must not act on the cached cluster
    assert await reconcile.reconcile_cluster(namespace, "gap") == reconcile.GONE
    assert await _our_pods(namespace, "gap") == []

    # when the API server is back, the cache lists again and drops what it missed
    proxy.thaw()
    await until(lambda: {("daskclusters", "gap"), ("pods", "gap-scheduler")} <= set(pruned),
                "the deleted cluster and its pod pruned from the cache")
    assert store.get("daskclusters", namespace, "gap") is None
    assert store.get("pods", namespace, "gap-scheduler") is None


async def _none(pods) -> bool:
    return not await pods


async def test_an_expired_watch_lists_once(proxy, proxied, cache, namespace):
    start, _ = cache

    def clusters(seen):
        return seen.path.endswith(f"/namespaces/{namespace}/daskclusters")

    start(proxied, "daskclusters", namespace)
    await until(lambda: store.fresh("daskclusters", namespace), "the first list")
    assert proxy.count(lambda s: clusters(s) and not s.watch) == 1
    expired: set[str] = set()

    def expire(seen):  # the version the next watch starts from is too old, for every retry too
        if not clusters(seen):
            return False
        if not expired:
            expired.add(seen.query.get("resourceVersion", ""))
        return seen.query.get("resourceVersion", "") in expired

    watches = proxy.count(lambda s: clusters(s) and s.watch)
    proxy.expire = expire
    await until(lambda: proxy.count(lambda s: clusters(s) and s.watch) >= watches + 2, "a watch after the relist")
    await _cluster(namespace, "after-expiry")
    await until(lambda: store.get("daskclusters", namespace, "after-expiry"), "the new cluster through the new watch")
    assert proxy.count(lambda s: clusters(s) and not s.watch) == 2  # one relist, not a loop


async def test_a_hanging_call_does_not_hold_up_other_clusters(proxy, proxied, namespace, monkeypatch):
    store.clear()  # no watch keeps the cache: every read goes to the API server (through the proxy)
    monkeypatch.setitem(kube._apis, id(asyncio.get_running_loop()), proxied)
    proxy.hang = lambda seen: seen.method == "GET" and seen.path.endswith("/daskclusters/slow")
    await _cluster(namespace, "slow")
    await _cluster(namespace, "quick")
    queue = WorkQueue()
    queue.register("daskclusters", reconcile.reconcile_cluster)
    failures: list[tuple[tuple, BaseException]] = []

    async def failed(key, exc):
        failures.append((key, exc))

    queue.on_error(failed)
    queue.trigger("daskclusters", namespace, "slow")
    try:
        await asyncio.wait_for(queue.run_now("daskclusters", namespace, "quick"), BOUND)
        assert ("daskclusters", namespace, "quick") in queue.tracked()
        await until(lambda: failures, "the hanging call failing")
        (key, exc), = failures
        assert key == ("daskclusters", namespace, "slow") and watching.is_timeout(exc), exc
    finally:
        with contextlib.suppress(Exception):
            await queue.stop()


async def test_a_creation_whose_answer_was_lost_is_reported_when_found(proxy, proxied, namespace, monkeypatch):
    """A create that reached the API server but lost its answer (a timeout) failed as far as the
    reconcile knew; the next reconcile finds the child, and only then can say it was created."""
    store.clear()  # every read goes to the API server
    monkeypatch.setitem(kube._apis, id(asyncio.get_running_loop()), proxied)
    owner = await ConfigMap({"metadata": {"name": "owner"}}, namespace=namespace)  # no operator acts on it
    await owner.create()
    owner = kube.Obj(ConfigMap, owner.raw)
    manifest = {"metadata": {"name": "lost", "namespace": namespace,
                             "ownerReferences": [metadata.owner_reference(owner.raw)]},
                "spec": {"ports": [{"port": 8786}]}}
    proxy.lose = lambda seen: seen.method == "POST" and seen.path.endswith("/services")
    assert await children.create_child(owner, Service, manifest, "scheduler service", "ServiceCreated") is None
    assert await kube.fetch(Service, "lost", namespace) is not None  # the create did happen
    proxy.lose = lambda seen: False

    for _ in range(2):  # found twice: said once
        service, created = await children.ensure(owner, Service, manifest, "scheduler service", "ServiceCreated")
        assert service is not None and not created
    reasons = [(e["reason"], e["message"]) for e in await _events(namespace, "owner")]
    assert ("ServiceCreated", "created scheduler service lost") in reasons, reasons
    assert [r for r, _ in reasons].count("ServiceCreated") == 1
    assert "CreateRetrying" in [r for r, _ in reasons]


async def _events(namespace: str, involved: str) -> list[dict]:
    client = await kr8s.asyncio.api()
    return [e.raw async for e in client.async_get("events", namespace=namespace,
                                                  field_selector=f"involvedObject.name={involved}")]
