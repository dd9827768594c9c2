"""What an image reference means on this node: the Python environment its containers run in.

Pure parsing and mapping; `imagestore` builds and caches the environments.

- Dask images (a repository named `dask` or `dask-notebook` under any registry or owner, e.g.
  `ghcr.io/dask/dask:2025.1.0`, `daskdev/dask:latest`) run in a virtual environment of their own
  with that Dask version and what the real image adds around it. `latest` (or no tag) is the
  newest release the package index serves. A `-pyX.Y` tag suffix is accepted, but the
  environment uses this machine's Python.
- The operator's image (`*/dask-k8s-operator:<any tag>`) runs in a virtual environment of the
  operator's distributions alone (`common/` and `operator/`, installed editable from the checkout
  the agent runs from), as `operator/Dockerfile` builds it: no Jupyter, no front end.
- Jupyter images and generic base images (`python`, `busybox`, ...) run from the project's own
  environment, as before.
- Anything else cannot be "pulled".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlparse

from .containerspec import ImageNotAvailable, check_image

DASK_REPOSITORIES = {"dask": False, "dask-notebook": True}  # last path element -> notebook image
# What the Dask images install besides dask and distributed (their conda environment's
# packages that pip serves): the dashboard, dataframes, compression and faster toolz.
DASK_IMAGE_PACKAGES = ("numpy", "pandas", "pyarrow", "lz4", "cytoolz", "pip")
NOTEBOOK_PACKAGES = ("jupyterlab", "dask-labextension")

# The operator's image is named after the distribution it installs (operator/Dockerfile, the
# chart's image.name); the Dockerfile installs these two distributions and nothing else.
OPERATOR_IMAGE = "dask-k8s-operator"
OPERATOR_DISTRIBUTIONS = ("dask-k8s-lab-common", "dask-k8s-operator")

_TAG = re.compile(r"(?P<version>latest|\d+(?:\.\d+)+)(?:-py(?P<python>\d+\.\d+))?")


@dataclass(frozen=True)
class ImageRef:
    repository: str  # registry and path, without tag or digest
    tag: str  # "latest" when the reference names none
    digest: str | None = None

    @property
    def name(self) -> str:
        """The last path element: `dask` for `ghcr.io/dask/dask:2025.1.0`."""
        return self.repository.rsplit("/", 1)[-1]


def parse(image: str) -> ImageRef:
    rest, _, digest = image.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        repository, tag = rest[:colon], rest[colon + 1:]
    else:
        repository, tag = rest, "latest"
    return ImageRef(repository=repository, tag=tag, digest=digest or None)


@dataclass(frozen=True)
class Environment:
    """The environment an image maps to: the project's own, a Dask version's or the operator's."""

    kind: str  # "project", "dask" or "operator"
    version: str | None = None  # the Dask version; None means the newest release
    notebook: bool = False

    @property
    def is_project(self) -> bool:
        return self.kind == "project"


PROJECT = Environment("project")
OPERATOR = Environment("operator")


def environment_for(image: str) -> Environment:
    """The environment of `image`, or ImageNotAvailable saying why there is none."""
    ref = parse(image)
    if ref.name.lower() == OPERATOR_IMAGE:
        return OPERATOR
    if ref.name.lower() not in DASK_REPOSITORIES:
        # Jupyter's images live under a `jupyter` or `jupyterhub` owner (`quay.io/jupyter/...`)
        if not any("jupyter" in part for part in ref.repository.lower().split("/")):
            check_image(image)
        return PROJECT
    notebook = DASK_REPOSITORIES[ref.name.lower()]
    match = _TAG.fullmatch(ref.tag)
    if not match:
        raise ImageNotAvailable(
            f'image "{image}": tag "{ref.tag}" is not a Dask release; local-k8s builds Dask images '
            "from the package index, so the tag must be a version such as 2025.1.0, or latest")
    version = match.group("version")
    return Environment("dask", None if version == "latest" else version, notebook)


def requirements(version: str, notebook: bool) -> list[str]:
    reqs = [f"dask[distributed,diagnostics]=={version}", *DASK_IMAGE_PACKAGES]
    return reqs + list(NOTEBOOK_PACKAGES) if notebook else reqs


def env_key(version: str, notebook: bool, python: str) -> str:
    """The cache folder of one environment, e.g. `dask-2025.1.0-py3.11`."""
    return f"{'dask-notebook' if notebook else 'dask'}-{version}-py{python}"


def operator_env_key(pyprojects: Iterable[tuple[Path, bytes]], python: str) -> str:
    """The cache folder of the operator's environment: its distributions' source folders (the
    editable installs point there) and pyproject.toml files (their dependencies) decide it, e.g.
    `dask-k8s-operator-3f2a9c01d4e5-py3.11`. The code itself is read from the checkout at start."""
    digest = hashlib.sha256()
    for folder, pyproject in pyprojects:
        digest.update(str(folder).encode() + b"\0" + pyproject + b"\0")
    return f"{OPERATOR_IMAGE}-{digest.hexdigest()[:12]}-py{python}"


def local_source(direct_url: str | None) -> Path | None:
    """The folder a distribution was installed from (pip's `direct_url.json`), if a local one."""
    if not direct_url:
        return None
    url = urlparse(json.loads(direct_url).get("url", ""))
    return Path(unquote(url.path)) if url.scheme == "file" else None


def built_before(version: str) -> date | None:
    """For a calendar version (YYYY.M.P), the day before which its image's other packages were
    released: the first of the month after next. The real image was built in its release month
    from the packages of that time; today's numpy or pandas may not work with an old Dask."""
    match = re.fullmatch(r"(\d{4})\.(\d{1,2})\.\d+", version)
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    month += 2
    if month > 12:
        year, month = year + 1, month - 12
    return date(year, month, 1)


def tag_file_name(image: str) -> str:
    """A file name for an image reference (what `docker images` would list)."""
    ref = parse(image)
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{ref.repository}_{ref.tag}") + ".json"


def pull_needed(policy: str, present: bool) -> bool:
    """imagePullPolicy: Always pulls (checks the index) every time, Never never does,
    IfNotPresent only when the image is not on the node."""
    if policy == "Always":
        return True
    if policy == "Never":
        return False
    return not present


def last_error_line(output: str) -> str:
    """The installer's last error, on one line: uv wraps a message onto indented lines after a
    marker (`×`, `╰─▶`, `error:`) and may add `help:` lines, which are left out."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    while lines and lines[-1].strip().startswith(("help:", "hint:")):
        lines.pop()
    if not lines:
        return "the installer failed without a message"
    start = len(lines) - 1
    while start > 0 and not _MARKER.match(lines[start]):
        start -= 1
    if not _MARKER.match(lines[start]):
        start = len(lines) - 1
    return " ".join(line.strip().lstrip("×╰─▶│├ ").strip() for line in lines[start:])


_MARKER = re.compile(r"\s*(×|╰─▶|error:|ERROR:)")
