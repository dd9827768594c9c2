"""REST handlers: thin wrappers that parse, call the ClusterService, and write JSON."""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from . import openapi
from .errors import ApiError, invalid
from .requests import AdaptRequest, parse_add_worker_group, parse_create, parse_json_object, parse_patch
from .service import ClusterService

AUTH_RESOURCE = "dask-k8s"
SEGMENT = r"[^/]+"
CLUSTER = rf"/dask-k8s/clusters/(?P<namespace>{SEGMENT})/(?P<name>{SEGMENT})"


class BaseHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def service(self) -> ClusterService:
        return self.settings["dask_k8s_lab_service"]

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def body_object(self) -> dict:
        return parse_json_object(self.request.body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error is ``{"message": str, "field"?: str}``."""
        self.set_header("Content-Type", "application/json")
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, ApiError):
            body = exc.to_json()
        elif isinstance(exc, web.HTTPError):
            body = {"message": exc.log_message or exc.reason or f"HTTP {status_code}"}
        else:
            body = {"message": f"Internal error in the dask-k8s-lab extension: {exc!r}"}
        self.finish(json.dumps(body))


class ClustersHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        body = await self.service.list_clusters_json()
        self.set_header("Content-Type", "application/json")
        self.finish(body)

    @web.authenticated
    @authorized
    async def post(self) -> None:
        request = parse_create(self.body_object(), self.service.config.max_workers)
        self.write_json(await self.service.create_cluster(request), status=201)


class ClusterHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, namespace: str, name: str) -> None:
        self.write_json(await self.service.get_cluster(namespace, name))

    @web.authenticated
    @authorized
    async def patch(self, namespace: str, name: str) -> None:
        request = parse_patch(self.body_object(), self.service.config.max_workers)
        if isinstance(request, AdaptRequest):
            model = await self.service.adapt(namespace, name, request)
        else:
            model = await self.service.scale(namespace, name, request)
        self.write_json(model)

    @web.authenticated
    @authorized
    async def delete(self, namespace: str, name: str) -> None:
        await self.service.delete_cluster(namespace, name)
        self.set_status(204)
        self.finish()


class WorkerGroupsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def post(self, namespace: str, name: str) -> None:
        request = parse_add_worker_group(self.body_object(), self.service.config.max_workers)
        self.write_json(await self.service.add_worker_group(namespace, name, request), status=201)


class WorkerGroupHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def delete(self, namespace: str, name: str, group: str) -> None:
        await self.service.delete_worker_group(namespace, name, group)
        self.set_status(204)
        self.finish()


class LogsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, namespace: str, name: str) -> None:
        tail = self.get_query_argument("tail_lines", None)
        lines = None
        if tail is not None:
            if not tail.isdigit() or not 1 <= int(tail) <= 100_000:
                raise invalid("tail_lines", f"tail_lines must be a whole number from 1 to 100000, got {tail!r}.")
            lines = int(tail)
        previous = self.get_query_argument("previous", "false")
        if previous not in ("true", "false"):
            raise invalid("previous", f"previous must be true or false, got {previous!r}.")
        self.write_json({"logs": await self.service.logs(namespace, name, lines, previous=previous == "true")})


class EventsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, namespace: str, name: str) -> None:
        self.write_json({"events": await self.service.events(namespace, name)})


class TemplatesHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(self.service.templates())


class OpenAPIHandler(BaseHandler):
    """The OpenAPI 3 description of this API, for clients and tools."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.set_header("Content-Type", "application/yaml")
        self.finish(openapi.document_text())


OPENAPI = openapi.DOCUMENT


def rest_handlers() -> list[tuple[str, type]]:
    from .permissions import PermissionsHandler  # these build on BaseHandler
    from .quota_handlers import QuotaHandler

    return [
        (r"/dask-k8s/clusters/?", ClustersHandler),
        (rf"{CLUSTER}/?", ClusterHandler),
        (rf"{CLUSTER}/worker-groups/?", WorkerGroupsHandler),
        (rf"{CLUSTER}/worker-groups/(?P<group>{SEGMENT})/?", WorkerGroupHandler),
        (rf"{CLUSTER}/logs/?", LogsHandler),
        (rf"{CLUSTER}/events/?", EventsHandler),
        (r"/dask-k8s/templates/?", TemplatesHandler),
        (r"/dask-k8s/permissions/?", PermissionsHandler),
        (r"/dask-k8s/quota/?", QuotaHandler),
        (r"/dask-k8s/openapi.yaml", OpenAPIHandler),
    ]
