"""The operator as its own distribution: installed alone it brings no Jupyter and no front end,
and `operator/Dockerfile` builds exactly that install.

The Dockerfile test has no container engine to build with: `DockerBuild` reads the Dockerfile and
plays its instructions against a temporary folder per stage (absolute paths mapped into it),
with a fresh virtual environment of this machine's Python standing in for the base image's
(made by uv and seeded with pip, for speed). Its `RUN` lines run as written with that pip, our two
distributions and their dependencies alike (the index reached through pip's own configuration);
only the commands it knows are allowed, so a Dockerfile that gains a step the test cannot play
fails here instead of being skipped. Editing the Dockerfile changes what this test runs.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from local_k8s.agent.imagestore import base_python, uv_binary, uv_env

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "operator" / "Dockerfile"
OPERATOR_SOURCES = ("common", "operator")  # the distributions the operator's image holds
# Names of Jupyter's distributions; none may come with the operator.
JUPYTER = re.compile(r"^(jupyter|notebook|ipykernel|jupyterlab)")
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

LIST_DISTRIBUTIONS = ("import importlib.metadata as m, json; "
                      "print(json.dumps(sorted({d.metadata['Name'] for d in m.distributions()})))")
PACKAGED_FILES = ("from dask_k8s_operator import install; "
                  "print(install.crd_dir()); print(install.chart_dir()); print(len(install.crd_files()))")


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def distributions(python: Path) -> list[str]:
    return [name.lower().replace("_", "-") for name in json.loads(run(python, "-c", LIST_DISTRIBUTIONS))]


def assert_operator_only(venv: Path) -> list[str]:
    """The environment holds the operator and what it needs, nothing of Jupyter or npm."""
    names = distributions(venv / "bin" / "python")
    assert {"dask-k8s-operator", "dask-k8s-lab-common", "kopf", "kr8s"} <= set(names)
    assert [n for n in names if JUPYTER.match(n)] == []
    assert "dask-k8s-lab" not in names  # the client, its server extension and front end
    assert not (venv / "share" / "jupyter").exists()
    # no built front end anywhere (a labextension is a folder with a package.json and static/)
    assert [str(p) for p in venv.rglob("*") if p.name in ("package.json", "node_modules", "labextensions")] == []
    return names


def assert_operator_runs(venv: Path, argv: list[str]) -> None:
    out = run(venv / "bin" / argv[0], *argv[1:], "--help")
    assert "Start an operator process" in out  # kopf run's help: the command line parsed
    run(venv / "bin" / "python", "-c", "import dask_k8s_operator.handlers")


def test_operator_distributions_install_without_jupyter(tmp_path: Path) -> None:
    """`pip install ./common ./operator` in a clean venv (uv's pip, with the shared wheel cache)."""
    venv = tmp_path / "venv"
    env = uv_env()
    run(uv_binary(), "venv", "--quiet", "--python", base_python(), venv, env=env)
    run(uv_binary(), "pip", "install", "--quiet", "--python", venv / "bin" / "python",
        *[REPO / name for name in OPERATOR_SOURCES], env=env)
    assert_operator_only(venv)
    assert_operator_runs(venv, ["dask-k8s-operator"])


# ---- a Dockerfile played against folders -------------------------------------------------------

def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: continuation lines joined, comments left out."""
    joined, pending = [], ""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue  # also inside a continued instruction, as docker reads it
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [(word.upper(), rest.strip()) for word, _, rest in (line.strip().partition(" ") for line in joined)]


@dataclass
class Stage:
    root: Path  # the image's file system
    venv: Path  # stands in for the base image's Python
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)

    def path(self, path: str) -> Path:
        """Where a path of the image (absolute, or relative to WORKDIR) is in the stage's folder."""
        return self.root / container_path(self.workdir, path).lstrip("/")


def container_path(base: str, path: str) -> str:
    return posixpath.normpath(path if path.startswith("/") else f"{base}/{path}")


class DockerBuild:
    """Plays a Dockerfile's instructions; knows FROM python:X.Y..., WORKDIR, ENV, COPY [--from],
    RUN (pip and rm, joined by &&), USER, ENTRYPOINT and CMD (exec form)."""

    def __init__(self, context: Path, scratch: Path) -> None:
        self.context = context
        self.scratch = scratch
        self.stages: dict[str, Stage] = {}
        self.stage: Stage | None = None

    def build(self, dockerfile: Path) -> Stage:
        for instruction, args in instructions(dockerfile.read_text()):
            handler = getattr(self, instruction, None)
            if handler is None:
                pytest.fail(f"{dockerfile.name}: the test cannot play {instruction}; teach DockerBuild")
            handler(args)
        assert self.stage is not None
        return self.stage

    def FROM(self, args: str) -> None:  # named as the instruction, as all below
        words = args.split()
        image, name = words[0], (words[2] if len(words) == 3 and words[1].upper() == "AS" else None)
        match = re.fullmatch(r"python:(\d+\.\d+)(?:[.-].*)?", image)
        if not match:
            pytest.fail(f"base image {image}: the test stands in only for python:X.Y images")
        assert match.group(1) == PYTHON, f"the Dockerfile's Python is {match.group(1)}, this machine's {PYTHON}"
        number = len(self.stages)
        root = self.scratch / f"stage{number}"
        root.mkdir(parents=True)
        venv = self.scratch / f"python{number}"
        # with pip, as the python image has it (uv makes the venv and seeds pip from its cache)
        run(uv_binary(), "venv", "--quiet", "--seed", "--python", base_python(), venv, env=uv_env())
        self.stage = Stage(root, venv)
        self.stages[name or str(number)] = self.stage

    def WORKDIR(self, args: str) -> None:
        assert self.stage
        self.stage.workdir = container_path(self.stage.workdir, args)
        self.stage.path(".").mkdir(parents=True, exist_ok=True)

    def ENV(self, args: str) -> None:
        assert self.stage
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            self.stage.env[key] = value

    def COPY(self, args: str) -> None:
        assert self.stage
        words = shlex.split(args)
        source = self.context
        if words[0].startswith("--from="):
            other = self.stages[words.pop(0).split("=", 1)[1]]
            sources = [other.path(w) for w in words[:-1]]
        else:
            sources = [source / w for w in words[:-1]]
        target = self.stage.path(words[-1])
        for src in sources:  # a folder's contents go into the target, as docker copies them
            if src.is_dir():
                shutil.copytree(src, target, symlinks=True, dirs_exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target / src.name if words[-1].endswith("/") else target)

    def RUN(self, args: str) -> None:
        assert self.stage
        lexer = shlex.shlex(args, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for word in [*lexer, "&&"]:
            if word != "&&" and set(word) <= set("();<>|&"):
                pytest.fail(f"the test plays commands joined by && only, not {word!r}: RUN {args}")
            if word == "&&":
                self.command(command)
                command = []
            else:
                command.append(word)

    def command(self, words: list[str]) -> None:
        stage = self.stage
        assert stage
        mapped = [self.map_arg(w) for w in words]
        if words[0] == "pip":
            # pip's configuration reaches the index as in a build; this machine's own extra wheel
            # folders stay out, so the final stage sees only the wheels the first one built
            env = {k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"} | stage.env
            run(stage.venv / "bin" / "python", "-m", "pip", *mapped[1:], cwd=stage.path("."), env=env)
        elif words[:2] == ["rm", "-rf"]:
            for path in mapped[2:]:
                shutil.rmtree(path, ignore_errors=True)
        else:
            pytest.fail(f"the test cannot play RUN {' '.join(words)}; teach DockerBuild.command")

    def map_arg(self, word: str) -> str:
        """Absolute paths (also as `--option=/path`) into the stage's folder."""
        assert self.stage
        option, eq, value = word.partition("=") if word.startswith("--") else ("", "", word)
        if value.startswith("/"):
            value = str(self.stage.path(value))
        return f"{option}{eq}{value}"

    def USER(self, args: str) -> None:
        assert self.stage
        self.stage.user = args

    def ENTRYPOINT(self, args: str) -> None:
        assert self.stage
        self.stage.entrypoint = exec_form(args)

    def CMD(self, args: str) -> None:
        assert self.stage
        self.stage.cmd = exec_form(args)


def exec_form(args: str) -> list[str]:
    if not args.startswith("["):
        pytest.fail(f"the test plays ENTRYPOINT and CMD in exec form only (a JSON list), not {args}")
    return json.loads(args)


def test_dockerfile_installs_only_the_operator(tmp_path: Path) -> None:
    image = DockerBuild(REPO, tmp_path).build(DOCKERFILE)
    assert_operator_only(image.venv)
    # the image holds no source: our two distributions come from the wheels built in the first stage
    assert not any(image.root.rglob("pyproject.toml"))
    direct = run(image.venv / "bin" / "python", "-c", "import importlib.metadata as m; "
                 "print(m.distribution('dask-k8s-operator').read_text('direct_url.json'))")
    assert direct.strip() == "None"  # installed by name from the wheels, not from a folder
    assert image.entrypoint == ["dask-k8s-operator"]
    assert image.user == "1000"  # the chart's runAsUser
    assert_operator_runs(image.venv, image.entrypoint + image.cmd)
    # the CRDs and the chart are inside the wheel, not read from a checkout
    crds, chart, count = run(image.venv / "bin" / "python", "-c", PACKAGED_FILES).split()
    assert Path(crds).is_relative_to(image.venv) and Path(chart).is_relative_to(image.venv)
    assert int(count) == len(list((REPO / "operator" / "crds").glob("*.yaml")))
