"""Build the control-plane binaries from the committed Go wrapper modules, cached by version.

The cache key is the pinned version plus a hash of the module's go.mod/go.sum, so a change of
pins rebuilds, and an unchanged checkout (even a fresh clone) reuses the binaries.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import settings


@dataclass(frozen=True)
class Bundle:
    """One Go wrapper module and the binaries built from it."""

    module: str
    version: str
    packages: dict[str, str]  # binary name -> Go package path
    stamp_kube_version: bool = False

    @property
    def module_dir(self) -> Path:
        return settings.GO_MODULES / self.module

    def cache_dir(self) -> Path:
        digest = hashlib.sha256()
        for name in ("go.mod", "go.sum"):
            digest.update((self.module_dir / name).read_bytes())
        return settings.cache_root() / f"{self.module}-v{self.version}-{digest.hexdigest()[:10]}"

    def binaries(self) -> dict[str, Path]:
        return {name: self.cache_dir() / "bin" / name for name in self.packages}

    def is_built(self) -> bool:
        return all(path.exists() for path in self.binaries().values())


KUBE = Bundle(
    module="kube",
    version=settings.KUBE_VERSION,
    packages={
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl",
        "etcd": "go.etcd.io/etcd/server/v3",
    },
    stamp_kube_version=True,
)
HELM = Bundle(
    module="helm",
    version=settings.HELM_VERSION,
    packages={"helm": "helm.sh/helm/v3/cmd/helm"},
)
BUNDLES = (KUBE, HELM)


def bin_dirs() -> list[Path]:
    return [bundle.cache_dir() / "bin" for bundle in BUNDLES]


def binary(name: str) -> Path:
    for bundle in BUNDLES:
        if name in bundle.packages:
            return bundle.binaries()[name]
    raise KeyError(name)


def _ldflags(bundle: Bundle) -> str:
    flags = ["-s", "-w"]
    if bundle.stamp_kube_version:
        # Without this the binaries report v0.0.0 and clients warn about version skew.
        minor = bundle.version.split(".")[1]
        built = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            flags += [
                f"-X {pkg}.gitVersion=v{bundle.version}",
                f"-X {pkg}.gitMajor=1",
                f"-X {pkg}.gitMinor={minor}",
                f"-X {pkg}.gitTreeState=clean",
                f"-X {pkg}.buildDate={built}",
            ]
    return " ".join(flags)


def _go_env() -> dict[str, str]:
    # The committed go.mod/go.sum pin everything (Go's default -mod=readonly keeps it so).
    return dict(os.environ, CGO_ENABLED="0")


def _count_packages(bundle: Bundle) -> int:
    """How many packages a cold build compiles, for the progress bar."""
    out = subprocess.run(
        ["go", "list", "-deps", *bundle.packages.values()],
        cwd=bundle.module_dir, env=_go_env(), capture_output=True, text=True, check=True,
    ).stdout
    return len(out.split())


def _go_binary_name(package: str) -> str:
    """The file name `go build -o dir/` gives a main package: its last path element,
    skipping a major-version suffix (go.etcd.io/etcd/server/v3 -> server)."""
    parts = package.split("/")
    if len(parts) > 1 and re.fullmatch(r"v[0-9]+", parts[-1]):
        return parts[-2]
    return parts[-1]


def build(bundle: Bundle, console: Console | None = None) -> float:
    """Build one bundle into its cache folder unless it is there; returns seconds spent.

    Holds a lock on the cache folder: two `up`s (or test sessions) started at once share one
    build instead of both writing into the same partial folder.
    """
    if bundle.is_built():
        return 0.0
    bundle.cache_dir().mkdir(parents=True, exist_ok=True)
    with (bundle.cache_dir() / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return 0.0 if bundle.is_built() else _build_locked(bundle, console)


def _build_locked(bundle: Bundle, console: Console | None) -> float:
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to build the local Kubernetes binaries; install Go >= 1.25")
    console = console or Console(stderr=True)
    started = time.monotonic()
    out_dir = bundle.cache_dir() / "bin"
    tmp_dir = bundle.cache_dir() / "bin.partial"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    total = _count_packages(bundle)
    cmd = ["go", "build", "-v", "-trimpath", "-ldflags", _ldflags(bundle), "-o", f"{tmp_dir}/",
           *bundle.packages.values()]
    log_path = bundle.cache_dir() / "build.log"
    with log_path.open("w") as log, Progress(
        TextColumn(f"building {bundle.module} v{bundle.version}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=False,
    ) as progress:
        task = progress.add_task("go", total=total)
        proc = subprocess.Popen(cmd, cwd=bundle.module_dir, env=_go_env(), stdout=log,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        for line in proc.stderr:  # `go build -v` names each package as it compiles it
            log.write(line)
            progress.advance(task)
        if proc.wait() != 0:
            raise RuntimeError(f"go build of {bundle.module} failed; see {log_path}")
        progress.update(task, completed=total)
    for name, pkg in bundle.packages.items():
        built = tmp_dir / _go_binary_name(pkg)
        if built.name != name:
            built.rename(tmp_dir / name)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp_dir.rename(out_dir)
    return time.monotonic() - started


def build_all(console: Console | None = None) -> dict[str, float]:
    return {bundle.module: build(bundle, console) for bundle in BUNDLES}
