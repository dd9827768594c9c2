"""Each fact of ``dask_k8s_common.contract`` is written once: no other Python or TypeScript source
spells it out again (in code; docstrings and comments may mention it).

Scanned: the four distributions' packages and ``src/``. Not scanned: the contract itself, generated
files (``src/contract.generated.ts``, the CRDs), tests, docs and manifests. The node agent of the
local Kubernetes plays the kubelet, which *produces* pod waiting reasons and has its own grammar
for ``$(VAR)`` references: it may write those.
"""

from __future__ import annotations

import functools
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "common" / "dask_k8s_common" / "contract.py"
SOURCES = ("common/dask_k8s_common", "operator/dask_k8s_operator", "operator/generate_crds.py",
           "operator/crd_openapi.py", "operator/crd_schemas.py",
           "local-k8s/local_k8s", "dask_k8s_lab", "src")
GENERATED = {"src/contract.generated.ts"}

# fact -> (how it would be written again, where it may still appear besides the contract)
FACTS: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {
    "API group": (re.compile(r"kubernetes\.dask\.org"), ()),
    "labels": (re.compile(r"dask\.org/(cluster-name|component|workergroup-name|disable-mesh-sidecar)"), ()),
    "port names": (re.compile(r"\b(tcp-comm|http-dashboard)\b"), ()),
    "ports": (re.compile(r"(?<![\w.])878[67](?![\w.])"), ()),
    "name rule": (re.compile(r"\[-a-z0-9\]\*\[a-z0-9\]"), ()),
    "quantity rule": (re.compile(r"Ki\||\[KMGTPE\]i|\[mkMGTPE\]"), ()),
    # the agent expands $(VAR) references in commands as the kubelet does: its own grammar
    "env name rule": (re.compile(r"\[-\._a-zA-Z\]|\[A-Za-z_\]\[A-Za-z0-9_\.-\]"), ("local-k8s/local_k8s/agent",)),
    "fatal reasons": (re.compile(r"CrashLoopBackOff|CreateContainerConfigError|ImagePullBackOff"),
                      ("local-k8s/local_k8s/agent",)),
    "Kubernetes version": (re.compile(r"1\.35\.\d"), ()),
}


def _python_code(text: str) -> str:
    """The string literals and numbers of a module, without docstrings and comments."""
    out: list[str] = []
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    depth = 0  # inside brackets, a string on a line of its own is part of an expression
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif tok.type == tokenize.NUMBER:
            out.append(tok.string)
        elif tok.type in (tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1)):
            before = tokens[i - 1].type if i else tokenize.NEWLINE
            after = tokens[i + 1].type if i + 1 < len(tokens) else tokenize.NEWLINE
            statement = depth == 0 and before in (
                tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
            ) and after in (tokenize.NEWLINE, tokenize.NL)
            if not statement:  # a bare string statement is a docstring
                out.append(tok.string)
    return "\n".join(out)


def _typescript_code(text: str) -> str:
    return re.sub(r"/\*.*?\*/|(?<!:)//[^\n]*", "", text, flags=re.S)


@functools.cache
def _sources() -> list[tuple[str, str]]:
    files: list[Path] = []
    for entry in SOURCES:
        path = ROOT / entry
        files += [path] if path.is_file() else [*path.rglob("*.py"), *path.rglob("*.ts"), *path.rglob("*.tsx")]
    found = []
    for path in sorted(files):
        rel = path.relative_to(ROOT).as_posix()
        if path == CONTRACT or rel in GENERATED or "/tests/" in f"/{rel}" or "__pycache__" in rel:
            continue
        text = path.read_text()
        found.append((rel, _python_code(text) if path.suffix == ".py" else _typescript_code(text)))
    return found


@pytest.mark.parametrize("fact", sorted(FACTS))
def test_fact_is_defined_once(fact: str) -> None:
    pattern, allowed = FACTS[fact]
    assert pattern.search(CONTRACT.read_text()), f"the contract no longer holds the {fact}"
    again = [rel for rel, code in _sources()
             if pattern.search(code) and not rel.startswith(allowed)]
    assert not again, (f"the {fact} is written again in {again}: "
                       "import it from dask_k8s_common.contract instead")


def test_python_scanner_ignores_docstrings_and_comments() -> None:
    code = _python_code('"""Ports 8786."""\nX = 1  # 8787\ndef f():\n    """tcp-comm"""\n    return "a"\n')
    assert "8786" not in code and "8787" not in code and "tcp-comm" not in code and '"a"' in code
    assert "8786" in _python_code("PORT = 8786\n")
    assert "tcp-comm" in _python_code('X = (\n    "a "\n    "tcp-comm"\n)\n')  # a string inside brackets
