"""Images are Python environments: a Dask image's tag is the Dask version its containers run,
`EXTRA_PIP_PACKAGES` is installed at container start, and pulls show as a kubelet's do."""

from __future__ import annotations

import json
import textwrap

import pytest
from packaging.version import Version

from local_k8s.agent.imagestore import project_dask_version
from tests.fixtures.kube import Kubectl, wait_until
from tests.operator.helpers import apply, small_cluster, wait_phase, wait_ready_workers

pytestmark = pytest.mark.integration

OLD = "2025.1.0"
EXTRA = "tabulate"  # small, pure Python, and in no Dask image

# Runs in a pod of the same image as the cluster, as a user's in-cluster client would: a client
# whose distributed differs from the scheduler's may not even complete the handshake.
VERSIONS = textwrap.dedent("""
    import json, sys
    from distributed import Client

    with Client(sys.argv[1], timeout=120) as client:
        client.wait_for_workers(1, timeout=240)
        versions = client.get_versions(check=False)
        def has(name=sys.argv[2]):
            import importlib.util
            return importlib.util.find_spec(name) is not None

        extra = client.run(has)
        print(json.dumps({
            "scheduler": versions["scheduler"]["packages"]["distributed"],
            "workers": sorted({w["packages"]["distributed"] for w in versions["workers"].values()}),
            "extra": sorted(set(extra.values())),
        }))
""")


def cluster(name: str, image: str, **worker_env: str) -> dict:
    body = small_cluster(name, workers=1)
    for role in ("scheduler", "worker"):
        for container in body["spec"][role]["spec"]["containers"]:
            container["image"] = image
    if worker_env:
        container = body["spec"]["worker"]["spec"]["containers"][0]
        container["env"] = [{"name": k, "value": v} for k, v in worker_env.items()]
    return body


def client_pod(name: str, image: str, cluster_name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "client", "image": image, "imagePullPolicy": "Always",
                        "command": ["python", "-c", VERSIONS, f"tcp://{cluster_name}-scheduler:8786", EXTRA]}],
    }})


def pod_output(kubectl: Kubectl, name: str) -> dict:
    wait_until(lambda: kubectl.json("pod", name)["status"].get("phase") in ("Succeeded", "Failed"), timeout=300,
               message=f"pod {name} to finish")
    logs = kubectl("logs", name)
    assert kubectl.json("pod", name)["status"]["phase"] == "Succeeded", logs
    # stderr shares the log: an old distributed may log a close-time timeout after the answer
    return json.loads(next(line for line in reversed(logs.splitlines()) if line.startswith("{")))


def test_each_cluster_runs_its_images_dask_version(kubectl: Kubectl, dask_operator) -> None:
    latest = "ghcr.io/dask/dask:latest"
    apply(kubectl, cluster("old", f"ghcr.io/dask/dask:{OLD}"))
    apply(kubectl, cluster("new", latest, EXTRA_PIP_PACKAGES=EXTRA))
    for name in ("old", "new"):
        wait_phase(kubectl, name, timeout=600)
        wait_ready_workers(kubectl, "daskworkergroup", f"{name}-default", 1, timeout=600)

    kubectl("create", "-f", "-", stdin=client_pod("ask-old", f"ghcr.io/dask/dask:{OLD}", "old"))
    kubectl("create", "-f", "-", stdin=client_pod("ask-new", latest, "new"))
    old, new = pod_output(kubectl, "ask-old"), pod_output(kubectl, "ask-new")

    assert old == {"scheduler": OLD, "workers": [OLD], "extra": [False]}
    assert new["scheduler"] != OLD and new["workers"] == [new["scheduler"]]
    # The worker with EXTRA_PIP_PACKAGES has the package; the image's own environment does not.
    assert new["extra"] == [True]
    # `latest` is the newest release; the project pins its own Dask to it (see imagestore).
    assert Version(new["scheduler"]) >= Version(project_dask_version())

    # Pulls are reported as a kubelet does: Pulling, then Pulled with the time taken.
    events = kubectl.json("events", "--field-selector", "involvedObject.name=ask-old")["items"]
    messages = {e["reason"]: e["message"] for e in events}
    assert messages["Pulling"] == f'Pulling image "ghcr.io/dask/dask:{OLD}"'
    assert messages["Pulled"].startswith(f'Successfully pulled image "ghcr.io/dask/dask:{OLD}" in ')
    image_id = kubectl.json("pod", "ask-old")["status"]["containerStatuses"][0]["imageID"]
    assert image_id.startswith(f"local-k8s://dask-{OLD}-py") and "@sha256:" in image_id

    # The install ran at container start and shows in the worker's log, as with the real image.
    worker = kubectl.json("pods", "-l", "dask.org/cluster-name=new,dask.org/component=worker")["items"][0]
    assert "EXTRA_PIP_PACKAGES environment variable found" in kubectl("logs", worker["metadata"]["name"])


def waiting(kubectl: Kubectl, name: str) -> dict:
    statuses = kubectl.json("pod", name)["status"].get("containerStatuses") or [{}]
    return statuses[0].get("state", {}).get("waiting") or {}


def test_images_that_cannot_be_pulled_or_started_say_why(kubectl: Kubectl) -> None:
    def pod(name: str, image: str, policy: str = "IfNotPresent", **env: str) -> str:
        container = {"name": "c", "image": image, "imagePullPolicy": policy, "command": ["sleep", "60"],
                     "env": [{"name": k, "value": v} for k, v in env.items()]}
        return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                           "spec": {"containers": [container], "terminationGracePeriodSeconds": 0}})

    kubectl("create", "-f", "-", stdin=pod("unknown", "ghcr.io/dask/dask:2099.1.0"))
    kubectl("create", "-f", "-", stdin=pod("never", "daskdev/dask:2023.1.0", policy="Never"))
    kubectl("create", "-f", "-", stdin=pod("conda", f"ghcr.io/dask/dask:{OLD}", EXTRA_CONDA_PACKAGES="numba"))

    # An unknown version: the installer's own words, first as ErrImagePull, then backing off.
    wait_until(lambda: waiting(kubectl, "unknown").get("reason") == "ImagePullBackOff", timeout=120,
               message="ImagePullBackOff")
    assert "there is no version of dask[distributed]==2099.1.0" in waiting(kubectl, "unknown")["message"]
    reasons = {e["reason"] for e in kubectl.json("events", "--field-selector", "involvedObject.name=unknown")["items"]}
    assert {"Pulling", "Failed", "BackOff"} <= reasons

    wait_until(lambda: waiting(kubectl, "never").get("reason") == "ErrImageNeverPull", message="ErrImageNeverPull")
    assert "not present with pull policy of Never" in waiting(kubectl, "never")["message"]

    wait_until(lambda: waiting(kubectl, "conda").get("reason") == "CreateContainerConfigError", timeout=300,
               message="CreateContainerConfigError")
    assert "EXTRA_CONDA_PACKAGES" in waiting(kubectl, "conda")["message"]
