"""``GET /dask-k8s/quota?namespace=``: used/hard of the namespace's quota and its LimitRange
defaults; ``POST /dask-k8s/quota`` with a create body: also what that cluster would add and
whether it fits (the create form's preview; nothing is created)."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .errors import invalid, not_found
from .handlers import BaseHandler
from .manifests import cluster_manifest
from .quotas import groups_of, quota_view
from .requests import apply_template, parse_create


class QuotaHandler(BaseHandler):
    def _namespace(self, wanted: str | None) -> str:
        namespaces = list(self.service.namespaces)
        namespace = wanted or namespaces[0]
        if namespace not in namespaces:
            raise not_found(f"Namespace {namespace!r} is not managed by this server (it manages {', '.join(namespaces)}).")
        return namespace

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.service.ready()
        namespace = self._namespace(self.get_query_argument("namespace", None))
        self.write_json(await quota_view(self.service, namespace))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """The create form's preview: the body of POST /dask-k8s/clusters; nothing is created."""
        await self.service.ready()
        config = self.service.config
        request = parse_create(self.body_object(), config.max_workers)
        namespace = self._namespace(request.namespace)
        if request.template is not None:
            template = next((t for t in config.templates if t["name"] == request.template), None)
            if template is None:
                raise invalid("template", f"Unknown template {request.template!r}.")
            request = apply_template(request, template, config.max_workers)
        image = request.image or config.default_image
        try:
            manifest = cluster_manifest(request, request.name or "preview", namespace, image)
        except ValueError as e:
            raise invalid("body", str(e)) from None
        self.write_json(await quota_view(self.service, namespace, manifest, groups_of(manifest, request, image)))
