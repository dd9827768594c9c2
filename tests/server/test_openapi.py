"""Fuzz the REST API from its OpenAPI description: no 5xx, and responses match the document."""

from __future__ import annotations

import asyncio
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

import dask_k8s_lab.server

SPEC = Path(dask_k8s_lab.server.__file__).with_name("openapi.yaml")
EXAMPLES_PER_OPERATION = 30


def fuzz(base_url: str, headers: dict) -> list[str]:
    """Run every operation in positive and negative mode; return the failures found."""
    schema = schemathesis.openapi.from_path(str(SPEC))
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 16
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case):
                response = case.call(base_url=base_url, headers=headers, timeout=10)
                where = f"{case.method} {case.formatted_path} body={case.body!r}"
                if response.status_code >= 500:
                    failures.append(f"{where} -> {response.status_code} {response.text[:300]}")
                    return
                try:
                    case.operation.validate_response(response)
                except (AssertionError, BaseExceptionGroup) as error:  # schemathesis: not as documented
                    parts = error.exceptions if isinstance(error, BaseExceptionGroup) else [error]
                    detail = "; ".join(str(e)[:200] for e in parts)
                    failures.append(f"{where} -> {response.status_code}: {detail}")

            check()
    return failures


async def test_fuzz_the_api_from_its_openapi_document(api, fake, scheduler, jp_base_url, jp_auth_header, http_server_port):
    # Something to find: a cluster with a worker group at the documented example path, and a
    # real scheduler dashboard behind it.
    status, _ = await api("POST", "clusters", body={"name": "c1", "worker_groups": [{"name": "g", "n_workers": 1}]})
    assert status == 201
    fake.dashboard = ("127.0.0.1", scheduler.http_server.port)
    base_url = f"http://127.0.0.1:{http_server_port[1]}{jp_base_url.rstrip('/')}"
    loop = asyncio.get_running_loop()
    failures = await loop.run_in_executor(None, fuzz, base_url, dict(jp_auth_header))
    assert failures == []
    assert any(call[0] == "create" for call in fake.calls[1:])  # the fuzzer did reach the backend


async def test_the_server_serves_its_openapi_document(jp_fetch):
    import yaml

    response = await jp_fetch("dask-k8s", "openapi.yaml")
    assert yaml.safe_load(response.body) == yaml.safe_load(SPEC.read_text())
