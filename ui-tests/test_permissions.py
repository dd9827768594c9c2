"""Actions by RBAC: JupyterLab running as a user whose account has the client role of deploy/
minus `delete` shows the card's delete action disabled, with the reason; with the full role it
is enabled.

Each role gets a JupyterLab server of its own whose Kubernetes identity is a ServiceAccount token
(the session's `lab_server` runs as the admin, who may do everything).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import expect

from conftest import ARTIFACTS, BASE_URL, _free_port, card, kubectl

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = os.environ.get("DK8S_UI_PERMISSIONS_NAMESPACE", "dk8s-ui-perm")
USER = "jupyter-user"
CLUSTER = "perm-demo"


def _client_rules(without_verbs: tuple[str, ...]) -> list[dict]:
    docs = yaml.safe_load_all((ROOT / "deploy" / "jupyterhub" / "rbac.yaml").read_text())
    role = next(d for d in docs if d and d["kind"] == "Role")
    rules = [{**r, "verbs": [v for v in r["verbs"] if v not in without_verbs]} for r in role["rules"]]
    return [r for r in rules if r["verbs"]]


def _user_kubeconfig(role: str, path: Path) -> Path:
    """ServiceAccount USER bound to the deploy/ client Role (minus delete unless role == "full")."""
    rules = _client_rules(() if role == "full" else ("delete",))
    manifests = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": USER, "namespace": NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": USER, "namespace": NAMESPACE}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": USER, "namespace": NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": USER},
         "subjects": [{"kind": "ServiceAccount", "name": USER, "namespace": NAMESPACE}]},
    ]
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))
    token = kubectl("create", "token", USER, "-n", NAMESPACE, "--duration=2h").stdout.strip()
    admin = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
        "users": [{"name": USER, "user": {"token": token}}],
        "contexts": [{"name": USER, "context": {"cluster": cluster["name"], "user": USER, "namespace": NAMESPACE}}],
        "current-context": USER,
    }))
    return path


@pytest.fixture(scope="module")
def cluster_to_show():
    """The namespace, with one DaskCluster (made by the admin) for the sidebar to show."""
    from dask_k8s_lab.specs import make_cluster_spec

    if kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0:
        kubectl("create", "namespace", NAMESPACE)
    manifest = make_cluster_spec(CLUSTER, n_workers=0)
    manifest["metadata"]["namespace"] = NAMESPACE
    kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    yield
    kubectl("delete", "daskclusters", "--all", "-n", NAMESPACE, "--wait=false", check=False)


@contextlib.contextmanager
def own_lab(home: Path, namespace: str, kubeconfig: Path | None = None):
    """JupyterLab managing ``namespace`` as the identity of ``kubeconfig`` (default the admin's),
    for tests that need a server configured otherwise than the session's."""
    root, app_settings = home / "root", home / "app-settings"
    root.mkdir()
    app_settings.mkdir()
    (app_settings / "overrides.json").write_text(json.dumps(  # no news toast over the screenshots
        {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}))
    config = home / "config.json"
    settings = {"namespaces": [namespace], **({"kubeconfig": str(kubeconfig)} if kubeconfig else {})}
    config.write_text(json.dumps({
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}}, "DaskK8sLab": settings}))
    port, token = _free_port(), secrets.token_hex(16)
    log = open(ARTIFACTS / f"jupyter-server-{home.name}.log", "w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", "--allow-root",
         "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", f"--ServerApp.base_url={BASE_URL}", f"--LabApp.app_settings_dir={app_settings}",
         f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", f"--config={config}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}{BASE_URL.rstrip('/')}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, f"jupyter lab exited; see {log.name}"
        try:
            request = urllib.request.Request(f"{url}/dask-k8s/permissions", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "jupyter lab did not answer /dask-k8s/permissions within 60 s"
        time.sleep(0.3)
    try:
        yield {"url": url, "token": token, "root": root, "base_url": BASE_URL}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module", params=["without-delete", "full"])
def lab_server(request, cluster_to_show, tmp_path_factory):
    """JupyterLab whose server extension acts as USER with the role of this run (overrides the
    session's admin server for this module's `lab` fixture)."""
    role = request.param
    home = tmp_path_factory.mktemp(f"lab-{role}")
    with own_lab(home, NAMESPACE, _user_kubeconfig(role, home / "kubeconfig")) as server:
        yield {**server, "role": role}


def test_delete_is_disabled_with_the_reason_without_the_delete_verb(lab, lab_server, shot):
    item = card(lab, CLUSTER, NAMESPACE)
    expect(item).to_be_visible(timeout=30000)
    delete = item.get_by_test_id("delete")
    reason = f"your account may not delete daskclusters in {NAMESPACE}"
    if lab_server["role"] == "full":
        expect(delete).to_be_enabled(timeout=15000)
        expect(item.get_by_test_id("refused")).to_have_count(0)
        expect(delete).to_have_attribute("title", "Delete the cluster")
        shot("full-role-delete-enabled")
        return
    expect(delete).to_be_disabled(timeout=15000)
    expect(delete).to_have_attribute("title", f"Delete the cluster: {reason}")
    expect(item.get_by_test_id("refused")).to_contain_text(f"Not allowed: {reason}.")
    expect(item.get_by_test_id("scale")).to_be_enabled()  # patch is in the role
    item.get_by_test_id("delete").hover(force=True)
    shot("no-delete-role-delete-disabled")
    # The Delete key on the card does nothing either: the cluster stays.
    item.focus()
    lab.keyboard.press("Delete")
    expect(lab.locator(".jp-Dialog")).to_have_count(0)
    assert kubectl("get", "daskcluster", CLUSTER, "-n", NAMESPACE, check=False).returncode == 0
