"""Shared pytest fixtures; each component's fixtures live in tests/fixtures/."""

import pytest

pytest_plugins = ["tests.fixtures.kube", "tests.fixtures.operator"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests marked `last` tear shared things down (e.g. the local cluster), so they run after all others.
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)
