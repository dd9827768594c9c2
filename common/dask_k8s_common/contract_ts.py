"""Write the front end's copy of the contract, ``src/contract.generated.ts``, from
:func:`dask_k8s_common.contract.as_json`.

``python -m dask_k8s_common.contract_ts [PATH]`` writes PATH (default: print to stdout).
tests/frontend/test_contract_generated.py fails when the committed file and the contract drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import contract

COMMAND = "python -m dask_k8s_common.contract_ts src/contract.generated.ts"
HEADER = (
    "// Generated from dask_k8s_common.contract.as_json() by\n"
    f"//   {COMMAND}\n"
    "// Do not edit: change common/dask_k8s_common/contract.py and regenerate.\n"
    "// tests/frontend/test_contract_generated.py fails when this file and the contract drift.\n"
)


def _declaration(key: str, value: Any) -> str:
    # Patterns become RegExp objects built from their source (JSON string escaping is also valid
    # TypeScript), so no pattern is ever retyped as a regex literal.
    if key.endswith("_PATTERN"):
        if not isinstance(value, str):
            raise TypeError(f"{key} is not a pattern string: {value!r}")
        return f"export const {key}: RegExp = new RegExp({json.dumps(value)});"
    if isinstance(value, bool):
        return f"export const {key} = {json.dumps(value)};"
    if isinstance(value, (int, float, str)):
        return f"export const {key} = {json.dumps(value)};"
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        items = ", ".join(json.dumps(v) for v in value)
        return f"export const {key}: readonly string[] = [{items}];"
    raise TypeError(f"{key}: no TypeScript form for {value!r}")


def render(facts: dict[str, Any] | None = None) -> str:
    """The TypeScript module for ``facts`` (default: ``contract.as_json()``)."""
    facts = contract.as_json() if facts is None else facts
    lines = [HEADER]
    lines += [_declaration(key, facts[key]) for key in sorted(facts)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if not args:
        sys.stdout.write(text)
        return 0
    path = Path(args[0])
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
