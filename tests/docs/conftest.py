"""Prints how many docs examples ran and how many are marked not runnable."""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter) -> None:
    from tests.docs.blocks import extract, pages
    from tests.docs.test_examples import DOCS, EXECUTED

    if not EXECUTED:
        return
    skipped = sum(len(extract(p)[1]) for p in pages(DOCS))
    terminalreporter.write_line(
        f"docs examples: {sum(EXECUTED.values())} run on {len(EXECUTED)} pages; "
        f"{skipped} blocks marked not runnable (reason shown on the page)")
