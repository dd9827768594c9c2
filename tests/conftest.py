"""Shared pytest fixtures; each component's fixtures live in tests/fixtures/."""

pytest_plugins = ["tests.fixtures.kube"]
