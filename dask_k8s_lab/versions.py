"""Version skew between the notebook's Dask and a cluster's: which package differs where, and the fix.

A client whose python, dask, distributed, cloudpickle or msgpack differs from the scheduler's or a
worker's fails in ways that name none of them (a deserialisation error deep in a computation), so
both sides of this project say it up front:

- ``KubeCluster`` asks the scheduler, through the user's own Dask connection, for the versions
  distributed gathers from itself and every worker (``compare`` over those);
- the server extension never talks Dask's comm protocol to a scheduler (it may unpickle what an
  untrusted scheduler sends) and no JSON route of the scheduler reports versions, so it reads them
  from the images the cluster runs: an official Dask image's tag names its Dask version and,
  with a ``-pyX.Y`` suffix, its Python (``image_versions``).

Everything here is pure; the callers fetch.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from importlib import metadata

#: The packages whose difference breaks or endangers (de)serialisation between client and cluster.
PACKAGES = ("python", "dask", "distributed", "cloudpickle", "msgpack")
#: The repository of the official images; the suggested fix names a tag of it.
DASK_IMAGE = "ghcr.io/dask/dask"
_OFFICIAL = re.compile(r"(^|/)(dask/dask|daskdev/dask)$")
_TAG = re.compile(r"^(?P<dask>\d{4}\.\d+\.\d+)(?:-py(?P<python>\d+\.\d+))?$")


@dataclass(frozen=True)
class Mismatch:
    package: str
    local: str  # the client's (notebook's) version
    remote: str
    where: str  # "scheduler", "workers (default)", "worker tcp://10.0.0.3:4000", ...


@functools.lru_cache(maxsize=1)
def _installed() -> tuple[tuple[str, str], ...]:
    found = [("python", "{}.{}.{}".format(*sys.version_info[:3]))]
    for package in PACKAGES[1:]:
        try:
            found.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            pass
    return tuple(found)


def local_versions() -> dict[str, str]:
    """This process's versions of ``PACKAGES`` (python as major.minor.micro)."""
    return dict(_installed())


def _normal(package: str, version: str | None) -> str | None:
    """What must agree: Python's major.minor (its pickles change between minors), else the whole version."""
    if version is None:
        return None
    version = str(version).strip()
    if package == "python":
        return ".".join(re.split(r"[.\s+-]", version)[:2])
    return version


def packages_of(distributed_versions: Mapping | None) -> dict[str, str]:
    """The ``PACKAGES`` of a ``distributed.versions.get_versions()`` reply (``{"packages": {...}}``)."""
    packages = (distributed_versions or {}).get("packages") or {}
    return {p: str(packages[p]) for p in PACKAGES if packages.get(p) is not None}


def compare(local: Mapping[str, str], remotes: Mapping[str, Mapping[str, str]]) -> list[Mismatch]:
    """Every package of ``local`` that some remote (``{where: {package: version}}``) has otherwise.

    A package a remote does not report is not a mismatch (nothing is known about it).
    """
    found = []
    for where, versions in remotes.items():
        for package in PACKAGES:
            mine, theirs = _normal(package, local.get(package)), _normal(package, versions.get(package))
            if mine is not None and theirs is not None and mine != theirs:
                found.append(Mismatch(package, str(local[package]), str(versions[package]), where))
    return found


def group_workers(workers: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Workers with the same versions as one entry (``"workers (3)"``), so 100 workers make one line."""
    by_versions: dict[tuple, list[str]] = {}
    for address, versions in workers.items():
        by_versions.setdefault(tuple(sorted(versions.items())), []).append(address)
    if len(by_versions) == 1:
        (versions, addresses), = by_versions.items()
        return {f"workers ({len(addresses)})": dict(versions)}
    return {
        (f"worker {addresses[0]}" if len(addresses) == 1 else f"workers {', '.join(sorted(addresses))}"): dict(versions)
        for versions, addresses in by_versions.items()
    }


def image_versions(image: str | None) -> dict[str, str]:
    """The versions an official Dask image's tag pins (``ghcr.io/dask/dask:2025.1.0-py3.12``);
    empty for any other image (its versions are not known from its name)."""
    if not image or "@" in image:
        return {}
    repository, _, tag = image.rpartition(":")
    if not repository or "/" in tag or not _OFFICIAL.search(repository):
        return {}
    match = _TAG.match(tag)
    if match is None:
        return {}
    found = {"dask": match["dask"], "distributed": match["dask"]}  # released together, same version
    if match["python"]:
        found["python"] = match["python"]
    return found


def fix(local: Mapping[str, str]) -> str:
    """What to do about a mismatch: run the client's versions in the cluster."""
    python = _normal("python", local.get("python"))
    tag = local.get("dask", "")
    if python:
        tag += f"-py{python}"
    pins = ", ".join(f"{p} {local[p]}" for p in PACKAGES[1:] if p in local)
    return (f"use image {DASK_IMAGE}:{tag} for the scheduler and workers (or an image with {pins}), "
            "or install the cluster's versions in the notebook")


def describe(mismatches: list[Mismatch]) -> list[str]:
    """One line per mismatch: ``distributed: notebook 2026.8.0, workers (2) 2025.1.0``."""
    return [f"{m.package}: notebook {m.local}, {m.where} {m.remote}" for m in mismatches]


def report(local: Mapping[str, str], mismatches: list[Mismatch]) -> dict | None:
    """The JSON the REST API and the sidebar show; None when everything matches."""
    if not mismatches:
        return None
    return {"mismatches": [asdict(m) for m in mismatches], "fix": fix(local)}


def image_skew(images: Mapping[str, str], local: Mapping[str, str] | None = None) -> dict | None:
    """The skew between ``local`` (default: this process) and the images ``{where: image}`` run."""
    local = dict(local or local_versions())
    return report(local, compare(local, {where: image_versions(image) for where, image in images.items()}))


def cluster_image_skew(cluster: Mapping, groups: Iterable[Mapping]) -> dict | None:
    """``image_skew`` of a DaskCluster's scheduler image and its worker groups' (``{name, image}``)."""
    containers = (((cluster.get("spec") or {}).get("scheduler") or {}).get("spec") or {}).get("containers") or [{}]
    images = {"scheduler": containers[0].get("image", "")}
    images.update({f"workers ({group['name']})": group.get("image", "") for group in groups})
    return image_skew(images)
