"""Shared pytest fixtures; each component's fixtures live in tests/fixtures/."""

import pytest

pytest_plugins = ["tests.fixtures.kube", "tests.fixtures.operator"]


def _last_order(item: pytest.Item) -> tuple[bool, int]:
    marker = item.get_closest_marker("last")
    return marker is not None, (marker.args[0] if marker and marker.args else 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests marked `last` disturb shared things (the operator, the local cluster itself), so they
    # run after all others; `last(n)` orders them among themselves.
    items.sort(key=_last_order)
