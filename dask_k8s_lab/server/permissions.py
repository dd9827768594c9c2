"""``GET /dask-k8s/permissions``: what this server's Kubernetes identity may do, per namespace.

The sidebar greys out what the account may not do, with the reason; other clients read the same
answer. The checks and the cache are in ``dask_k8s_lab.permissions``; this module only serves
them for the namespaces the server manages.
"""

from __future__ import annotations

import weakref
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from dask_k8s_lab.permissions import CACHE_SECONDS, NotKnown, Permissions, kr8s_reviewer

from .errors import not_found
from .handlers import BaseHandler
from .service import ClusterService

_PERMISSIONS: weakref.WeakKeyDictionary[ClusterService, Permissions | None] = weakref.WeakKeyDictionary()


def permissions_of(service: ClusterService) -> Permissions | None:
    """The cached permissions of the service's identity (None: its backend cannot be asked)."""
    if service not in _PERMISSIONS:
        backend = service.backend
        reviewer = getattr(backend, "review", None)  # a scripted backend in unit tests
        if reviewer is None and callable(getattr(backend, "api", None)):
            reviewer = kr8s_reviewer(backend.api)
        timeout = float(getattr(service.config, "request_timeout", 10.0) or 10.0)
        _PERMISSIONS[service] = Permissions(reviewer, timeout=timeout) if reviewer else None
    return _PERMISSIONS[service]


async def namespace_permissions(service: ClusterService, namespace: str) -> dict[str, Any]:
    """``{"namespace", "known", "actions", "reason"?}`` for one managed namespace."""
    checker = permissions_of(service)
    if checker is None:
        return {"namespace": namespace, "known": False, "actions": {}, "reason": "this server cannot ask Kubernetes"}
    try:
        return {"namespace": namespace, "known": True, "actions": await checker.actions(namespace)}
    except NotKnown as e:
        return {"namespace": namespace, "known": False, "actions": {}, "reason": str(e)}


class PermissionsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.service.ready()
        wanted = self.get_query_argument("namespace", None)
        namespaces = list(self.service.namespaces)
        if wanted is not None:
            if wanted not in namespaces:
                raise not_found(
                    f"Namespace {wanted!r} is not managed by this server (it manages {', '.join(namespaces)})."
                )
            namespaces = [wanted]
        answers = [await namespace_permissions(self.service, ns) for ns in namespaces]
        self.write_json({"permissions": answers, "cache_seconds": CACHE_SECONDS})
