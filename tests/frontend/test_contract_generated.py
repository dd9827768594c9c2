"""The front end's copy of the contract (``src/contract.generated.ts``) is what the generator makes
of ``dask_k8s_common.contract`` today: regenerate it after changing the contract."""

from __future__ import annotations

import re
from pathlib import Path

from dask_k8s_common import contract, contract_ts

GENERATED = Path(__file__).resolve().parents[2] / "src" / "contract.generated.ts"


def test_committed_file_matches_the_contract() -> None:
    assert GENERATED.read_text() == contract_ts.render(), (
        f"src/contract.generated.ts is out of date with the contract: run `{contract_ts.COMMAND}` "
        "from the repository root and commit the result"
    )


def test_every_fact_is_exported_once_in_its_typescript_form() -> None:
    text = contract_ts.render()
    assert text.startswith("// Generated"), "the file must say it is generated and by what"
    for key, value in contract.as_json().items():
        (line,) = [ln for ln in text.splitlines() if ln.startswith(f"export const {key}")]
        if key.endswith("_PATTERN"):
            assert "new RegExp(" in line and re.compile(value)  # a RegExp from the same source
        elif isinstance(value, (int, str)):
            assert repr(value).strip("'") in line or str(value) in line


def test_drift_is_detected() -> None:
    # The check can fail: a changed fact changes the rendering.
    changed = {**contract.as_json(), "MAX_CLUSTER_NAME": contract.MAX_CLUSTER_NAME + 1}
    assert contract_ts.render(changed) != contract_ts.render()
