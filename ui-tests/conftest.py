"""Fixtures for the browser tests: a JupyterLab server with our extensions, a Chromium page,
screenshots of every step, and kubectl for the cluster side.

The server is started here (free port, random token, temporary settings and workspaces) against
the Kubernetes in $KUBECONFIG; ui-tests/run.sh sets that up.  Every test can fail: nothing here
skips when something is missing, it errors instead.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ARTIFACTS = Path(os.environ.get("DK8S_UI_ARTIFACTS", HERE / "artifacts"))
NAMESPACE = os.environ.get("DK8S_UI_NAMESPACE", "dk8s-ui")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Served under a prefix, as JupyterHub serves a user's server, so every URL the front end builds
# is checked against a non-root base URL.
BASE_URL = os.environ.get("DK8S_UI_BASE_URL", "/user/ui-tester/")
# Clusters start as processes on this machine; a cold start with workers takes a while on 2 cores.
READY_TIMEOUT_MS = int(os.environ.get("DK8S_UI_READY_TIMEOUT_MS", "240000"))


USER_SETTINGS = {
    "defaults": {"n_workers": 2, "env": {"FROM_DEFAULTS": "yes"}},
    "templates": [
        {
            "name": "tiny",
            "description": "One small worker",
            "n_workers": 1,
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
        }
    ],
    "refreshInterval": 3,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["kubectl", *args], input=input, text=True, capture_output=True, check=check, timeout=60
    )


@pytest.fixture(scope="session")
def namespace() -> str:
    """A namespace of their own for the UI tests, emptied of DaskClusters before and after."""
    if not os.environ.get("KUBECONFIG"):
        raise RuntimeError("KUBECONFIG is not set: run the UI tests through ui-tests/run.sh")
    if kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0:
        kubectl("create", "namespace", NAMESPACE)
    kubectl("delete", "daskclusters", "--all", "-n", NAMESPACE, "--wait=false", check=False)
    yield NAMESPACE
    kubectl("delete", "daskclusters", "--all", "-n", NAMESPACE, "--wait=false", check=False)


@pytest.fixture(scope="session")
def lab_server(namespace: str, tmp_path_factory: pytest.TempPathFactory):
    """`jupyter lab` with the dask-k8s-lab server extension, on a free port, with a token."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("lab")
    root = home / "root"
    app_settings = home / "app-settings"
    for d in (root, app_settings, home / "user-settings", home / "workspaces"):
        d.mkdir()
    # No news or update toasts over the screenshots.
    (app_settings / "overrides.json").write_text(
        json.dumps(
            {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
        )
    )
    # User settings of our plugin, as a user would write them in the Settings Editor.
    plugin_settings = home / "user-settings" / "dask-k8s-lab"
    plugin_settings.mkdir(parents=True)
    (plugin_settings / "plugin.jupyterlab-settings").write_text(json.dumps(USER_SETTINGS))
    config = home / "jupyter_server_test_config.json"
    config.write_text(
        json.dumps(
            {
                "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
                "DaskK8sLab": {"namespaces": [namespace]},
            }
        )
    )
    port = _free_port()
    token = secrets.token_hex(16)
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [
        str(jupyter) if jupyter.exists() else "jupyter",
        "lab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.base_url={BASE_URL}",
        f"--LabApp.app_settings_dir={app_settings}",
        f"--LabApp.user_settings_dir={home / 'user-settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--config={config}",
    ]
    log = open(ARTIFACTS / "jupyter-server.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}{BASE_URL.rstrip('/')}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}; see {ARTIFACTS / 'jupyter-server.log'}")
        try:
            req = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("jupyter lab did not answer /api/status within 60 s")
        time.sleep(0.3)
    # Our REST API must answer, or every test would only show the extension missing.
    req = urllib.request.Request(f"{url}/dask-k8s/clusters", headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            json.load(r)
    except Exception as e:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
        failed = [l for l in (ARTIFACTS / "jupyter-server.log").read_text().splitlines() if "dask_k8s_lab" in l]
        raise RuntimeError(f"GET /dask-k8s/clusters failed ({e}); server log:\n" + "\n".join(failed[-5:]))
    yield {"url": url, "token": token, "root": root, "base_url": BASE_URL}
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a downloaded browser."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 900}}


class Shots:
    """Numbered screenshots of each step, under artifacts/<test name>/."""

    def __init__(self, page, name: str):
        self.page = page
        self.dir = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.n = 0

    def __call__(self, step: str) -> Path:
        self.n += 1
        path = self.dir / f"{self.n:02d}-{re.sub(r'[^A-Za-z0-9_-]+', '-', step)}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def shot(page, request) -> Shots:
    shots = Shots(page, request.node.name)
    yield shots
    call = getattr(request.node, "report_call", None)
    if call is not None and call.failed:  # what the page showed when the test failed
        try:
            shots("failed")
        except Exception:  # the page may be gone
            pass


@pytest.fixture
def lab(page, lab_server, shot):
    """JupyterLab loaded (fresh workspace), our sidebar open; returns the page.

    The browser console and page errors go to artifacts/<test>/console.log."""
    console = open(shot.dir / "console.log", "w")

    def log(line: str) -> None:
        if not console.closed:  # events can still arrive while the page closes
            console.write(line + "\n")

    page.on("console", lambda m: log(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: log(f"[pageerror] {e}"))
    page.set_default_timeout(30000)
    url = f"{lab_server['url']}/lab?token={lab_server['token']}&reset"
    # Pods' network interfaces coming and going make Chromium drop requests now and then
    # (ERR_NETWORK_CHANGED, "Failed to fetch" while plugins load): load again, at most twice.
    for attempt in range(3):
        try:
            page.goto(url)
            page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=60000)
            page.locator('li[data-id="dask-k8s-sidebar"]').wait_for(timeout=20000)
            break
        except Exception as e:
            log(f"[fixture] page load {attempt + 1} failed: {e}")
            if attempt == 2:
                raise
    open_sidebar(page)
    yield page
    console.close()


def open_sidebar(page) -> None:
    tab = page.locator('li[data-id="dask-k8s-sidebar"]')
    tab.wait_for()
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    page.locator("#dask-k8s-sidebar").wait_for(state="visible")


def card(page, name: str, namespace: str = NAMESPACE):
    return page.get_by_test_id(f"cluster-{namespace}-{name}")


def delete_cluster_now(name: str, namespace: str = NAMESPACE) -> None:
    kubectl("delete", "daskcluster", name, "-n", namespace, "--ignore-not-found", "--wait=false", check=False)


def fill_form(dialog, **fields: str) -> None:
    """Fill the dialog's inputs by name, then check that each holds exactly its text before Create.
    No retries: a field holding another's text is the bug test_createform.py guards against."""
    from playwright.sync_api import expect

    for name, text in fields.items():
        dialog.locator(f'input[name="{name}"]').fill(text)
    for name, text in fields.items():
        expect(dialog.locator(f'input[name="{name}"]')).to_have_value(text)
