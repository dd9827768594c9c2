"""Sphinx glue for the dask-k8s-lab docs.

- writes the generated reference pages (``dkl_reference``) to ``docs/_generated/`` on every build;
- ``{not-run} reason``: a block the docs tests do not execute, with the reason shown to the reader;
- ``{emitted} path`` + ``:contains: text``: quotes the message the code at ``path`` emits;
- ``{screenshot} pattern``: a PNG the browser tests wrote to ``ui-tests/artifacts/``, or a note;
- docstrings' ``Parameters`` sections (``name: text`` lines) become Sphinx field lists.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

import dkl_reference as ref

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"
ARTIFACTS = ROOT / "ui-tests" / "artifacts"


def generated_pages() -> dict[str, str]:
    """Every generated page: file name under ``_generated/`` to Markdown."""
    return {
        "python-api.md": ref.python_api_page(["dask_k8s_lab", "dask_k8s_lab.classic"]),
        "crds.md": ref.crds_page(ROOT / "operator" / "crds", ROOT),
        "chart-values.md": ref.commented_yaml_page(
            ROOT / "operator" / "chart" / "dask-k8s-operator" / "values.yaml", ROOT,
            "Set with `helm install ... --set key=value` or `-f my-values.yaml`."),
        "dask-config.md": ref.commented_yaml_page(
            ROOT / "dask_k8s_lab" / "kubernetes.yaml", ROOT,
            "Keys under `kubernetes.` of the Dask config: set them in `~/.config/dask/*.yaml`, as "
            "`DASK_KUBERNETES__<KEY>` environment variables (`-` as `_`, nesting as `__`), or with "
            "`dask.config.set`."),
        "rest-api.md": ref.openapi_page(ROOT / "dask_k8s_lab" / "server" / "openapi.yaml", ROOT),
        "cli.md": ref.cli_page([("dask_k8s_lab.cli:main", "dask-k8s-lab"),
                                ("dask_k8s_lab.kubernetes_cli:main", "dask kubernetes")]),
        "operator-cli.md": ref.operator_cli_page(),
        "server-config.md": ref.traitlets_page("dask_k8s_lab.server.config:DaskK8sLab"),
    }


def write_generated(app: Sphinx) -> None:
    GENERATED.mkdir(exist_ok=True)
    pages = generated_pages()
    for name, content in pages.items():
        path = GENERATED / name
        if not path.exists() or path.read_text() != content:  # unchanged files keep Sphinx's cache
            path.write_text(content)
    for stale in GENERATED.glob("*.md"):
        if stale.name not in pages:
            stale.unlink()


class NotRun(SphinxDirective):
    """Content the docs tests skip; the reason is part of the page."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True

    def run(self) -> list[nodes.Node]:
        box = nodes.admonition(classes=["note", "not-run"])
        box += nodes.title(text="Not run by the docs tests")
        reason = self.arguments[0].rstrip(".")
        box += nodes.paragraph(text=reason[:1].upper() + reason[1:] + ".")
        self.state.nested_parse(self.content, self.content_offset, box)
        return [box]


class Emitted(SphinxDirective):
    """The message a source file emits, found by a fragment of it (placeholders shown as {...})."""

    required_arguments = 1
    option_spec = {"contains": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        path = ROOT / self.arguments[0]
        self.env.note_dependency(str(path))
        try:
            message = ref.emitted_message(path, self.options["contains"])
        except (OSError, LookupError, SyntaxError, KeyError) as e:
            raise self.error(f"emitted: {e}") from None
        block = nodes.literal_block(message, message, classes=["emitted"])
        block["language"] = "text"
        caption = nodes.paragraph()
        caption += nodes.Text("The message, as ")
        caption += nodes.literal(text=self.arguments[0])
        caption += nodes.Text(" emits it:")
        return [caption, block]


class Screenshot(SphinxDirective):
    """A browser-test screenshot, copied from ``ui-tests/artifacts/`` when a run left it there."""

    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        # not a file, so Sphinx re-reads this page on every build: a new test run's screenshots show
        self.env.note_dependency(str(ARTIFACTS))
        matches = sorted(ARTIFACTS.glob(self.arguments[0])) if ARTIFACTS.exists() else []
        caption = " ".join(self.content).strip()
        if not matches:
            note = nodes.note()
            note += nodes.paragraph(
                text=f"Screenshot “{caption}” not available in this build: the browser tests "
                f"(ui-tests/run.sh, part of ./dev test) write it to ui-tests/artifacts/{self.arguments[0]}, "
                "and the docs build picks it up from there.")
            return [note]
        target = GENERATED / "screenshots" / matches[-1].relative_to(ARTIFACTS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(matches[-1], target)
        figure = nodes.figure()
        figure += nodes.image(uri="/" + target.relative_to(DOCS).as_posix(), alt=caption, width="100%")
        figure += nodes.caption(text=caption)
        return [figure]


_SECTION = re.compile(r"^(?P<title>[A-Z][A-Za-z ]+)\n-{3,}\n", re.M)
_PARAM = re.compile(r"^(?P<name>[A-Za-z_][\w /*]*?):\s+(?P<text>\S.*)$")


def numpy_sections(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """``Parameters`` with ``name: text`` lines (continuations indented) to ``:param name: text``;
    any other underlined heading to a rubric (a heading inside a docstring is not valid there)."""
    out: list[str] = []
    section = None
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"-{3,}", underline.strip()) and not line.startswith(" "):
            section = line.strip()
            if section != "Parameters":
                out += [f".. rubric:: {section}", ""]
            i += 2
            continue
        match = _PARAM.match(line) if section == "Parameters" else None
        if match:
            for param in re.split(r"\s*/\s*", match["name"].strip()):
                out.append(f":param {param}: {match['text']}")
        elif section == "Parameters" and line.startswith(" ") and out and out[-1].startswith(":param"):
            out[-1] += " " + line.strip()
        else:
            if section == "Parameters" and line.strip():
                section = None
            out.append(line)
        i += 1
    lines[:] = out


def public_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list) -> None:
    """Show a class's public bases only: KubeCluster's behaviour lives in private mixins, one
    per concern (dask_k8s_lab/kubecluster/), which are not part of the API."""
    bases[:] = [base for base in bases if not base.__name__.endswith("Mixin")]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", write_generated)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("autodoc-process-docstring", numpy_sections)
    app.add_directive("not-run", NotRun)
    app.add_directive("emitted", Emitted)
    app.add_directive("screenshot", Screenshot)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
