"""Started inside a pod's namespaces: mount the container's volumes, then exec its command.

Runs as `ip netns exec <ns> python -m local_k8s.agent.launch <spec.json>`. `ip netns exec` has
already given this process its own mount namespace, so the bind mounts below are seen by
this container only and vanish with it. Standard library only: it runs for every start.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384


def bind(source: str, target: str, read_only: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "a").close()
    if libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None) != 0:
        raise OSError(ctypes.get_errno(), f"bind mount {source} -> {target} failed")
    if read_only:
        libc.mount(None, target.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, None)


def prepare(spec_file: str) -> dict:
    """Read the container's spec and mount its volumes; returns the spec."""
    with open(spec_file) as f:
        spec = json.load(f)
    for mount in spec["mounts"]:
        bind(mount["source"], mount["target"], mount["read_only"])
    os.makedirs(spec["cwd"], exist_ok=True)
    return spec


def main() -> None:
    spec = prepare(sys.argv[1])
    os.chdir(spec["cwd"])
    argv = spec["argv"]
    try:
        os.execvpe(argv[0], argv, spec["env"])
    except OSError as e:
        # Same exit code and wording as a container runtime that cannot start the process.
        print(f'exec: "{argv[0]}": {e.strerror}', file=sys.stderr, flush=True)
        sys.exit(128)


if __name__ == "__main__":
    main()
