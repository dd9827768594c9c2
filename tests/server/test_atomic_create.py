"""REST create is all or nothing, against the real API server: a worker group the API server
refuses takes the cluster made before it away again, and the error names the group."""

from __future__ import annotations

import asyncio
import os
import subprocess

import kr8s
import pytest
import yaml
from kr8s.asyncio.objects import Role, RoleBinding, ServiceAccount

from dask_k8s_common.resources import DaskCluster, DaskWorkerGroup

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
async def no_groups_kubeconfig(namespace, dask_operator, tmp_path) -> str:
    """A ServiceAccount that may make and delete DaskClusters but not DaskWorkerGroups."""
    await (await ServiceAccount({"metadata": {"name": "maker", "namespace": namespace}})).create()
    await (await Role({
        "metadata": {"name": "dask-maker", "namespace": namespace},
        "rules": [
            {"apiGroups": ["kubernetes.dask.org"], "resources": ["daskclusters"],
             "verbs": ["get", "list", "watch", "create", "delete"]},
            {"apiGroups": ["kubernetes.dask.org"], "resources": ["daskworkergroups", "daskautoscalers"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list", "watch"]},
        ],
    })).create()
    await (await RoleBinding({
        "metadata": {"name": "dask-maker", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "dask-maker"},
        "subjects": [{"kind": "ServiceAccount", "name": "maker", "namespace": namespace}],
    })).create()
    token = subprocess.run(["kubectl", "create", "token", "maker", "-n", namespace],
                           check=True, capture_output=True, text=True).stdout.strip()
    with open(os.environ["KUBECONFIG"]) as f:
        admin = yaml.safe_load(f)
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    path = tmp_path / "maker-kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
        "users": [{"name": "maker", "user": {"token": token}}],
        "contexts": [{"name": "maker", "context": {"cluster": cluster["name"], "user": "maker", "namespace": namespace}}],
        "current-context": "maker",
    }))
    return str(path)


@pytest.fixture
def jp_server_config(namespace, no_groups_kubeconfig):
    return {
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
        "DaskK8sLab": {"namespaces": [namespace], "kubeconfig": no_groups_kubeconfig},
    }


async def test_a_refused_worker_group_leaves_nothing(api, namespace):
    status, body = await api("POST", "clusters", body={
        "name": "half", "n_workers": 0, "worker_groups": [{"name": "extra", "n_workers": 1}]})
    assert status == 403, body
    assert body["field"] == "worker_groups.0" and "worker group 'extra'" in body["message"], body
    assert "Nothing was created" in body["message"], body

    with pytest.raises(kr8s.NotFoundError):
        await DaskCluster.get("half", namespace=namespace)

    async def no_groups():  # the operator may have made the default group before the delete
        while [g async for g in DaskWorkerGroup.list(namespace=namespace)]:
            await asyncio.sleep(0.2)

    await asyncio.wait_for(no_groups(), 60)

    async def unlisted():  # the watch brings the creation and then the deletion
        while True:
            status, body = await api("GET", "clusters")
            if status == 200 and "half" not in [c["name"] for c in body["clusters"]]:
                return
            await asyncio.sleep(0.2)

    await asyncio.wait_for(unlisted(), 30)
