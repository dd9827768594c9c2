"""A JupyterHub on the local Kubernetes: KubeSpawner starts each user's JupyterLab as a pod.

Started by ``./dev start --hub`` and by the browser tests (``ui-tests/test_hub.py``) as
``jupyterhub -f deploy/local-hub/jupyterhub_config.py``; everything that differs between the two
comes from the environment variables read below.

The hub runs on the host, not in a pod. The local Kubernetes runs containers from this project's
Python environment rather than images, so a hub pod would be no more "in the cluster" than the
host process, and on the host it starts in a second, survives pod restarts of the agent, and its
proxy (configurable-http-proxy from ``node_modules``) serves the browser on localhost. The user
servers are real pods: image ``dask-k8s-lab/jupyter:local`` (a ``jupyter`` image, which the local
node runs from the project's environment, extension and sidebar included), the service account
and RBAC of ``deploy/jupyterhub/rbac.yaml``, one namespace shared by all users.

Pods reach the hub at the node address (the host side of the pod bridge); the hub's proxy reaches
pods at their pod IPs.
"""

import asyncio
import os
from pathlib import Path

from kubernetes_asyncio.client.models import V1EnvVar, V1EnvVarSource, V1ObjectFieldSelector

from local_k8s.settings import NODE_IP

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("DK8S_HUB_STATE", "/tmp/dask-k8s-lab-hub"))
NAMESPACE = os.environ.get("DK8S_HUB_NAMESPACE", "dk8s-hub")
# "1": each user's server and clusters in a namespace of their own, "<NAMESPACE>-<user>".
USER_NAMESPACES = os.environ.get("DK8S_HUB_USER_NAMESPACES") == "1"
USERS = [u for u in os.environ.get("DK8S_HUB_USERS", "alice,bob").split(",") if u]
PASSWORD = os.environ["DK8S_HUB_PASSWORD"]  # at least 8 characters; ./dev makes one up
SERVICE_ACCOUNT = "dask-k8s-lab-user"  # deploy/jupyterhub/rbac.yaml
IMAGE = "dask-k8s-lab/jupyter:local"

STATE.mkdir(parents=True, exist_ok=True)

# -- the hub and its proxy ----------------------------------------------------------------------
c.JupyterHub.bind_url = f"http://{os.environ.get('DK8S_HUB_IP', '127.0.0.1')}:{os.environ.get('DK8S_HUB_PORT', '8000')}"
c.JupyterHub.hub_bind_url = f"http://{NODE_IP}:{os.environ.get('DK8S_HUB_API_PORT', '8081')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('DK8S_HUB_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.command = [str(ROOT / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "cookie_secret")
# A development hub: stopping it stops the users' pods (and with them, their clusters' owner).
c.JupyterHub.cleanup_servers = True

# -- users ----------------------------------------------------------------------------------------
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = PASSWORD
c.Authenticator.allowed_users = set(USERS)

# A token for scripts (bench/hub_bench.py): start and stop servers, and use them.
if os.environ.get("DK8S_HUB_SERVICE_TOKEN"):
    c.JupyterHub.services = [{"name": "dk8s-script", "api_token": os.environ["DK8S_HUB_SERVICE_TOKEN"]}]
    c.JupyterHub.load_roles = [
        {"name": "dk8s-script", "scopes": ["servers", "read:users", "access:servers"], "services": ["dk8s-script"]}
    ]

# -- the users' servers -----------------------------------------------------------------------------
c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.namespace = NAMESPACE
c.KubeSpawner.image = IMAGE
c.KubeSpawner.image_pull_policy = "IfNotPresent"
c.KubeSpawner.cmd = ["jupyterhub-singleuser"]  # KubeSpawner's default is the image's own command
# Local pods run their processes as this host's user, which is root on the test machines.
c.KubeSpawner.args = ["--ServerApp.allow_root=True"]
c.KubeSpawner.default_url = "/lab"
c.KubeSpawner.service_account = SERVICE_ACCOUNT
c.KubeSpawner.environment = {
    # Where the extension lists and creates clusters: the namespace the server runs in.
    "DASK_K8S_LAB_NAMESPACES": lambda spawner: spawner.namespace,
    # Admins' servers show every user's clusters.
    "DASK_K8S_LAB_SHOW_ALL_CLUSTERS": lambda spawner: "true" if spawner.user.admin else "false",
}


def tell_the_server_its_pod(spawner, pod):
    """The extension ties the clusters it creates to its own pod (owner references), so stopping
    the server removes them: it learns the pod from the downward API."""
    fields = {"NAMESPACE": "metadata.namespace", "NAME": "metadata.name", "UID": "metadata.uid"}
    container = pod.spec.containers[0]
    container.env = [*(container.env or []), *(
        V1EnvVar(name=f"DASK_K8S_LAB_POD_{key}", value_from=V1EnvVarSource(field_ref=V1ObjectFieldSelector(field_path=path)))
        for key, path in fields.items()
    )]
    return pod


c.KubeSpawner.modify_pod_hook = tell_the_server_its_pod


async def kubectl(*args: str) -> None:
    process = await asyncio.create_subprocess_exec("kubectl", *args, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode and b"AlreadyExists" not in err:
        raise RuntimeError(f"kubectl {' '.join(args)}: {err.decode().strip()}")


async def give_the_user_a_namespace(spawner) -> None:
    """Per-user namespaces: KubeSpawner makes the namespace, but not the account and RBAC the
    server runs under; the same rbac.yaml goes into each one."""
    await kubectl("create", "namespace", spawner.namespace)
    await kubectl("apply", "-n", spawner.namespace, "-f", str(ROOT / "deploy" / "jupyterhub" / "rbac.yaml"))


if USER_NAMESPACES:
    c.KubeSpawner.enable_user_namespaces = True
    c.KubeSpawner.user_namespace_template = f"{NAMESPACE}-{{username}}"
    c.KubeSpawner.pre_spawn_hook = give_the_user_a_namespace
# Two cores start JupyterLab slowly.
c.KubeSpawner.start_timeout = 300
c.KubeSpawner.http_timeout = 180
