"""The kubelet's rules for restarting containers and pulling images (pure)."""

from __future__ import annotations

from typing import Any

from .images import parse as parse_image

MAX_BACKOFF = 30.0
# The kubelet's image pull back-off: 10 s doubling up to 5 min.
PULL_BACKOFF, MAX_PULL_BACKOFF = 10.0, 300.0


def backoff_delay(restarts: int) -> float:
    return min(MAX_BACKOFF, 2.0 ** max(0, restarts - 1))


def pull_backoff_delay(failures: int) -> float:
    """The wait before the next pull after `failures` failed ones (counted before this one)."""
    return min(MAX_PULL_BACKOFF, PULL_BACKOFF * 2 ** failures)


def should_restart(policy: str, exit_code: int) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def pull_policy(spec: dict[str, Any]) -> str:
    """The API server defaults it; a pod made without that defaulting gets the same rule."""
    default = "Always" if parse_image(spec.get("image", "")).tag == "latest" else "IfNotPresent"
    return spec.get("imagePullPolicy") or default
