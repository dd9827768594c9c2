"""Against real RBAC: a user who may only watch gets the list, and a 403 that names what is missing."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml
from kr8s.asyncio.objects import Role, RoleBinding, ServiceAccount

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WATCHED = ["daskclusters", "daskworkergroups", "daskautoscalers"]


@pytest.fixture
async def viewer_kubeconfig(namespace, dask_operator, tmp_path) -> str:
    """A kubeconfig for a ServiceAccount that may get/list/watch the Dask objects and pods, nothing more."""
    await (await ServiceAccount({"metadata": {"name": "viewer", "namespace": namespace}})).create()
    await (await Role({
        "metadata": {"name": "dask-viewer", "namespace": namespace},
        "rules": [
            {"apiGroups": ["kubernetes.dask.org"], "resources": WATCHED, "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list", "watch"]},
        ],
    })).create()
    await (await RoleBinding({
        "metadata": {"name": "dask-viewer", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "dask-viewer"},
        "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
    })).create()
    token = subprocess.run(
        ["kubectl", "create", "token", "viewer", "-n", namespace], check=True, capture_output=True, text=True
    ).stdout.strip()
    with open(os.environ["KUBECONFIG"]) as f:
        admin = yaml.safe_load(f)
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "viewer", "user": {"token": token}}],
        "contexts": [{"name": "viewer", "context": {"cluster": cluster["name"], "user": "viewer", "namespace": namespace}}],
        "current-context": "viewer",
    }
    path = tmp_path / "viewer-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture
def jp_server_config(namespace, viewer_kubeconfig):
    return {
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
        "DaskK8sLab": {"namespaces": [namespace], "kubeconfig": viewer_kubeconfig},
    }


async def test_viewer_lists_but_cannot_create(api, namespace):
    status, body = await api("GET", "clusters")
    assert status == 200 and body == {"clusters": [], "stale": None}
    status, body = await api("POST", "clusters", body={"name": "not-allowed"})
    assert status == 403
    assert 'cannot create resource "daskclusters"' in body["message"], body
    assert namespace in body["message"]
