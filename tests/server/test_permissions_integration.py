"""GET /dask-k8s/permissions against real RBAC: the deploy/ client role with and without delete."""

from __future__ import annotations

import pytest

from tests.fixtures.identities import deploy_client_rules, service_account_kubeconfig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(params=["without-delete", "full"])
def role(request) -> str:
    return request.param


@pytest.fixture
async def user_kubeconfig(namespace, role, tmp_path) -> str:
    rules = deploy_client_rules(without_verbs=("delete",) if role == "without-delete" else ())
    return await service_account_kubeconfig(namespace, "jupyter-user", rules, tmp_path / "kubeconfig")


@pytest.fixture
def jp_server_config(namespace, user_kubeconfig):
    return {
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
        "DaskK8sLab": {"namespaces": [namespace], "kubeconfig": user_kubeconfig},
    }


async def test_permissions_follow_the_accounts_role(api, namespace, role):
    status, body = await api("GET", "permissions", namespace=namespace)
    assert status == 200, body
    [entry] = body["permissions"]
    assert entry["namespace"] == namespace and entry["known"] is True
    actions = entry["actions"]
    assert actions["create"] == actions["scale"] == actions["logs"] == {"allowed": True}
    if role == "full":
        assert all(a == {"allowed": True} for a in actions.values()), actions
    else:
        assert actions["delete"] == {
            "allowed": False, "reason": f"your account may not delete daskclusters in {namespace}"}
        assert actions["remove_worker_group"]["allowed"] is False
    # every namespace when none is named; an unmanaged one is a 404
    status, all_of_them = await api("GET", "permissions")
    assert status == 200 and all_of_them["permissions"] == body["permissions"]
    status, body = await api("GET", "permissions", namespace="kube-system")
    assert status == 404 and "not managed" in body["message"]
