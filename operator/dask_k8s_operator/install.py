"""Install the CRDs and the operator (through its Helm chart) into a cluster, and wait for it.

``install(env)`` is what ``dask-k8s-lab local-k8s up`` calls: ``env`` must carry KUBECONFIG and a
PATH with ``kubectl`` and ``helm``. The operator then runs as a pod under the chart's RBAC.

CRDs are applied with ``kubectl apply --server-side`` on every install (Helm installs a chart's
CRDs only once and never upgrades them), and the chart is installed with ``--skip-crds``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RELEASE = "dask-k8s-operator"
PACKAGE_DIR = Path(__file__).resolve().parent


def _find(*candidates: Path) -> Path:
    for path in candidates:
        if path.exists():
            return path
    raise FileNotFoundError("not found: " + ", ".join(str(p) for p in candidates))


def crd_dir() -> Path:
    """The CRD manifests: inside the installed wheel, or ``operator/crds`` in a source checkout."""
    return _find(PACKAGE_DIR / "crds", PACKAGE_DIR.parent / "crds")


def chart_dir() -> Path:
    return _find(PACKAGE_DIR / "chart" / "dask-k8s-operator",
                 PACKAGE_DIR.parent / "chart" / "dask-k8s-operator")


def crd_files() -> list[Path]:
    return sorted(crd_dir().glob("*.yaml"))


def _run(args: list[str], env: Mapping[str, str], timeout: float = 300) -> str:
    result = subprocess.run(args, env=dict(env), capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} ... failed ({result.returncode}): "
                           f"{result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def apply_crds(kubectl_env: Mapping[str, str]) -> None:
    files = [f"--filename={path}" for path in crd_files()]
    _run(["kubectl", "apply", "--server-side", "--force-conflicts",
          "--field-manager=dask-k8s-operator", *files], kubectl_env)
    names = [f"crd/{path.name.removesuffix('.yaml')}" for path in crd_files()]
    _run(["kubectl", "wait", "--for=condition=Established", "--timeout=60s", *names], kubectl_env)


def install(
    kubectl_env: dict[str, str],
    namespace: str = "dask-operator",
    values: dict | None = None,
    release: str = RELEASE,
    timeout: float = 180,
) -> None:
    """Apply the CRDs, ``helm upgrade --install`` the chart, wait until the operator pod is Ready."""
    apply_crds(kubectl_env)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=True) as values_file:
        json.dump(values or {}, values_file)
        values_file.flush()
        _run(["helm", "upgrade", "--install", release, str(chart_dir()),
              "--namespace", namespace, "--create-namespace", "--skip-crds",
              "--values", values_file.name], kubectl_env, timeout=timeout)
    wait_ready(kubectl_env, namespace, release, timeout)


def _operator_pods(kubectl_env: Mapping[str, str], namespace: str, release: str) -> list[dict]:
    out = _run(["kubectl", "get", "pods", "--namespace", namespace, "--output=json",
                f"--selector=app.kubernetes.io/instance={release}"], kubectl_env)
    return json.loads(out)["items"]


def _ready(pod: Mapping[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def wait_ready(kubectl_env: Mapping[str, str], namespace: str = "dask-operator",
               release: str = RELEASE, timeout: float = 180) -> None:
    """Wait for the rollout, then for exactly one Ready operator pod (none terminating)."""
    _run(["kubectl", "rollout", "status", f"deployment/{_deployment_name(release)}",
          "--namespace", namespace, f"--timeout={int(timeout)}s"], kubectl_env,
         timeout=timeout + 10)
    deadline = time.monotonic() + timeout
    while True:
        pods = _operator_pods(kubectl_env, namespace, release)
        if len(pods) == 1 and _ready(pods[0]):
            return
        if time.monotonic() > deadline:
            states = {p["metadata"]["name"]: (p.get("status") or {}).get("phase") for p in pods}
            raise TimeoutError(f"operator pod not Ready after {timeout:.0f}s: {states}")
        time.sleep(0.5)


def _deployment_name(release: str) -> str:
    # mirrors the chart's fullname helper (release name contains the chart name, or is prefixed)
    return release if "dask-k8s-operator" in release else f"{release}-dask-k8s-operator"


def uninstall(kubectl_env: dict[str, str], namespace: str = "dask-operator",
              release: str = RELEASE) -> None:
    """Remove the release (the CRDs stay, like Helm leaves them)."""
    _run(["helm", "uninstall", release, "--namespace", namespace, "--wait"], kubectl_env)
