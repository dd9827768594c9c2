"""Two users on one JupyterHub (deploy/local-hub): each logs in, gets a JupyterLab pod from
KubeSpawner, creates a cluster from the sidebar and sees only their own.

The hub runs on this host with its own state folder, free ports and a namespace of its own; its
user servers are pods of the local Kubernetes (ui-tests/run.sh sets KUBECONFIG).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, READY_TIMEOUT_MS, _free_port, card, fill_form, kubectl, open_sidebar

ROOT = Path(__file__).resolve().parents[1]
HUB_NAMESPACE = os.environ.get("DK8S_UI_HUB_NAMESPACE", "dk8s-hub-ui")
USERS = ("alice", "bob")
SPAWN_TIMEOUT_MS = 300_000


def _clear_namespace() -> None:
    kubectl("delete", "daskclusters", "--all", "-n", HUB_NAMESPACE, "--wait=false", check=False)
    kubectl("delete", "pods", "-l", "component=singleuser-server", "-n", HUB_NAMESPACE, "--wait=false", check=False)
    for user in USERS:  # per-user namespaces
        kubectl("delete", "namespace", f"{HUB_NAMESPACE}-{user}", "--wait=false", check=False)


@pytest.fixture
def hub(request):
    """`jupyterhub -f deploy/local-hub/jupyterhub_config.py` for alice and bob; parametrize
    with True for a namespace per user."""
    user_namespaces = getattr(request, "param", False)
    if kubectl("get", "namespace", HUB_NAMESPACE, check=False).returncode != 0:
        kubectl("create", "namespace", HUB_NAMESPACE)
    kubectl("apply", "-n", HUB_NAMESPACE, "-f", str(ROOT / "deploy" / "jupyterhub" / "rbac.yaml"))
    _clear_namespace()
    for user in USERS:
        deadline = time.monotonic() + 120
        while kubectl("get", "namespace", f"{HUB_NAMESPACE}-{user}", check=False).returncode == 0:
            assert time.monotonic() < deadline, "a namespace of an earlier run is still terminating"
            time.sleep(1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    state = tempfile.mkdtemp(prefix="dk8s-hub-")
    port = _free_port()
    env = {
        **os.environ,
        "DK8S_HUB_STATE": state,
        "DK8S_HUB_NAMESPACE": HUB_NAMESPACE,
        "DK8S_HUB_USERS": ",".join(USERS),
        "DK8S_HUB_PASSWORD": secrets.token_urlsafe(12),
        "DK8S_HUB_PORT": str(port),
        "DK8S_HUB_API_PORT": str(_free_port()),
        "DK8S_HUB_PROXY_API_PORT": str(_free_port()),
        "DK8S_HUB_USER_NAMESPACES": "1" if user_namespaces else "0",
    }
    jupyterhub = Path(sys.executable).with_name("jupyterhub")
    log = open(ARTIFACTS / "jupyterhub.log", "w")
    proc = subprocess.Popen(
        [str(jupyterhub), "-f", str(ROOT / "deploy" / "local-hub" / "jupyterhub_config.py")],
        cwd=state, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyterhub exited with {proc.returncode}; see {ARTIFACTS / 'jupyterhub.log'}")
        try:
            with urllib.request.urlopen(f"{url}/hub/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("jupyterhub did not answer /hub/health within 60 s")
        time.sleep(0.3)
    namespaces = {user: f"{HUB_NAMESPACE}-{user}" if user_namespaces else HUB_NAMESPACE for user in USERS}
    yield {"url": url, "password": env["DK8S_HUB_PASSWORD"], "namespace": HUB_NAMESPACE, "namespaces": namespaces}
    os.killpg(proc.pid, signal.SIGTERM)  # the hub stops the users' pods on the way out
    try:
        proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()
    _clear_namespace()


def log_in_and_spawn(page, hub: dict, user: str) -> None:
    """Log in with the hub's form and ask for the server; returns while it starts."""
    page.set_default_timeout(30000)
    page.goto(f"{hub['url']}/hub/login")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(hub["password"])
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(lambda url: "/hub/login" not in url)
    page.goto(f"{hub['url']}/hub/spawn/{user}")


def wait_for_lab(page, hub: dict, user: str) -> None:
    page.wait_for_url(f"**/user/{user}/lab**", timeout=SPAWN_TIMEOUT_MS)
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=120000)
    open_sidebar(page)


def create_from_sidebar(page, name: str, workers: int) -> None:
    page.get_by_test_id("new-cluster").click()
    dialog = page.locator(".jp-Dialog")
    fill_form(dialog, name=name, workers=str(workers))
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_have_count(0)


def api_status(page, hub: dict, user: str, method: str, path: str, body: dict | None = None) -> int:
    """A REST call from the page, as the front end makes it (cookie + Jupyter's XSRF token)."""
    return page.evaluate(
        """async ([method, url, body]) => {
            const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1];
            const headers = xsrf ? {'X-XSRFToken': decodeURIComponent(xsrf)} : {};
            const response = await fetch(url, {method, headers, body: body === null ? undefined : JSON.stringify(body)});
            return response.status;
        }""",
        [method, f"{hub['url']}/user/{user}/dask-k8s/{path}", body],
    )


def gone(kind: str, name: str, ns: str) -> bool:
    return kubectl("get", kind, name, "-n", ns, check=False).returncode != 0


def test_two_users_see_only_their_own_clusters(hub, browser):
    ns = hub["namespaces"]["alice"]
    contexts = {user: browser.new_context(viewport={"width": 1400, "height": 900}) for user in USERS}
    pages = {user: context.new_page() for user, context in contexts.items()}
    shots_dir = ARTIFACTS / "test_hub"
    shots_dir.mkdir(parents=True, exist_ok=True)

    def shot(user: str, step: str) -> None:
        pages[user].screenshot(path=str(shots_dir / f"{user}-{step}.png"))

    try:
        for user in USERS:  # both servers start at once
            log_in_and_spawn(pages[user], hub, user)
        for user in USERS:
            wait_for_lab(pages[user], hub, user)
            shot(user, "lab")
        pod = kubectl("get", "pod", "jupyter-alice", "-n", ns, "-o", "jsonpath={.spec.serviceAccountName}").stdout
        assert pod == "dask-k8s-lab-user"

        for user in USERS:
            create_from_sidebar(pages[user], f"{user}-cluster", workers=1 if user == "alice" else 0)
        for user in USERS:
            item = card(pages[user], f"{user}-cluster", ns)
            expect(item.get_by_test_id("phase")).to_have_text("Running", timeout=READY_TIMEOUT_MS)
            shot(user, "running")
        owners = kubectl(
            "get", "daskclusters", "-n", ns, "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.metadata.annotations.kubernetes\\.dask\\.org/owner} {end}",
        ).stdout.split()
        assert sorted(owners) == ["alice-cluster=alice", "bob-cluster=bob"]

        # Each sidebar lists its user's cluster only (the other one has long been watched).
        for user, other in (("alice", "bob"), ("bob", "alice")):
            expect(card(pages[user], f"{other}-cluster", ns)).to_have_count(0)
            expect(pages[user].locator("[data-testid^='cluster-']")).to_have_count(1)

        # bob's own server answers for alice's cluster as for one that does not exist ...
        assert api_status(pages["bob"], hub, "bob", "GET", f"clusters/{ns}/alice-cluster") == 404
        assert api_status(pages["bob"], hub, "bob", "DELETE", f"clusters/{ns}/alice-cluster") == 404
        assert api_status(pages["bob"], hub, "bob", "GET", f"dashboard/{ns}/alice-cluster/status") == 404
        assert api_status(pages["bob"], hub, "bob", "GET", f"clusters/{ns}/bob-cluster") == 200
        # ... and alice's server is not his to use.
        response = pages["bob"].request.get(f"{hub['url']}/user/alice/dask-k8s/clusters", max_redirects=0)
        assert response.status in (302, 403, 404), response.status
        assert b'"clusters"' not in response.body()
        assert kubectl("get", "daskcluster", "alice-cluster", "-n", ns, check=False).returncode == 0
        shot("bob", "after-probing-alice")

        # alice opens a plot of her dashboard through the hub's URL, in the sandboxed frame.
        lab = pages["alice"]
        item = card(lab, "alice-cluster", ns)
        expect(item.get_by_test_id("workers")).to_have_text("1/1 workers", timeout=READY_TIMEOUT_MS)
        item.click()
        task_stream = lab.locator(".dk8s-PlotButton", has_text="Task Stream").first
        expect(task_stream).to_be_visible(timeout=60000)
        task_stream.click()
        frame = lab.locator(".dk8s-Dashboard iframe")
        expect(frame).to_have_attribute("sandbox", "allow-scripts allow-popups allow-downloads")
        expect(lab.frame_locator(".dk8s-Dashboard iframe").locator("canvas").first).to_be_visible(timeout=60000)
        assert f"/user/alice/dask-k8s/dashboard/{ns}/alice-cluster/" in frame.get_attribute("src")
        shot("alice", "dashboard")

        # ... and computes on her cluster from a notebook in her server's pod.
        open_sidebar(lab)
        item.get_by_test_id("inject").click()
        cells = lab.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
        expect(cells.first).to_contain_text("KubeCluster.from_name", timeout=30000)
        expect(lab.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=120000)
        cells.first.locator(".jp-InputPrompt").click()
        lab.keyboard.press("b")
        expect(cells).to_have_count(2)
        lab.keyboard.press("Enter")
        lab.keyboard.type("import os; (client.submit(sum, [40, 2]).result(), os.environ['JUPYTERHUB_USER'], cluster.dashboard_link)")
        lab.locator("#jp-MainMenu").get_by_text("Run", exact=True).click()
        lab.locator(".lm-Menu").get_by_text("Run All Cells", exact=True).click()
        link = f"/user/alice/dask-k8s/dashboard/{ns}/alice-cluster/status"  # through the hub, to the safe proxy
        expect(cells.nth(1).locator(".jp-OutputArea-output")).to_contain_text(f"(42, 'alice', '{link}')", timeout=180000)
        shot("alice", "computed")

        # Her clusters stop with her server, except one she asked to keep; bob's are not hers.
        assert api_status(lab, hub, "alice", "POST", "clusters", {"name": "alice-keep", "n_workers": 0, "keep": True}) == 201
        references = "jsonpath={.metadata.ownerReferences[*].kind}/{.metadata.ownerReferences[*].name}"
        assert kubectl("get", "daskcluster", "alice-cluster", "-n", ns, "-o", references).stdout == "Pod/jupyter-alice"
        assert kubectl("get", "daskcluster", "alice-keep", "-n", ns, "-o", references).stdout == "/"
        open_sidebar(lab)  # the sidebar says which will go
        expect(card(lab, "alice-cluster", ns).get_by_test_id("stops-with-server")).to_have_text("stops with server")
        expect(card(lab, "alice-keep", ns)).to_be_visible()
        expect(card(lab, "alice-keep", ns).get_by_test_id("stops-with-server")).to_have_count(0)
        shot("alice", "stops-with-server")
        lab.goto(f"{hub['url']}/hub/home")
        lab.locator("#stop").click()
        deadline = time.monotonic() + 120
        while not (gone("pod", "jupyter-alice", ns) and gone("daskcluster", "alice-cluster", ns)):
            assert time.monotonic() < deadline, "alice's server or cluster outlived the stop"
            time.sleep(1)
        while kubectl("get", "pods", "-n", ns, "-l", "dask.org/cluster-name=alice-cluster", "-o", "name").stdout.strip():
            assert time.monotonic() < deadline + 60, "alice's cluster pods outlived her server"
            time.sleep(1)
        assert not gone("daskcluster", "alice-keep", ns) and not gone("daskcluster", "bob-cluster", ns)
        shot("alice", "stopped")
    finally:
        for context in contexts.values():
            context.close()


@pytest.mark.parametrize("hub", [True], indirect=True, ids=["user-namespaces"])
def test_a_namespace_per_user(hub, browser):
    """KubeSpawner's user namespaces: the same images and RBAC, one namespace each; neither
    user's account can read the other's namespace."""
    namespaces = hub["namespaces"]
    contexts = {user: browser.new_context(viewport={"width": 1400, "height": 900}) for user in USERS}
    pages = {user: context.new_page() for user, context in contexts.items()}
    try:
        for user in USERS:
            log_in_and_spawn(pages[user], hub, user)
        for user in USERS:
            wait_for_lab(pages[user], hub, user)
            assert kubectl("get", "pod", f"jupyter-{user}", "-n", namespaces[user], "-o", "name").stdout.strip()
            create_from_sidebar(pages[user], f"{user}-cluster", workers=0)
        for user, other in (("alice", "bob"), ("bob", "alice")):
            item = card(pages[user], f"{user}-cluster", namespaces[user])
            expect(item.get_by_test_id("phase")).to_have_text("Running", timeout=READY_TIMEOUT_MS)
            expect(pages[user].locator("[data-testid^='cluster-']")).to_have_count(1)
            path = f"clusters/{namespaces[other]}/{other}-cluster"
            assert api_status(pages[user], hub, user, "GET", path) == 404
            assert api_status(pages[user], hub, user, "POST", "clusters", {"name": "x", "namespace": namespaces[other]}) == 403
            pages[user].screenshot(path=str(ARTIFACTS / "test_hub" / f"ns-{user}-running.png"))
        # With the account their servers run as, each reads their own namespace only.
        server = kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}").stdout
        for user, other in (("alice", "bob"), ("bob", "alice")):
            token = kubectl("create", "token", "dask-k8s-lab-user", "-n", namespaces[user]).stdout.strip()

            def read(namespace: str) -> int:
                request = urllib.request.Request(
                    f"{server}/apis/kubernetes.dask.org/v1/namespaces/{namespace}/daskclusters",
                    headers={"Authorization": f"Bearer {token}"},
                )
                try:
                    with urllib.request.urlopen(request, context=_unverified(), timeout=10) as r:
                        return r.status
                except urllib.error.HTTPError as e:
                    return e.code

            assert read(namespaces[user]) == 200
            assert read(namespaces[other]) == 403
        assert kubectl("get", "daskclusters", "-n", namespaces["alice"], "-o", "name").stdout.split() == [
            "daskcluster.kubernetes.dask.org/alice-cluster"
        ]
    finally:
        for context in contexts.values():
            context.close()


def _unverified():
    """The token is what is being checked here, not the server's certificate."""
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
