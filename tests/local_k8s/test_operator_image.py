"""The operator's image is an environment of the operator's distributions alone (common/ and
operator/, editable from the checkout), as operator/Dockerfile builds it: the operator pod of the
local Kubernetes runs there, without Jupyter or the client."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from local_k8s.agent import images
from local_k8s.agent.imagestore import ImageStore, operator_env_key, operator_sources

REPO = Path(__file__).resolve().parents[2]
IMAGE = "dask-k8s-lab/dask-k8s-operator:0.1.0"

# What the operator pod's Python can import, and whence.
PROBE = textwrap.dedent("""
    import importlib.metadata, importlib.util, json, sys
    import dask_k8s_operator, dask_k8s_common
    print(json.dumps({
        "prefix": sys.prefix,
        "operator": dask_k8s_operator.__file__,
        "common": dask_k8s_common.__file__,
        "missing": [m for m in ("jupyter_server", "jupyterlab", "dask_k8s_lab")
                    if importlib.util.find_spec(m) is None],
        "distributions": sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions()),
    }))
""")


async def test_pulling_the_operator_image_builds_its_environment(tmp_path: Path) -> None:
    """A store of its own (the shared wheel cache makes it quick): Pulling, Pulled, then present."""
    events: list[tuple[str, str]] = []

    async def emit(reason: str, message: str, warning: bool) -> None:
        events.append((reason, message))

    store = ImageStore(tmp_path / "images")
    pulled = await store.ensure(IMAGE, "IfNotPresent", emit)
    assert [reason for reason, _ in events] == ["Pulling", "Pulled"]
    assert events[1][1].startswith(f'Successfully pulled image "{IMAGE}" in ')
    assert pulled.kind == "operator" and not pulled.is_dask
    assert pulled.env_dir == store.env_dir(operator_env_key(operator_sources()))
    assert pulled.image_id.startswith(f"local-k8s://{pulled.env_dir.name}@sha256:")

    # only the operator's distributions, the two of ours editable from this checkout
    freeze = (pulled.env_dir / "requirements.txt").read_text().splitlines()
    assert f"-e {(REPO / 'common').as_uri()}" in freeze and f"-e {(REPO / 'operator').as_uri()}" in freeze
    names = {line.split("==")[0].lower() for line in freeze if "==" in line}
    assert "kopf" in names and "kr8s" in names
    assert [n for n in names if n.startswith(("jupyter", "notebook", "ipykernel"))] == []
    assert "dask-k8s-lab" not in names

    events.clear()
    again = await store.ensure(IMAGE, "IfNotPresent", emit)
    assert again == pulled
    assert events == [("Pulled", f'Container image "{IMAGE}" already present on machine')]


@pytest.mark.integration
def test_operator_pod_runs_from_the_operator_distribution_alone(dask_operator) -> None:
    namespace, release = dask_operator["namespace"], dask_operator["release"]

    def kubectl(*args: str) -> str:
        result = subprocess.run(["kubectl", "--namespace", namespace, *args], capture_output=True, text=True,
                                timeout=120, check=False)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    pods = json.loads(kubectl("get", "pods", "-o", "json", f"--selector=app.kubernetes.io/instance={release}"))
    [pod] = [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")]
    [status] = pod["status"]["containerStatuses"]
    assert images.environment_for(status["image"]) == images.OPERATOR
    assert status["imageID"].startswith(f"local-k8s://{operator_env_key(operator_sources())}@sha256:")
    assert status["ready"] is True  # its liveness and readiness are kopf's health endpoint

    found = json.loads(kubectl("exec", f"deploy/{release}", "--", "python", "-c", PROBE))
    assert Path(found["prefix"]).name == operator_env_key(operator_sources())
    # the working tree's code (an operator restart picks up edits), from the editable installs
    assert found["operator"] == str(REPO / "operator" / "dask_k8s_operator" / "__init__.py")
    assert found["common"] == str(REPO / "common" / "dask_k8s_common" / "__init__.py")
    assert found["missing"] == ["jupyter_server", "jupyterlab", "dask_k8s_lab"]
    assert "kopf" in found["distributions"] and "dask-k8s-lab" not in found["distributions"]

    # `import jupyter_server` fails there, as it would in the image
    result = subprocess.run(["kubectl", "--namespace", namespace, "exec", f"deploy/{release}", "--", "python", "-c",
                             "import jupyter_server"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0 and "No module named 'jupyter_server'" in result.stderr
