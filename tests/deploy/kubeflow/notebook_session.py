"""What a Kubeflow notebook user does, run inside the notebook pod by tests/deploy/test_kubeflow.py.

Starts JupyterLab as Kubeflow's notebook images do (served under ``$NB_PREFIX``), then, as code in
that notebook would: creates a Dask cluster with ``KubeCluster`` and computes on it, opens the
dashboard link it prints through the notebook server, and lists clusters through the sidebar's
REST API, where it also creates a second cluster (the test checks that it is tied to this pod).
Prints one ``RESULT <json>`` line; exits non-zero if any step fails.

Everything it relies on comes from the pod: the service account (RBAC), ``NB_PREFIX`` (set by
Kubeflow's notebook controller) and what the PodDefault added (env, the Jupyter config mount).
"""

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request

PORT = 8888
DEADLINE = 120.0  # seconds for JupyterLab to answer


def get(path: str, token: str, body: dict | None = None) -> tuple[int, str]:
    """GET ``path`` of the notebook server (POST when there is a ``body``)."""
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def wait_for_jupyter(prefix: str, token: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {server.returncode}")
        try:
            if get(f"{prefix}/api/status", token)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer within {DEADLINE:g} s")


def main() -> dict:
    prefix = os.environ["NB_PREFIX"].rstrip("/")
    token = secrets.token_hex(16)
    server = subprocess.Popen([
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={PORT}",
        f"--ServerApp.base_url={prefix}", f"--IdentityProvider.token={token}", "--ServerApp.root_dir=/tmp",
    ])
    result: dict = {"namespaces_env": os.environ.get("DASK_K8S_LAB_NAMESPACES")}
    try:
        wait_for_jupyter(prefix, token, server)
        from dask.distributed import Client

        from dask_k8s_lab import KubeCluster

        with KubeCluster(name="kf-notebook", n_workers=1) as cluster, Client(cluster) as client:
            result["sum"] = client.submit(sum, [1, 2]).result()
            result["namespace"] = cluster.namespace
            result["dashboard_link"] = cluster.dashboard_link
            status, body = get(cluster.dashboard_link, token)
            result["dashboard_status"] = status
            result["dashboard_is_dask"] = "Dask" in body
            status, body = get(f"{prefix}/dask-k8s/clusters", token)
            result["rest_status"] = status
            listed = json.loads(body).get("clusters", []) if status == 200 else []
            result["rest_clusters"] = sorted(f"{c.get('namespace')}/{c.get('name')}" for c in listed)
        # A cluster from the sidebar (its REST API); the test checks it goes with this pod.
        sidebar = {"name": "kf-sidebar", "n_workers": 0}
        result["sidebar_create_status"] = get(f"{prefix}/dask-k8s/clusters", token, sidebar)[0]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return result


if __name__ == "__main__":
    print("RESULT " + json.dumps(main()), flush=True)
