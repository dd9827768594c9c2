"""What a Dask cluster adds to a namespace's ResourceQuota, and whether it fits (pure).

Kubernetes only refuses a pod over quota when the operator creates it, so the workers of a cluster
that does not fit sit missing with the reason buried in the operator's events. The server
extension and ``KubeCluster`` compute here, before creating or scaling anything, what the cluster
would add (scheduler + workers x requests, with the namespace's LimitRange defaults applied as the
API server would) and refuse with the resource and the numbers when it does not fit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from dask_k8s_common.resources import GROUP

DASKCLUSTER_COUNT = f"count/daskclusters.{GROUP}"
DASKWORKERGROUP_COUNT = f"count/daskworkergroups.{GROUP}"
#: The quota keys a Dask cluster adds to, in the order they are shown.
KEYS = (
    "requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "pods", "services",
    DASKCLUSTER_COUNT, DASKWORKERGROUP_COUNT,
)
#: Quota keys that mean the same as another ("cpu" is "requests.cpu").
ALIASES = {"cpu": "requests.cpu", "memory": "requests.memory", "count/pods": "pods",
           "count/services": "services"}

_SUFFIXES = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][-+]?[0-9]+)?)([a-zA-Z]*)$")


def quantity(value: Any) -> Decimal:
    """A Kubernetes quantity ("500m", "2Gi", 4) as an exact number; 0 when it cannot be read."""
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in _SUFFIXES:
        return Decimal(0)
    try:
        return Decimal(match.group(1)) * Decimal(_SUFFIXES[match.group(2)])
    except InvalidOperation:
        return Decimal(0)


def show(key: str, value: Decimal) -> str:
    """A quota amount as people write it: cpu in cores, memory in Mi/Gi, counts as integers."""
    if key.endswith("memory"):
        for suffix, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if abs(value) >= size:
                return f"{round(value / size, 2).normalize():f}{suffix}"
    return f"{round(value, 3).normalize():f}"


class QuotaExceeded(ValueError):
    """A cluster, or a scale-up, does not fit the namespace's ResourceQuota; the message says
    which resource and by how much."""


# -- what pods need --------------------------------------------------------------------------------


def container_defaults(limit_ranges: Iterable[Mapping[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """The default requests and limits a LimitRange gives a container that sets none.

    As the API server applies them: ``defaultRequest`` for requests, ``default`` for limits, and a
    missing ``defaultRequest`` falls back to ``default``.
    """
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    for limit_range in limit_ranges:
        for item in (limit_range.get("spec") or {}).get("limits") or []:
            if item.get("type") != "Container":
                continue
            for resource, value in (item.get("default") or {}).items():
                limits.setdefault(resource, value)
                requests.setdefault(resource, value)
            for resource, value in (item.get("defaultRequest") or {}).items():
                requests[resource] = value
    return requests, limits


def _container_amounts(container: Mapping[str, Any], defaults: tuple[dict, dict]) -> dict[str, Decimal]:
    resources = container.get("resources") or {}
    own_limits = resources.get("limits") or {}
    limits = {**defaults[1], **own_limits}
    # API defaulting first gives a container's own limit as its missing request; the LimitRange
    # then fills what is still missing
    requests = {**defaults[0], **own_limits, **(resources.get("requests") or {})}
    amounts = {}
    for resource in ("cpu", "memory"):
        if resource in requests:
            amounts[f"requests.{resource}"] = quantity(requests[resource])
        if resource in limits:
            amounts[f"limits.{resource}"] = quantity(limits[resource])
    return amounts


def pod_amounts(pod_spec: Mapping[str, Any], limit_ranges: Iterable[Mapping[str, Any]] = ()) -> dict[str, Decimal]:
    """What one pod counts against a quota: its containers' requests and limits summed (init
    containers run first, so a larger one counts instead), and one pod."""
    defaults = container_defaults(list(limit_ranges))
    total: dict[str, Decimal] = {}
    for container in pod_spec.get("containers") or []:
        for key, value in _container_amounts(container, defaults).items():
            total[key] = total.get(key, Decimal(0)) + value
    for container in pod_spec.get("initContainers") or []:
        for key, value in _container_amounts(container, defaults).items():
            total[key] = max(total.get(key, Decimal(0)), value)
    total["pods"] = Decimal(1)
    return total


def unset_resources(pod_spec: Mapping[str, Any], limit_ranges: Iterable[Mapping[str, Any]],
                    constrained: Iterable[str]) -> list[str]:
    """The quota'd resources (e.g. ``requests.cpu``) some container leaves unset: the API server
    refuses such a pod in a namespace whose quota constrains them."""
    defaults = container_defaults(list(limit_ranges))
    missing = []
    for key in constrained:
        key = ALIASES.get(key, key)
        if not key.startswith(("requests.", "limits.")) or key.split(".", 1)[1] not in ("cpu", "memory"):
            continue
        for container in pod_spec.get("containers") or []:
            if key not in _container_amounts(container, defaults) and key not in missing:
                missing.append(key)
    return missing


def _add(total: dict[str, Decimal], amounts: Mapping[str, Decimal], times: int = 1) -> None:
    for key, value in amounts.items():
        total[key] = total.get(key, Decimal(0)) + value * times


def cluster_amounts(manifest: Mapping[str, Any], groups: Iterable[Mapping[str, Any]] = (),
                    limit_ranges: Iterable[Mapping[str, Any]] = ()) -> dict[str, Decimal]:
    """What a new DaskCluster (and extra DaskWorkerGroups made with it) adds: scheduler pod and
    Service, default group, and every group's workers x their requests."""
    limit_ranges = list(limit_ranges)
    spec = manifest.get("spec") or {}
    total = {DASKCLUSTER_COUNT: Decimal(1), "services": Decimal(1)}
    _add(total, pod_amounts((spec.get("scheduler") or {}).get("spec") or {}, limit_ranges))
    for worker in [spec.get("worker") or {}, *((g.get("spec") or {}).get("worker") or {} for g in groups)]:
        _add(total, {DASKWORKERGROUP_COUNT: Decimal(1)})
        _add(total, pod_amounts(worker.get("spec") or {}, limit_ranges), int(worker.get("replicas") or 0))
    return total


def worker_amounts(worker: Mapping[str, Any], more: int,
                   limit_ranges: Iterable[Mapping[str, Any]] = ()) -> dict[str, Decimal]:
    """What ``more`` extra workers of a group (its ``spec.worker``) add."""
    total: dict[str, Decimal] = {}
    if more > 0:
        _add(total, pod_amounts(worker.get("spec") or {}, limit_ranges), more)
    return total


# -- against the quotas ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One quota'd resource: used and hard as the ResourceQuota's status says, and what is asked."""

    quota: str
    resource: str  # the quota's own key, e.g. "cpu" or "requests.cpu"
    used: Decimal
    hard: Decimal
    adds: Decimal = Decimal(0)

    @property
    def fits(self) -> bool:
        return self.used + self.adds <= self.hard

    def to_json(self) -> dict[str, Any]:
        return {"quota": self.quota, "resource": self.resource, "used": show(self.resource, self.used),
                "hard": show(self.resource, self.hard), "adds": show(self.resource, self.adds), "fits": self.fits}


def rows(quotas: Iterable[Mapping[str, Any]], amounts: Mapping[str, Decimal] | None = None) -> list[Row]:
    """Every resource of every ResourceQuota (its status: what the quota controller counted)."""
    amounts = amounts or {}
    found = []
    for quota in quotas:
        status = quota.get("status") or {}
        hard = status.get("hard") or (quota.get("spec") or {}).get("hard") or {}
        used = status.get("used") or {}
        for key in sorted(hard, key=lambda k: (KEYS.index(ALIASES.get(k, k)) if ALIASES.get(k, k) in KEYS else 99, k)):
            adds = amounts.get(ALIASES.get(key, key), Decimal(0))
            found.append(Row(quota["metadata"]["name"], key, quantity(used.get(key, 0)), quantity(hard[key]), adds))
    return found


def refusal(namespace: str, found: Iterable[Row], what: str) -> str | None:
    """Why ``what`` (e.g. "4 workers of 1 CPU") does not fit the quotas, naming every resource
    over its limit with the numbers; None when it fits."""
    over = [row for row in found if row.adds > 0 and not row.fits]
    if not over:
        return None
    parts = [
        f"{row.resource} would be {show(row.resource, row.used + row.adds)} of {show(row.resource, row.hard)} "
        f"(used {show(row.resource, row.used)} + {show(row.resource, row.adds)} for this)"
        f" in ResourceQuota {row.quota!r}"
        for row in over
    ]
    return (f"{what} does not fit the quota of namespace {namespace!r}: " + "; ".join(parts)
            + ". Ask for fewer workers or smaller requests, or free some of the quota.")


def missing_refusal(namespace: str, missing: list[str], part: str) -> str | None:
    if not missing:
        return None
    return (f"The quota of namespace {namespace!r} constrains {', '.join(missing)}, and the {part} sets no "
            f"{', '.join(missing)} (nor does a LimitRange default): Kubernetes would refuse its pods. "
            "Set resources (e.g. requests cpu and memory).")


def limit_range_summary(limit_ranges: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """The container defaults of the namespace's LimitRanges, as the create form shows them."""
    requests, limits = container_defaults(list(limit_ranges))
    return {"default_requests": dict(requests), "default_limits": dict(limits)}


def _constrained(quotas: Iterable[Mapping[str, Any]]) -> set[str]:
    return {key for q in quotas for key in ((q.get("status") or {}).get("hard") or (q.get("spec") or {}).get("hard") or {})}


def create_refusal(namespace: str, manifest: Mapping[str, Any], groups: Iterable[Mapping[str, Any]],
                   quotas: list[Mapping[str, Any]], limit_ranges: list[Mapping[str, Any]]) -> str | None:
    """Why a new DaskCluster (with ``groups``) cannot be created in ``namespace``, or None."""
    if not quotas:
        return None
    spec = manifest.get("spec") or {}
    for part in ("scheduler", "worker"):
        pod = (spec.get(part) or {}).get("spec") or {}
        message = missing_refusal(namespace, unset_resources(pod, limit_ranges, _constrained(quotas)), part)
        if message:
            return message
    found = rows(quotas, cluster_amounts(manifest, list(groups), limit_ranges))
    return refusal(namespace, found, f"DaskCluster {manifest['metadata']['name']!r}")


def scale_refusal(namespace: str, worker: Mapping[str, Any], current: int, wanted: int, what: str,
                  quotas: list[Mapping[str, Any]], limit_ranges: list[Mapping[str, Any]]) -> str | None:
    """Why scaling ``what`` (a worker group's ``spec.worker``) from ``current`` to ``wanted``
    workers does not fit, or None (scaling down always fits)."""
    if wanted <= current or not quotas:
        return None
    found = rows(quotas, worker_amounts(worker, wanted - current, limit_ranges))
    return refusal(namespace, found, f"Scaling {what} from {current} to {wanted} workers")
