"""The code blocks of the docs' Markdown pages, and what the docs tests do with each (pure).

Conventions (docs/README.md says the same for authors):

- ```` ```python ```` runs; ```` ```pycon ```` runs as a doctest (its output is checked); both share
  one interpreter per page, in page order.
- ```` ```sh ```` runs in bash (``set -euo pipefail``); ```` ```console ```` runs each ``$ `` line
  and checks the output printed under it (``...`` matches anything).
- ```` ```yaml ```` must parse; a Kubernetes object is validated by the API server
  (``kubectl apply --dry-run=server``). A ```` ```{code-block} yaml ```` with ``:caption: FILE``
  is also written to FILE in the page's working folder, for later blocks to use.
- ```` ```{not-run} reason ```` holds blocks that are shown but not run, with the reason.
- ```` ```text ```` is for pictures and shown output only. Any other language is an error, so
  nothing slips through untested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt

RUN = {"python", "pycon", "sh", "console", "yaml"}
SHOWN = {"text"}
#: Directives whose body is not a code example.
DIRECTIVES = {"toctree", "include", "eval-rst", "emitted", "screenshot", "note", "warning", "tip",
              "important", "seealso", "admonition", "figure", "image"}


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    kind: str  # python | pycon | sh | console | yaml
    code: str
    file: str | None = None  # a yaml block's :caption: (the file it is written to)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass
class Skipped:
    page: Path
    line: int
    reason: str


class DocsError(ValueError):
    """A block the tests cannot classify: fix the page."""


def _directive_body(content: str) -> tuple[dict[str, str], str]:
    """``:key: value`` option lines at the top of a directive's body, and the rest."""
    options: dict[str, str] = {}
    lines = content.splitlines(keepends=True)
    while lines and (m := re.match(r"^:([\w-]+):\s*(.*)$", lines[0].rstrip("\n"))):
        options[m.group(1)] = m.group(2).strip()
        lines.pop(0)
    return options, "".join(lines).lstrip("\n")


def extract(page: Path, text: str | None = None) -> tuple[list[Block], list[Skipped]]:
    """Every runnable block of a page, and every not-run box with its reason."""
    text = page.read_text() if text is None else text
    blocks: list[Block] = []
    skipped: list[Skipped] = []
    for token in MarkdownIt("commonmark").parse(text):
        if token.type not in ("fence", "code_block"):
            continue
        line = (token.map or [0])[0] + 1
        if token.type == "code_block":
            raise DocsError(f"{page}:{line}: an indented code block; use a fenced one with a language")
        name, _, argument = token.info.strip().partition(" ")
        body = token.content
        options: dict[str, str] = {}
        if name.startswith("{") and name.endswith("}"):
            directive = name[1:-1]
            if directive == "not-run":
                if not argument.strip():
                    raise DocsError(f"{page}:{line}: a not-run block needs the reason as its argument")
                skipped.append(Skipped(page, line, argument.strip()))
                continue
            if directive in DIRECTIVES:
                continue
            if directive != "code-block":
                raise DocsError(f"{page}:{line}: unknown directive {name}: add it to DIRECTIVES if it holds no code")
            name = argument.strip()
            options, body = _directive_body(body)
        if name in SHOWN:
            continue
        if name not in RUN:
            raise DocsError(f"{page}:{line}: code block language {name!r} is not run by the docs tests; "
                            f"use one of {sorted(RUN | SHOWN)} or put it in a {{not-run}} box with the reason")
        blocks.append(Block(page, line, name, body, options.get("caption") if name == "yaml" else None, options))
    return blocks, skipped


def console_steps(code: str) -> list[tuple[str, str]]:
    """``$ command`` lines (continued by a trailing backslash) and the output expected under each."""
    steps: list[tuple[str, str]] = []
    command: str | None = None
    output: list[str] = []
    lines = code.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            if command is not None:
                steps.append((command, "\n".join(output)))
            command, output = line[2:], []
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command += "\n" + lines[i]  # bash reads the backslash-newline as a continuation
        elif command is None:
            raise DocsError(f"console block: output before the first '$ ' command: {line!r}")
        else:
            output.append(line)
        i += 1
    if command is not None:
        steps.append((command, "\n".join(output)))
    return steps


def pages(docs: Path) -> list[Path]:
    """The docs' Markdown pages (generated reference pages hold no examples)."""
    return sorted(p for p in docs.rglob("*.md")
                  if not any(part.startswith(("_", ".")) for part in p.relative_to(docs).parts))
