"""Run containers written for the removed ``dask-scheduler``/``dask-worker`` console scripts.

distributed 2026.6 dropped the hyphenated console scripts (``dask-scheduler``, ``dask-worker``,
...); the same programs are the ``dask <command>`` subcommands, which exist since distributed
2022.10. Manifests copied from the Dask Kubernetes documentation still start containers with the
old names and crash-loop with "executable file not found". The operator and the classic
``KubeCluster`` rewrite such a command to the subcommand form, record what they changed on the
pod (``kubernetes.dask.org/rewritten-command``) and tell the user (an Event, a Python warning).

Only the program itself is recognised: the first entry of ``command``, or of ``args`` when there
is no ``command`` (as in the docs, where the image's entrypoint runs ``args``), with or without
a folder in front. A command hidden inside a shell string (``sh -c "dask-worker ..."``) is left
alone. Pure functions; nothing here talks to Kubernetes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .contract import ANNOTATION_REWRITTEN_COMMAND

# old console script -> the equivalent `dask` subcommand
LEGACY_COMMANDS: dict[str, tuple[str, ...]] = {
    "dask-scheduler": ("scheduler",),
    "dask-worker": ("worker",),
    "dask-ssh": ("ssh",),
    "dask-spec": ("spec",),
    "dask-cuda-worker": ("cuda", "worker"),
    "dask-cuda-config": ("cuda", "config"),
}
ANNOTATION = ANNOTATION_REWRITTEN_COMMAND
REASON = "LegacyCommandRewritten"
WHY = ("distributed 2026.6 removed the dask-scheduler/dask-worker console scripts; "
       "'dask <command>' runs the same program (distributed >= 2022.10). Write it that way "
       "in the manifest to silence this")


@dataclass(frozen=True)
class Rewrite:
    """One container whose program was replaced."""

    container: str
    field: str  # "command" or "args"
    old: str
    new: tuple[str, ...]

    def describe(self) -> str:
        return f"container {self.container!r}: {self.field} {self.old!r} -> {' '.join(self.new)!r}"


def modern_form(program: str) -> tuple[str, ...] | None:
    """``dask-worker`` -> ``("dask", "worker")`` (keeping a folder: ``/opt/bin/dask``), else None."""
    folder, name = posixpath.split(program)
    sub = LEGACY_COMMANDS.get(name)
    if sub is None:
        return None
    return (posixpath.join(folder, "dask") if folder else "dask", *sub)


def modernize_container(container: dict[str, Any]) -> Rewrite | None:
    """Rewrite the container's program in place when it is a removed console script."""
    field = "command" if container.get("command") else "args"
    argv = container.get(field) or []
    if not argv or not isinstance(argv[0], str):
        return None
    new = modern_form(argv[0])
    if new is None:
        return None
    container[field] = [*new, *argv[1:]]
    return Rewrite(str(container.get("name", "")), field, argv[0], new)


def modernize_pod_spec(spec: Mapping[str, Any]) -> list[Rewrite]:
    """Rewrite every container and init container of a pod spec in place."""
    rewrites = []
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            rewrite = modernize_container(container)
            if rewrite is not None:
                rewrites.append(rewrite)
    return rewrites


def summary(rewrites: list[Rewrite]) -> str:
    return "; ".join(r.describe() for r in rewrites)


def message(rewrites: list[Rewrite]) -> str:
    """What changed and why, for an Event or a Python warning."""
    return _explain(summary(rewrites))


def _explain(summary_text: str) -> str:
    return f"ran {summary_text}: {WHY}"


def modernize_pod(pod: dict[str, Any]) -> list[Rewrite]:
    """Rewrite a Pod manifest in place and note it in the ``rewritten-command`` annotation."""
    rewrites = modernize_pod_spec(pod.get("spec") or {})
    if rewrites:
        annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[ANNOTATION] = summary(rewrites)
    return rewrites


def pod_message(pod: Mapping[str, Any]) -> str | None:
    """The user-facing message for a pod that ``modernize_pod`` rewrote, else None."""
    noted = ((pod.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
    return _explain(noted) if noted else None
