"""What the current Kubernetes identity may do with Dask clusters, asked of the API server.

The server extension (for the sidebar and its REST API) and ``KubeCluster`` use this to refuse an
action with a reason *before* trying it, instead of after a 403. The API server answers through a
SelfSubjectRulesReview (one call per namespace, every rule at once); when it says its answer is
incomplete (an authorizer that cannot list rules, e.g. a webhook), each action it does not grant
is asked again with a SelfSubjectAccessReview. Answers are cached briefly per namespace.

The mapping of actions to Kubernetes checks and the rule matching are pure; only
``kr8s_reviewer`` talks to Kubernetes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dask_k8s_common.resources import GROUP

AUTHORIZATION_VERSION = "authorization.k8s.io/v1"
#: How long an answer is reused (RBAC changes show in the sidebar within this time).
CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Check:
    """One Kubernetes permission: ``verb`` on ``resource`` (``resource/subresource``) of ``group``."""

    verb: str
    resource: str
    group: str = GROUP

    def describe(self) -> str:
        return f"{self.verb} {self.resource}"


#: Every action the sidebar, the REST API and KubeCluster offer, with what it needs.
ACTIONS: dict[str, tuple[Check, ...]] = {
    "create": (Check("create", "daskclusters"),),
    "delete": (Check("delete", "daskclusters"),),
    "scale": (Check("patch", "daskclusters"),),
    "adapt": (Check("create", "daskautoscalers"), Check("patch", "daskautoscalers")),
    "add_worker_group": (Check("create", "daskworkergroups"),),
    "remove_worker_group": (Check("delete", "daskworkergroups"),),
    "logs": (Check("get", "pods/log", ""),),
    "events": (Check("list", "events", ""),),
}


def refusal(check: Check, namespace: str) -> str:
    """The reason shown for a refused action (the sidebar's tooltip and KubeCluster's error)."""
    return f"your account may not {check.describe()} in {namespace}"


# -- pure: rules -> permissions ------------------------------------------------------------------


def _matches(values: Iterable[str] | None, wanted: str) -> bool:
    values = list(values or [])
    return "*" in values or wanted in values


def _resource_matches(resources: Iterable[str] | None, wanted: str) -> bool:
    resources = list(resources or [])
    if "*" in resources or wanted in resources:
        return True
    if "/" in wanted:  # "*/log" grants every resource's log subresource
        return f"*/{wanted.split('/', 1)[1]}" in resources
    return False


def rules_allow(rules: Iterable[Mapping[str, Any]], check: Check) -> bool:
    """Whether any resource rule of a SelfSubjectRulesReview grants ``check`` on every object.

    A rule limited to ``resourceNames`` grants only those objects, so it does not count.
    """
    return any(
        not rule.get("resourceNames")
        and _matches(rule.get("verbs"), check.verb)
        and _matches(rule.get("apiGroups"), check.group)
        and _resource_matches(rule.get("resources"), check.resource)
        for rule in rules
    )


def evaluate(namespace: str, allowed: Mapping[Check, bool]) -> dict[str, dict[str, Any]]:
    """Each action as ``{"allowed": bool, "reason"?: str}``; the reason names the first missing check."""
    actions: dict[str, dict[str, Any]] = {}
    for action, checks in ACTIONS.items():
        missing = next((check for check in checks if not allowed.get(check, False)), None)
        actions[action] = (
            {"allowed": True} if missing is None else {"allowed": False, "reason": refusal(missing, namespace)}
        )
    return actions


def all_checks() -> list[Check]:
    return list(dict.fromkeys(check for checks in ACTIONS.values() for check in checks))


def rules_review_body(namespace: str) -> dict[str, Any]:
    return {"apiVersion": AUTHORIZATION_VERSION, "kind": "SelfSubjectRulesReview", "spec": {"namespace": namespace}}


def access_review_body(namespace: str, check: Check) -> dict[str, Any]:
    resource, _, subresource = check.resource.partition("/")
    attributes = {"namespace": namespace, "verb": check.verb, "group": check.group, "resource": resource}
    if subresource:
        attributes["subresource"] = subresource
    return {
        "apiVersion": AUTHORIZATION_VERSION,
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }


# -- I/O: asking the API server, with a short cache -------------------------------------------------

#: Posts a review (a dict) and returns the API server's answer (a dict).
Reviewer = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class NotKnown(Exception):
    """The API server could not be asked (the caller then lets the action try)."""


class Permissions:
    """The permissions of one identity, per namespace, cached for ``ttl`` seconds."""

    def __init__(
        self, reviewer: Reviewer, ttl: float = CACHE_SECONDS, timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._review = reviewer
        self._ttl = ttl
        self._timeout = timeout
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def actions(self, namespace: str) -> dict[str, dict[str, Any]]:
        """``{action: {"allowed": bool, "reason"?: str}}`` for ``namespace``; raises ``NotKnown``."""
        async with self._locks.setdefault(namespace, asyncio.Lock()):
            cached = self._cache.get(namespace)
            if cached is not None and self._clock() - cached[0] < self._ttl:
                return cached[1]
            try:
                answer = await asyncio.wait_for(self._ask(namespace), self._timeout)
            except Exception as e:
                raise NotKnown(f"cannot ask Kubernetes what this account may do in {namespace}: {e}") from e
            self._cache[namespace] = (self._clock(), answer)
            return answer

    async def refusal(self, action: str, namespace: str) -> str | None:
        """Why ``action`` is not allowed in ``namespace``, or None (allowed, or not known)."""
        try:
            return (await self.actions(namespace))[action].get("reason")
        except NotKnown:
            return None

    def forget(self) -> None:
        self._cache.clear()

    async def _ask(self, namespace: str) -> dict[str, dict[str, Any]]:
        review = await self._review(rules_review_body(namespace))
        status = review.get("status") or {}
        rules = status.get("resourceRules") or []
        allowed = {check: rules_allow(rules, check) for check in all_checks()}
        if status.get("incomplete"):
            # Some authorizer could not list its rules: ask it about each check the rules do not grant.
            denied = [check for check, ok in allowed.items() if not ok]
            answers = await asyncio.gather(*(self._review(access_review_body(namespace, c)) for c in denied))
            for check, answer in zip(denied, answers):
                allowed[check] = bool((answer.get("status") or {}).get("allowed"))
        return evaluate(namespace, allowed)


def kr8s_reviewer(get_api: Callable[[], Awaitable[Any]]) -> Reviewer:
    """A ``Reviewer`` that creates the review through kr8s with the client ``get_api()`` returns."""
    from kr8s.asyncio.objects import new_class

    classes = {
        kind: new_class(kind, version=AUTHORIZATION_VERSION, namespaced=False)
        for kind in ("SelfSubjectRulesReview", "SelfSubjectAccessReview")
    }

    async def review(body: dict[str, Any]) -> dict[str, Any]:
        obj = classes[body["kind"]]({**body, "metadata": {}}, api=await get_api())
        await obj.create()
        return obj.raw

    return review
