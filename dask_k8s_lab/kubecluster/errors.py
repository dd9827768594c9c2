"""What KubeCluster says when a cluster cannot be made or reached: one function per message.

The messages of a missing operator and a failed scheduler begin with the words of
dask-kubernetes' own, which code and notebooks match on.
"""

from __future__ import annotations

import kr8s
from dask_k8s_common.resources import GROUP, DaskCluster

from ..kube import forbidden_hint, status_code


class SchedulerStartupError(RuntimeError):
    """The scheduler pod failed to start; the message carries its last log lines."""


SchedulerStartupError.__module__ = "dask_k8s_lab.kubecluster"  # where users import it from


def operator_missing_message(name: str, namespace: str, timeout: float) -> str:
    """Why a DaskCluster that no operator picked up within ``timeout`` is given up."""
    return (
        f"DaskCluster {name!r} not actioned after {timeout:g} seconds, is the Dask Operator running? "
        f"It got no status from the operator within resource_timeout={timeout:g}s: check that the "
        f"operator runs and watches namespace {namespace!r} (`kubectl get pods -A | grep operator` and "
        f"its logs) and that the CRDs are installed (`kubectl get crd {DaskCluster.plural}.{GROUP}`)."
    )


def scheduler_failed_message(name: str, reason: str, pod: str, log_tail: str) -> str:
    """Why KubeCluster stopped waiting for a scheduler that cannot start, with its last log lines."""
    return (
        f"Scheduler failed to start ({reason}) for KubeCluster {name!r}. Check the scheduler command "
        f"and image. Last log lines of pod {pod}:\n{log_tail or '(no output)'}"
    )


def still_pending_message(name: str, phase: str, timeout: float, reasons: str) -> str:
    """Why KubeCluster stopped waiting for a cluster the operator works on but cannot finish."""
    return f"DaskCluster {name!r} is still {phase!r} after resource_timeout={timeout:g}s: {reasons}"


def reported_error_message(name: str, reasons: str) -> str:
    return f"The operator reports DaskCluster {name!r} as Error: {reasons}"


def disappeared_message(name: str, namespace: str) -> str:
    return f"DaskCluster {name!r} disappeared from namespace {namespace!r} while starting"


def not_found_message(name: str, namespace: str) -> str:
    """Attaching (``create_mode=CONNECT_ONLY``) to a cluster that does not exist."""
    return (
        f"DaskCluster {name!r} does not exist in namespace {namespace!r} and "
        "create_mode is CONNECT_ONLY. Check the name (`kubectl get daskclusters -n "
        f"{namespace}`) or use create_mode=CREATE_OR_CONNECT to create it."
    )


def already_exists_message(name: str, namespace: str) -> str:
    """Creating (``create_mode=CREATE_ONLY``) a cluster whose name is taken."""
    return (
        f"DaskCluster {name!r} already exists in namespace {namespace!r} and "
        "create_mode is CREATE_ONLY. Pick another name, or use KubeCluster.from_name to attach."
    )


def create_error(error: kr8s.ServerError, name: str, namespace: str) -> Exception | None:
    """The error to raise instead of the API server's refusal to create a DaskCluster, or None
    to let the original through."""
    code = status_code(error)
    if code == 403:
        return PermissionError(forbidden_hint(error, "create daskclusters", namespace))
    if code == 404:
        return ValueError(
            f"namespace={namespace!r} does not exist ({error}). Create it "
            f"(`kubectl create namespace {namespace}`) or pass another namespace."
        )
    if code in (400, 422):
        return ValueError(f"The API server rejected DaskCluster {name!r}: {error}")
    return None


def start_error(error: kr8s.ServerError, namespace: str) -> Exception | None:
    """The error to raise instead of any refusal while starting, or None."""
    if status_code(error) == 403:
        return PermissionError(forbidden_hint(error, "manage Dask clusters", namespace))
    return None
