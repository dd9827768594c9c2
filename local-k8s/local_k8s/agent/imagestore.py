"""The node's image store: Dask images and the operator's image "pulled" as cached virtual
environments, built with uv.

Layout under `settings.image_cache()` (outside the repository, shared by every run, node agent
and CI job on the machine; the wheel cache beside it is uv's own):

    envs/<key>/            one virtual environment per Dask version (see images.env_key), and
                           one for the operator per checkout and pyproject.toml files
                           (images.operator_env_key); complete once `image.json` exists;
                           built under a file lock
    tags/<image>.json      an image reference on this machine ("present"): its environment key

Builds run uv as subprocesses, so a pull never blocks the agent's event loop; one pull per
image reference at a time in this process, one build per environment across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from .. import settings
from . import images

log = logging.getLogger(__name__)

Emit = Callable[[str, str, bool], Awaitable[None]]  # (reason, message, warning)
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
INSTALL_TIMEOUT = 900.0


class PullError(Exception):
    """The image could not be "pulled"; the message is the installer's last line."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output  # the installer's whole output


class NeverPull(Exception):
    """imagePullPolicy Never and the image is not on this node."""


@dataclass(frozen=True)
class Pulled:
    """An image ready to run: the environment's bin folder goes first on the container's PATH."""

    image: str
    image_id: str
    bin_dir: Path
    env_dir: Path | None = None  # None: the project's own environment
    kind: str = "project"  # images.Environment.kind

    @property
    def is_dask(self) -> bool:
        """A Dask image: its entrypoint installs EXTRA_PIP_PACKAGES."""
        return self.kind == "dask"


def uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise PullError("uv is not installed in the node agent's environment (pip install uv)") from None
        return found


def base_python() -> str:
    """The interpreter environments are made from (not the project venv's, to stay apart)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def uv_env() -> dict[str, str]:
    return {**os.environ, "UV_CACHE_DIR": str(settings.uv_cache()), "UV_SYSTEM_CERTS": "1",
            "UV_NO_PROGRESS": "1", "NO_COLOR": "1", "VIRTUAL_ENV": "", "UV_PYTHON_DOWNLOADS": "never"}


async def run_uv(*args: str, stdin: str | None = None, timeout: float = INSTALL_TIMEOUT,
                 merge: bool = False) -> str:
    """Run uv; returns stdout (with stderr if `merge`), or PullError with its last error line."""
    proc = await asyncio.create_subprocess_exec(
        uv_binary(), *args, env=uv_env(), stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT if merge else asyncio.subprocess.PIPE,
        start_new_session=True)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), timeout)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        await proc.wait()
        raise
    if proc.returncode != 0:
        text = (out if merge else err).decode(errors="replace")
        log.info("uv %s failed:\n%s", " ".join(args[:2]), text)
        raise PullError(images.last_error_line(text), text)
    return out.decode()


@contextlib.asynccontextmanager
async def file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive lock between processes, waited for without blocking the event loop."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def project_constraints() -> str:
    """The project environment's packages as pins (`name==version`), from the index only."""
    lines = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        direct = dist.read_text("direct_url.json")
        if name and not direct:  # skip editable and local installs: the index does not serve them
            lines.add(f"{name}=={dist.version}")
    return "\n".join(sorted(lines)) + "\n"


def project_dask_version() -> str:
    return importlib.metadata.version("dask")


def operator_sources() -> list[Path]:
    """The checkout folders of the operator's distributions (common/, operator/), from the
    agent's own environment; PullError if they are not installed from a checkout."""
    sources = []
    for name in images.OPERATOR_DISTRIBUTIONS:
        try:
            source = images.local_source(importlib.metadata.distribution(name).read_text("direct_url.json"))
        except importlib.metadata.PackageNotFoundError:
            source = None
        if source is None or not (source / "pyproject.toml").is_file():
            raise PullError(f"the operator's image is built from a checkout of dask-k8s-lab, and {name} is not "
                            "installed from one here (pip install -e ./common -e ./operator)")
        sources.append(source)
    return sources


def operator_env_key(sources: list[Path]) -> str:
    return images.operator_env_key([(s, (s / "pyproject.toml").read_bytes()) for s in sources], PYTHON)


def _folder_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


class ImageStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or settings.image_cache()
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def env_dir(self, key: str) -> Path:
        return self.root / "envs" / key

    def _tag_path(self, image: str) -> Path:
        return self.root / "tags" / images.tag_file_name(image)

    def present(self, image: str, key: str | None = None) -> Pulled | None:
        """The image, if it is on this node (pulled before and its environment intact; when `key`
        is given, only if the reference still points at that environment)."""
        try:
            env_key = json.loads(self._tag_path(image).read_text())["env"]
            meta = json.loads((self.env_dir(env_key) / "image.json").read_text())
        except (OSError, ValueError, KeyError):
            return None
        if key is not None and env_key != key:
            return None
        folder = self.env_dir(env_key)
        return Pulled(image, meta["id"], folder / "bin", folder, meta.get("kind", "dask"))

    async def ensure(self, image: str, policy: str, emit: Emit) -> Pulled:
        """The image ready to run, pulling it per `policy` with the kubelet's events.

        Raises ImageNotAvailable (no such image here), NeverPull or PullError.
        """
        env = images.environment_for(image)
        if env.is_project:
            await emit("Pulled", f'Container image "{image}" already present on machine', False)
            return Pulled(image, f"local-k8s://project@{PYTHON}", settings.python_env_bin())
        # the operator's environment follows the checkout's pyproject.toml files: a changed one is
        # a new image under the same reference, as a rebuilt `docker build -t` would be
        key = operator_env_key(operator_sources()) if env.kind == "operator" else None
        present = self.present(image, key)
        if not images.pull_needed(policy, present is not None):
            if present is None:
                raise NeverPull(f'Container image "{image}" is not present with pull policy of Never')
            await emit("Pulled", f'Container image "{image}" already present on machine', False)
            return present
        waited = time.monotonic()
        async with self._lock(image):
            started = time.monotonic()
            if policy != "Always" and (present := self.present(image, key)):
                return present  # pulled by another container while this one waited
            await emit("Pulling", f'Pulling image "{image}"', False)
            pulled = await self.pull(image, env)
            done = time.monotonic()
            size = json.loads((self.env_dir(pulled.env_dir.name) / "image.json").read_text())["size"]  # type: ignore[union-attr]
            await emit("Pulled", f'Successfully pulled image "{image}" in {done - started:.3f}s '
                                 f"({done - waited:.3f}s including waiting). Image size: {size} bytes.", False)
            return pulled

    async def pull(self, image: str, env: images.Environment) -> Pulled:
        if env.kind == "operator":
            sources = operator_sources()
            key = operator_env_key(sources)
            await self.build(key, lambda target: self._install_operator(target, sources))
        else:
            version = env.version or await self.newest("dask")
            key = images.env_key(version, env.notebook, PYTHON)
            await self.build(key, lambda target: self._install(target, version, env.notebook))
        tag = self._tag_path(image)
        tag.parent.mkdir(parents=True, exist_ok=True)
        tag.write_text(json.dumps({"image": image, "env": key, "pulled": time.time()}))
        pulled = self.present(image)
        assert pulled is not None
        return pulled

    async def newest(self, package: str) -> str:
        """The newest release the package index serves for this Python (uv caches the index
        pages, honouring their freshness, so a repeated check is local)."""
        out = await run_uv("pip", "compile", "-", "--no-deps", "--no-header", "--no-annotate", "--quiet",
                           "--python", base_python(), stdin=f"{package}\n", timeout=120)
        for line in out.splitlines():
            name, _, version = line.strip().partition("==")
            if name.lower() == package and version:
                return version
        raise PullError(f"the package index returned no release of {package}")

    async def build(self, key: str, install: Callable[[Path], Awaitable[None]]) -> None:
        """Make the environment `key` with `install` unless it exists; across processes, one
        builder at a time."""
        target = self.env_dir(key)
        if (target / "image.json").exists():
            return
        async with self._lock(f"env:{key}"), file_lock(self.root / "locks" / f"{key}.lock"):
            if (target / "image.json").exists():
                return
            shutil.rmtree(target, ignore_errors=True)
            try:
                await install(target)
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise

    async def _install(self, target: Path, version: str, notebook: bool) -> None:
        await run_uv("venv", "--quiet", "--python", base_python(), str(target))
        args = ["pip", "install", "--python", str(target / "bin" / "python"), "--quiet",
                *images.requirements(version, notebook)]
        if version == project_dask_version():
            # The project's own Dask: the same versions of everything the two share, so a client
            # in the project's environment and this image agree exactly.
            (target / "constraints.txt").write_text(project_constraints())
            args += ["--constraint", str(target / "constraints.txt")]
        elif cutoff := images.built_before(version):
            args += ["--exclude-newer", cutoff.isoformat()]
        await run_uv(*args)
        await self._describe(target, kind="dask", dask=version)

    async def _install_operator(self, target: Path, sources: list[Path]) -> None:
        """The operator's distributions alone, editable from the checkout (so a restarted
        operator pod runs the working tree's code), with the versions the project environment
        has of what they share."""
        await run_uv("venv", "--quiet", "--python", base_python(), str(target))
        (target / "constraints.txt").write_text(project_constraints())
        editables = [arg for source in sources for arg in ("--editable", str(source))]
        await run_uv("pip", "install", "--python", str(target / "bin" / "python"), "--quiet",
                     "--constraint", str(target / "constraints.txt"), *editables)
        await self._describe(target, kind="operator", sources=[str(s) for s in sources])

    async def _describe(self, target: Path, **meta: object) -> None:
        """Write what the image is (`image.json`, last: it marks the environment complete)."""
        freeze = await run_uv("pip", "freeze", "--python", str(target / "bin" / "python"))
        (target / "requirements.txt").write_text(freeze)
        digest = hashlib.sha256(freeze.encode()).hexdigest()
        meta |= {"id": f"local-k8s://{target.name}@sha256:{digest}", "built": time.time(),
                 "size": _folder_size(target)}
        (target / "image.json").write_text(json.dumps(meta))

    async def container_env(self, pulled: Pulled, packages: list[str], target: Path,
                            output: Callable[[str], None]) -> Path:
        """A container's own environment: the image's packages plus `packages`, as the Dask
        images' entrypoint installs EXTRA_PIP_PACKAGES into the container at start. Returns its
        bin folder. Each container start gets a fresh one, as a new container would."""
        assert pulled.env_dir is not None
        shutil.rmtree(target, ignore_errors=True)
        python = str(target / "bin" / "python")
        await run_uv("venv", "--quiet", "--python", base_python(), str(target))
        requirements = str(pulled.env_dir / "requirements.txt")
        try:  # the image's packages are in the wheel cache: no index needed
            await run_uv("pip", "sync", "--quiet", "--offline", "--python", python, requirements)
        except PullError:
            await run_uv("pip", "sync", "--quiet", "--python", python, requirements)
        out = await run_uv("pip", "install", "--python", python, *packages, merge=True)
        for line in out.splitlines():
            output(line)
        return target / "bin"
