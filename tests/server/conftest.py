"""Fixtures for the server extension tests: a Jupyter server with the extension on a fake backend."""

from __future__ import annotations

import json

import pytest

from pytest_jupyter.jupyter_server import *  # noqa: F401,F403  (jp_fetch, jp_ws_fetch, jp_serverapp, ...)

# pytest-asyncio runs the async tests (asyncio_mode = auto); drop pytest-jupyter's own runner hooks
# and give its fixtures pytest-asyncio's session loop, so the server and the tests share one loop.
del pytest_pycollect_makeitem, pytest_pyfunc_call  # noqa: F821


@pytest.fixture
def jp_asyncio_loop(_session_scoped_runner):
    return _session_scoped_runner.get_loop()

NAMESPACES = ["team-a", "team-b"]


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {"jpserver_extensions": {"dask_k8s_lab.server": True}},
        "DaskK8sLab": {
            "namespaces": NAMESPACES,
            "kube_backend_class": "tests.server.fake.FakeBackend",
            "default_image": "dask-k8s-lab/dask:test",
        },
    }


@pytest.fixture
def service(jp_serverapp):
    return jp_serverapp.web_app.settings["dask_k8s_lab_service"]


@pytest.fixture
def fake(service):
    return service.backend


@pytest.fixture
def api(jp_fetch):
    """``await api("GET", "clusters")`` -> (status, JSON body or None); errors do not raise."""

    async def call(method: str, *path: str, body=None, raw: bytes | None = None, **params):
        kwargs = {"method": method, "raise_error": False}
        if raw is not None:
            kwargs["body"] = raw
        elif body is not None:
            kwargs["body"] = json.dumps(body)
        elif method in ("POST", "PATCH"):
            kwargs["body"] = b""
            kwargs["allow_nonstandard_methods"] = True
        if params:
            kwargs["params"] = params
        response = await jp_fetch("dask-k8s", *path, **kwargs)
        text = response.body.decode() if response.body else ""
        return response.code, (json.loads(text) if text else None)

    return call


@pytest.fixture
async def scheduler():
    """A real Dask scheduler with its dashboard on 127.0.0.1 (what the proxy serves)."""
    from distributed import Scheduler

    async with Scheduler(host="127.0.0.1", port=0, dashboard_address="127.0.0.1:0") as s:
        yield s
