"""The namespace's ResourceQuota and LimitRange for the create form, and the refusals of a create or
a scale that would not fit (before anything is made). The arithmetic is ``dask_k8s_lab.quota``.

The REST view of it (``GET``/``POST /dask-k8s/quota``) is in ``quota_handlers``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dask_k8s_lab import quota

from .errors import ApiError

log = logging.getLogger(__name__)


async def quota_objects(service: Any, namespace: str) -> tuple[list[dict], list[dict]] | None:
    """The namespace's ResourceQuotas and LimitRanges, or None if this account may not read them
    (Kubernetes still enforces the quota then; only the early, explained refusal is lost)."""
    backend = service.backend
    if hasattr(backend, "quota_objects"):  # a scripted backend in unit tests
        return await backend.quota_objects(namespace)
    if not callable(getattr(backend, "api", None)):
        return None
    from kr8s.asyncio.objects import LimitRange, ResourceQuota

    async def items(kind: type) -> list[dict]:
        api = await backend.api()
        return [obj.raw async for obj in api.async_get(kind, namespace=namespace)]

    try:
        quotas, ranges = await asyncio.wait_for(
            asyncio.gather(items(ResourceQuota), items(LimitRange)), service.config.request_timeout
        )
    except Exception as e:
        log.debug("no quota of %s: %s", namespace, e)
        return None
    return quotas, ranges


def groups_of(manifest: dict, request: Any, image: str) -> list[dict]:
    from .manifests import worker_group_manifest

    return [worker_group_manifest(manifest, g, g.image or image, request.env) for g in request.worker_groups]


async def refuse_create(service: Any, namespace: str, manifest: dict, request: Any, image: str) -> None:
    """A 403 naming each resource over quota, with the numbers, if this cluster does not fit."""
    found = await quota_objects(service, namespace)
    if found:
        message = quota.create_refusal(namespace, manifest, groups_of(manifest, request, image), *found)
        if message:
            raise ApiError(403, message, "n_workers")


async def refuse_scale(service: Any, namespace: str, worker: dict, current: int, wanted: int, what: str) -> None:
    """A 403 with the numbers if ``wanted - current`` more workers of ``worker`` do not fit."""
    if wanted <= current:
        return
    found = await quota_objects(service, namespace)
    if found:
        message = quota.scale_refusal(namespace, worker, current, wanted, what, *found)
        if message:
            raise ApiError(403, message, "workers")


async def quota_view(service: Any, namespace: str, manifest: dict | None = None, groups: list[dict] = ()) -> dict:
    """What the create form shows: every quota'd resource (used, hard, what this cluster adds),
    the LimitRange defaults, and why the cluster would not fit (or null)."""
    found = await quota_objects(service, namespace)
    if found is None:
        return {"namespace": namespace, "visible": False, "quotas": [], "limit_range": {}, "fits": True, "message": None}
    quotas, ranges = found
    amounts = quota.cluster_amounts(manifest, groups, ranges) if manifest else {}
    rows = quota.rows(quotas, amounts)
    message = quota.refusal(namespace, rows, "This cluster") if manifest else None
    return {
        "namespace": namespace,
        "visible": True,
        "quotas": [row.to_json() for row in rows],
        "limit_range": quota.limit_range_summary(ranges),
        "fits": message is None,
        "message": message,
    }
