"""The built JupyterLab extension is installed where JupyterLab finds it, and the front-end
build configuration stays consistent (names, output paths, no registry hosts in the lock file)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = json.loads((ROOT / "package.json").read_text())
EXTENSION = "dask-k8s-lab"


def test_labextension_is_listed_enabled_and_ok():
    jupyter = Path(sys.executable).with_name("jupyter")
    out = subprocess.run(
        [str(jupyter), "labextension", "list"], capture_output=True, text=True, timeout=120
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    line = next((l for l in text.splitlines() if l.strip().startswith(f"{EXTENSION} ")), None)
    assert line, f"{EXTENSION} not in `jupyter labextension list`:\n{text}"
    assert f"v{PACKAGE['version']}" in line
    assert "enabled" in line and "OK" in line, line


def test_installed_extension_carries_settings_schema():
    prefix = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / EXTENSION
    schema = json.loads((prefix / "schemas" / EXTENSION / "plugin.json").read_text())
    assert {"defaults", "templates", "refreshInterval", "confirmDelete"} <= set(schema["properties"])
    installed = json.loads((prefix / "package.json").read_text())
    assert installed["name"] == PACKAGE["name"]
    assert installed["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")


def test_build_output_is_what_the_wheel_ships():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shared = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    out_dir = PACKAGE["jupyterlab"]["outputDir"]
    assert shared[out_dir] == f"share/jupyter/labextensions/{EXTENSION}"
    hook = pyproject["tool"]["hatch"]["build"]["hooks"]["jupyter-builder"]
    assert all(t.startswith(out_dir + "/") for t in hook["ensured-targets"])
    assert hook["build-kwargs"]["npm"] == ["npm"]
    assert hook["build-kwargs"]["build_cmd"] in PACKAGE["scripts"]
    assert hook["editable-build-kwargs"]["build_cmd"] in PACKAGE["scripts"]


def test_lock_file_records_no_download_urls():
    lock = json.loads((ROOT / "package-lock.json").read_text())
    resolved = [name for name, meta in lock.get("packages", {}).items() if "resolved" in meta]
    assert resolved == [], f"package-lock.json records download URLs for {resolved[:5]}"
    assert "omit-lockfile-registry-resolved=true" in (ROOT / ".npmrc").read_text()


def test_settings_schema_defaults_match_what_the_code_reads():
    schema = json.loads((ROOT / "schema" / "plugin.json").read_text())
    props = schema["properties"]
    assert props["refreshInterval"]["default"] >= 1
    assert props["confirmDelete"]["default"] is True
    assert props["templates"]["default"] == []
    source = (ROOT / "src" / "index.ts").read_text()
    for key in props:
        assert f"loaded.get('{key}')" in source, f"setting {key} is declared but never read"
