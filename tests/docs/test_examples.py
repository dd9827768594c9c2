"""Every runnable example of the docs, run against the local Kubernetes (one page per test).

How blocks are classified and run: tests/docs/blocks.py and tests/docs/pagerun.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.docs.blocks import extract, pages
from tests.docs.pagerun import ROOT, PageRun

DOCS = ROOT / "docs"
PAGES = [p for p in pages(DOCS) if extract(p)[0]]
EXECUTED: dict[str, int] = {}  # page -> examples run, for the session summary (conftest.py)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dask_operator")]


@pytest.mark.parametrize("doc", PAGES, ids=[p.relative_to(DOCS).as_posix() for p in PAGES])
def test_page_examples_run(doc: Path, tmp_path: Path, kube) -> None:
    blocks, _ = extract(doc)
    with PageRun(tmp_path, dict(os.environ)) as run:
        for block in blocks:
            run.run(block)
    EXECUTED[doc.relative_to(DOCS).as_posix()] = run.executed
    assert run.executed == len(blocks)


BROKEN = {
    "python": "```python\nraise RuntimeError('broken example')\n```\n",
    "pycon": "```pycon\n>>> 1 + 1\n3\n```\n",
    "sh": "```sh\nfalse\n```\n",
    "console": "```console\n$ echo hello\ngoodbye\n```\n",
    "yaml": "```yaml\napiVersion: kubernetes.dask.org/v1\nkind: DaskCluster\nmetadata:\n  name: x\nspec:\n  worker: {replicas: -1}\n```\n",
}


@pytest.mark.parametrize("kind", BROKEN)
def test_a_broken_example_fails(kind: str, tmp_path: Path, kube) -> None:
    from tests.docs.pagerun import ExampleFailed

    doc = tmp_path / "broken.md"
    doc.write_text(BROKEN[kind])
    blocks, _ = extract(doc)
    workdir = tmp_path / "work"
    workdir.mkdir()
    with PageRun(workdir, dict(os.environ)) as run, pytest.raises(ExampleFailed, match=r"broken\.md:1"):
        run.run(blocks[0])
