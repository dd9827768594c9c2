"""Small kr8s helpers shared by KubeCluster and HelmCluster."""

from __future__ import annotations

from typing import Any, TypeVar

import kr8s
from distributed.utils import Log, Logs
from kr8s.asyncio.objects import APIObject, Pod

from dask_k8s_common.resources import API_VERSION, GROUP
from dask_k8s_common.watching import list_objects

T = TypeVar("T", bound=APIObject)

CRDS_MISSING = (
    "The Dask custom resources (group {group}) are not installed in this Kubernetes cluster. "
    "Install the operator (its Helm chart installs the CRDs) or `kubectl apply -f operator/crds/`."
)


def status_code(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


async def fetch(cls: type[T], name: str, namespace: str, api: Any) -> T | None:
    """The object, or None when it does not exist (one GET, no retry loop)."""
    obj = cls({"metadata": {"name": name}}, namespace=namespace, api=api)
    try:
        await obj.refresh()
    except kr8s.NotFoundError:
        return None
    return obj


async def ensure_crds(api: Any) -> None:
    """Raise a RuntimeError that says what to install when the Dask CRDs are missing."""
    try:
        async with api.call_api("GET", version=API_VERSION, base="/apis") as resp:
            served = {r.get("name") for r in resp.json().get("resources", [])}
    except kr8s.ServerError as e:
        if status_code(e) == 404:
            raise RuntimeError(CRDS_MISSING.format(group=GROUP)) from None
        raise
    if "daskclusters" not in served:
        raise RuntimeError(CRDS_MISSING.format(group=GROUP))


async def list_raw(api: Any, kind: Any, namespace: str, label_selector: Any = None) -> list[dict]:
    """Plain dicts of every object of ``kind`` matching the selector, page by page, as the list
    sends them: no kr8s object per item (each costs a deep conversion, and a starting
    KubeCluster lists its pods every second)."""
    items, _ = await list_objects(api, kind, namespace, label_selector)
    return items


def forbidden_hint(error: BaseException, action: str, namespace: str) -> str:
    return (
        f"Kubernetes refused to {action} in namespace {namespace!r} ({error}). The account needs "
        "the client role shipped in dask_k8s_lab/manifests/client-rbac.yaml (bind it with a "
        "RoleBinding or ClusterRoleBinding)."
    )


async def pod_log_tail(pod: Pod, lines: int = 20) -> str:
    """The last ``lines`` log lines of a pod's first container (previous run if it restarted)."""
    text = ""
    for previous in (False, True):
        try:
            text = "\n".join([line async for line in pod.logs(tail_lines=lines, previous=previous)])
        except Exception:
            continue
        if text.strip():
            break
    return text


async def pod_logs(api: Any, namespace: str | None, selector: dict[str, str],
                   keep: Any = lambda pod: True) -> Logs:
    """The logs of the selected pods (those ``keep`` accepts), by pod name, as distributed's
    ``Cluster.get_logs`` returns them: a note instead of a log for a pod that has none yet or
    cannot be read."""
    logs = Logs()
    pods = [p async for p in api.async_get(Pod, namespace=namespace, label_selector=selector)]
    for pod in sorted(pods, key=lambda p: p.name):
        if not keep(pod):
            continue
        phase = pod.status.get("phase")
        if phase in ("Pending", None):
            logs[pod.name] = Log(f"Cannot find logs. Pod is {phase}.")
            continue
        try:
            logs[pod.name] = Log("\n".join([line async for line in pod.logs()]))
        except Exception as e:
            logs[pod.name] = Log(f"Cannot read logs: {e}")
    return logs
