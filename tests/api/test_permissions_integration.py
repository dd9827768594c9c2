"""KubeCluster refuses what the account may not do, before trying, with the sidebar's reason."""

from __future__ import annotations

import kr8s
import pytest
from dask_k8s_common.resources import DaskCluster

from dask_k8s_lab import KubeCluster
from dask_k8s_lab.auth import KubeConfig
from dask_k8s_lab.server.kr8s_adapter import uncached_client
from tests.fixtures.identities import deploy_client_rules, service_account_kubeconfig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


class UncachedKubeConfig(KubeConfig):
    """A restricted account's kubeconfig whose client kr8s does not keep (kr8s_adapter.py), so later
    tests and fixtures that ask kr8s for its default client still act as the admin."""

    async def load(self, namespace: str | None = None) -> kr8s.asyncio.Api:
        load = super().load
        return await uncached_client(lambda: load(namespace=namespace))


async def _exists(name: str, namespace: str, admin) -> bool:
    return await DaskCluster({"metadata": {"name": name}}, namespace=namespace, api=admin).exists()


@pytest.fixture
async def admin():
    return await kr8s.asyncio.api()


async def test_close_without_delete_says_why_and_keeps_the_cluster(operated_namespace, admin, tmp_path):
    ns = operated_namespace
    config = await service_account_kubeconfig(
        ns, "no-delete", deploy_client_rules(without_verbs=("delete",)), tmp_path / "kubeconfig")
    async with KubeCluster(name="perm", namespace=ns, n_workers=0, auth=UncachedKubeConfig(config),
                           asynchronous=True, quiet=True) as cluster:
        with pytest.raises(PermissionError) as info:
            await cluster.close()
        assert str(info.value).startswith(
            f"Cannot delete KubeCluster 'perm': your account may not delete daskclusters in {ns}.")
        assert "shutdown_on_close = False" in str(info.value)
        assert await _exists("perm", ns, admin)  # nothing was tried
        cluster.shutdown_on_close = False  # the advice works: close leaves it running
    assert await _exists("perm", ns, admin)
    await DaskCluster({"metadata": {"name": "perm"}}, namespace=ns, api=admin).delete()


async def test_close_with_the_full_role_deletes(operated_namespace, admin, tmp_path):
    ns = operated_namespace
    config = await service_account_kubeconfig(ns, "full", deploy_client_rules(), tmp_path / "kubeconfig")
    cluster = await KubeCluster(name="perm-full", namespace=ns, n_workers=0, auth=UncachedKubeConfig(config),
                                asynchronous=True, quiet=True)
    await cluster.close()
    assert not await _exists("perm-full", ns, admin)


