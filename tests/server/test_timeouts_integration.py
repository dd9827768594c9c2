"""Bounded Kubernetes calls and watch recovery of the server extension, against the real API
server behind a proxy that can stop answering or expire a watch (tests/fixtures/apiproxy.py)."""

from __future__ import annotations

import asyncio

import pytest
from dask_k8s_lab import specs
from dask_k8s_common.resources import DaskCluster
from tests.fixtures.apiproxy import api_proxy, kubeconfig_for, silent_listener
from tests.fixtures import waiting

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TIMEOUT = 2.0  # request_timeout the servers here run with
# a wait that proves "it did not hang", far above the configured bound (timings go to bench/faults.py)
BOUND = 10 * TIMEOUT


def server_config(kubeconfig: str, namespace: str) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
        "DaskK8sLab": {"namespaces": [namespace], "kubeconfig": kubeconfig,
                       "request_timeout": TIMEOUT, "watch_timeout": 3.0},
    }



async def until(predicate, what: str, bound: float = BOUND):
    return await waiting.until(predicate, what, bound)


class TestSilentEndpoint:
    @pytest.fixture
    async def silent(self):
        async with silent_listener() as url:
            yield url

    @pytest.fixture
    def jp_server_config(self, silent, namespace, tmp_path):
        path = tmp_path / "kubeconfig"
        path.write_text(kubeconfig_for(silent, namespace))
        return server_config(str(path), namespace)

    async def test_calls_fail_instead_of_hanging(self, api, namespace):
        status, body = await asyncio.wait_for(api("GET", "clusters"), BOUND)
        assert status == 503 and "cannot watch Kubernetes" in body["message"], body
        status, body = await asyncio.wait_for(api("POST", "clusters", body={"name": "never"}), BOUND)
        assert status == 503, body


class TestProxied:
    @pytest.fixture
    async def proxy(self, kube):
        async with api_proxy() as proxy:
            yield proxy

    @pytest.fixture
    def jp_server_config(self, proxy, namespace, dask_operator, tmp_path):
        return server_config(proxy.kubeconfig(tmp_path, namespace), namespace)

    async def test_stale_rises_when_the_api_stops_answering(self, api, proxy, namespace):
        status, body = await api("GET", "clusters")
        assert status == 200 and body["stale"] is None, body

        proxy.freeze()
        status, body = await asyncio.wait_for(api("POST", "clusters", body={"name": "frozen"}), BOUND)
        assert status == 504 and "did not answer in time" in body["message"], body

        async def stale():
            status, body = await api("GET", "clusters")
            return status == 200 and body["stale"]

        reason = await until(stale, "the list flagged stale")
        assert "Timeout" in reason or "no answer" in reason, reason

        proxy.thaw()

        async def fresh():
            status, body = await api("GET", "clusters")
            return status == 200 and body["stale"] is None

        await until(fresh, "the stale flag cleared")
        status, _ = await api("POST", "clusters", body={"name": "thawed", "n_workers": 0})
        assert status == 201

    async def test_an_expired_watch_lists_once(self, api, proxy, namespace):
        def clusters(seen):
            return seen.path.endswith(f"/namespaces/{namespace}/daskclusters")

        status, _ = await api("GET", "clusters")
        assert status == 200
        assert proxy.count(lambda s: clusters(s) and not s.watch) == 1
        expired: set[str] = set()

        def expire(seen):
            """Like the API server after a compaction: the version the next watch starts from
            is too old, for that watch and every retry from the same version."""
            if not clusters(seen):
                return False
            if not expired:
                expired.add(seen.query.get("resourceVersion", ""))
            return seen.query.get("resourceVersion", "") in expired

        watches = proxy.count(lambda s: clusters(s) and s.watch)
        # the server ends each watch after watch_timeout; the next one, from the last version
        # seen, is answered with 410 Gone: the informer must list again once, then watch
        proxy.expire = expire
        await until(lambda: proxy.count(lambda s: clusters(s) and s.watch) >= watches + 2, "a watch after the relist")
        # the new watch works: a cluster made elsewhere shows up through it
        manifest = specs.make_cluster_spec(name="after-expiry", n_workers=0)
        await (await DaskCluster(manifest, namespace=namespace)).create()

        async def listed():
            status, body = await api("GET", "clusters")
            return "after-expiry" in [c["name"] for c in body["clusters"]]

        await until(listed, "the cluster made after the expiry")
        assert expired, "the proxy never expired a watch"
        assert proxy.count(lambda s: clusters(s) and not s.watch) == 2  # one relist, not a loop

