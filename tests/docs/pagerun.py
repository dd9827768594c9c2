"""Run one docs page's examples against the local Kubernetes, in a namespace of its own.

The page's working folder holds the files its ``{code-block} yaml`` blocks name, a kubeconfig
whose current namespace is the page's, and is where shell blocks and the Python interpreter run.
"""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.docs.blocks import Block, console_steps
from tests.docs.runner import FLAGS, RESULT_MARK

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: Repository folders the pages' shell commands name (operator/chart/..., deploy/...).
REPO_FOLDERS = ("operator", "deploy", "dask_k8s_lab")
BLOCK_TIMEOUT = 600  # seconds for one block (a cluster start, a DaskJob)


class ExampleFailed(AssertionError):
    pass


@dataclass
class PageRun:
    workdir: Path
    base_env: dict[str, str]
    namespace: str = field(default_factory=lambda: f"docs-{uuid.uuid4().hex[:8]}")
    executed: int = 0
    _python: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.env = {**self.base_env, "KUBECONFIG": str(self.workdir / "kubeconfig"),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{self.base_env.get('PATH', '')}",
                    "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
                    # a loaded CI machine may take longer than the default 60 s to start a cluster
                    "DASK_KUBERNETES__RESOURCE_TIMEOUT": "300"}

    # -- set-up and clean-up ---------------------------------------------------------------

    def __enter__(self) -> PageRun:
        source = self.base_env["KUBECONFIG"].split(os.pathsep)[0]
        (self.workdir / "kubeconfig").write_text(Path(source).read_text())
        for folder in REPO_FOLDERS:  # the pages' commands run "from a clone of the repository"
            (self.workdir / folder).symlink_to(ROOT / folder)
        self._kubectl("create", "namespace", self.namespace)
        self._kubectl("config", "set-context", "--current", f"--namespace={self.namespace}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._python is not None:
            self._python.stdin.close()
            try:
                self._python.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._python.kill()
        self._kubectl("delete", "namespace", self.namespace, "--wait=false", check=False)

    def _kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True,
                                env=self.env, cwd=self.workdir, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr}")
        return result

    # -- blocks ----------------------------------------------------------------------------

    def run(self, block: Block) -> None:
        getattr(self, f"_run_{block.kind}")(block)
        self.executed += 1

    def _run_python(self, block: Block) -> None:
        if self._python is None:
            self._python = subprocess.Popen(
                [sys.executable, "-u", str(HERE / "runner.py")], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env, cwd=self.workdir)
        request = {"kind": block.kind, "code": block.code, "name": str(block.page), "line": block.line}
        self._python.stdin.write(json.dumps(request) + "\n")
        self._python.stdin.flush()
        stray = []
        # the runner answers once per block; a block that hangs is ended by the test's timeout
        for line in self._python.stdout:
            if line.startswith(RESULT_MARK):
                answer = json.loads(line[len(RESULT_MARK):])
                if not answer["ok"]:
                    raise ExampleFailed(f"{block.where}: the {block.kind} example failed:\n{answer['output']}"
                                        + ("".join(stray)[-2000:] and f"\n(process output: {''.join(stray)[-2000:]})"))
                return
            stray.append(line)
        raise ExampleFailed(f"{block.where}: the Python interpreter exited:\n{''.join(stray)[-4000:]}")

    _run_pycon = _run_python

    def _shell(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", "set -euo pipefail\n" + command], capture_output=True, text=True,
                              env=self.env, cwd=self.workdir, timeout=BLOCK_TIMEOUT)

    def _run_sh(self, block: Block) -> None:
        result = self._shell(block.code)
        if result.returncode != 0:
            raise ExampleFailed(f"{block.where}: the shell example exited {result.returncode}:\n"
                                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

    def _run_console(self, block: Block) -> None:
        checker = doctest.OutputChecker()
        for command, expected in console_steps(block.code):
            result = self._shell(command)
            got = result.stdout + result.stderr
            if result.returncode != 0:
                raise ExampleFailed(f"{block.where}: `{command}` exited {result.returncode}:\n{got[-3000:]}")
            # what the page shows is the output, with or without the warnings a tool printed on stderr
            if expected.strip() and not any(checker.check_output(expected.strip() + "\n", out.strip() + "\n", FLAGS)
                                            for out in (result.stdout, got)):
                raise ExampleFailed(f"{block.where}: `{command}` printed something else than the page shows.\n"
                                    f"Page:\n{expected}\nGot:\n{got}")

    def _run_yaml(self, block: Block) -> None:
        try:
            documents = [d for d in yaml.safe_load_all(block.code) if d is not None]
        except yaml.YAMLError as e:
            raise ExampleFailed(f"{block.where}: not YAML: {e}") from None
        if block.file:
            path = self.workdir / block.file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.code)
        if documents and all(isinstance(d, dict) and "apiVersion" in d and "kind" in d for d in documents):
            result = self._kubectl("apply", "--dry-run=server", "-f", "-", stdin=block.code, check=False)
            if result.returncode != 0:
                raise ExampleFailed(f"{block.where}: the API server rejects this manifest:\n{result.stderr}")
