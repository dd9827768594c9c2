"""The operator's unit tests run its reconcilers in this process: they read each status write
at once, so status writes are not coalesced here (test_status_coalescing.py tests that)."""

import pytest

from dask_k8s_operator.reconcile import status


@pytest.fixture(autouse=True)
def _status_written_at_once(monkeypatch):
    monkeypatch.setattr(status, "WINDOW", 0.0)
