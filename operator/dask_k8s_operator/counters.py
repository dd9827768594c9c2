"""How many Kubernetes API requests the operator made (the liveness endpoint reports them).

Every request goes through one of the helpers in ``kube``, ``events`` or ``store``; each calls
:func:`count` once per request, so nothing of kr8s is overridden to count.
"""

from __future__ import annotations

REQUESTS = {"count": 0}  # all requests
BY_KIND: dict[str, int] = {}  # by "verb resource", e.g. "patch daskclusters/status"
BY_NAMESPACE: dict[str, dict[str, int]] = {}  # by namespace ("" for all), then "verb resource"


def count(verb: str, resource: str, namespace: str | None) -> None:
    """One request: ``verb`` is the Kubernetes verb (get, list, watch, create, patch, delete),
    ``resource`` the plural (with ``/subresource``)."""
    key = f"{verb} {resource}"
    REQUESTS["count"] += 1
    BY_KIND[key] = BY_KIND.get(key, 0) + 1
    per_namespace = BY_NAMESPACE.setdefault(namespace or "", {})
    per_namespace[key] = per_namespace.get(key, 0) + 1
