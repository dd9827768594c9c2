"""Unit tests of the pure permission logic: rules to actions, reasons, cache (no cluster)."""

from __future__ import annotations

import pytest

from dask_k8s_lab import permissions
from dask_k8s_lab.permissions import Check, Permissions, rules_allow

# The Role of deploy/jupyterhub/rbac.yaml, as a SelfSubjectRulesReview lists it.
CLIENT_RULES = [
    {"verbs": ["get", "list", "watch", "create", "update", "patch", "delete"], "apiGroups": ["kubernetes.dask.org"],
     "resources": ["daskclusters", "daskworkergroups", "daskjobs", "daskautoscalers"]},
    {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods", "services", "events"]},
    {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods/log"]},
]


def without_delete(rules):
    return [{**rule, "verbs": [v for v in rule["verbs"] if v != "delete"]} for rule in rules]


def test_client_role_allows_every_action():
    allowed = {check: rules_allow(CLIENT_RULES, check) for check in permissions.all_checks()}
    actions = permissions.evaluate("team-a", allowed)
    assert set(actions) == set(permissions.ACTIONS)
    assert all(a == {"allowed": True} for a in actions.values()), actions


def test_missing_delete_names_the_verb_resource_and_namespace():
    rules = without_delete(CLIENT_RULES)
    allowed = {check: rules_allow(rules, check) for check in permissions.all_checks()}
    actions = permissions.evaluate("team-a", allowed)
    assert actions["delete"] == {"allowed": False, "reason": "your account may not delete daskclusters in team-a"}
    assert actions["remove_worker_group"]["reason"] == "your account may not delete daskworkergroups in team-a"
    assert actions["scale"] == {"allowed": True}


@pytest.mark.parametrize(
    ("rule", "check", "expected"),
    [
        ({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, Check("delete", "daskclusters"), True),
        ({"verbs": ["delete"], "apiGroups": ["kubernetes.dask.org"], "resources": ["daskclusters"],
          "resourceNames": ["mine"]}, Check("delete", "daskclusters"), False),  # only one object
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}, Check("get", "pods/log", ""), True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, Check("get", "pods/log", ""), False),
        ({"verbs": ["delete"], "apiGroups": ["apps"], "resources": ["daskclusters"]}, Check("delete", "daskclusters"), False),
    ],
)
def test_rule_matching(rule, check, expected):
    assert rules_allow([rule], check) is expected


def test_access_review_body_splits_subresources():
    body = permissions.access_review_body("ns", Check("get", "pods/log", ""))
    assert body["spec"]["resourceAttributes"] == {
        "namespace": "ns", "verb": "get", "group": "", "resource": "pods", "subresource": "log"}


class Reviews:
    """A scripted API server: rules per namespace, and access review answers."""

    def __init__(self, rules, incomplete=False, allowed=()):
        self.rules, self.incomplete, self.allowed = rules, incomplete, set(allowed)
        self.calls: list[dict] = []

    async def __call__(self, body):
        self.calls.append(body)
        if body["kind"] == "SelfSubjectRulesReview":
            return {"status": {"resourceRules": self.rules, "incomplete": self.incomplete}}
        attrs = body["spec"]["resourceAttributes"]
        return {"status": {"allowed": (attrs["verb"], attrs["resource"]) in self.allowed}}


async def test_answers_are_cached_for_the_ttl():
    now = [0.0]
    reviews = Reviews(without_delete(CLIENT_RULES))
    perms = Permissions(reviews, ttl=30, clock=lambda: now[0])
    assert await perms.refusal("delete", "team-a") == "your account may not delete daskclusters in team-a"
    assert await perms.refusal("scale", "team-a") is None
    assert len(reviews.calls) == 1
    reviews.rules = CLIENT_RULES
    now[0] = 29
    assert (await perms.actions("team-a"))["delete"]["allowed"] is False
    now[0] = 31
    assert (await perms.actions("team-a"))["delete"]["allowed"] is True
    assert len(reviews.calls) == 2


async def test_incomplete_rules_ask_each_denied_check():
    reviews = Reviews([], incomplete=True, allowed={("delete", "daskclusters")})
    actions = await Permissions(reviews).actions("ns")
    assert actions["delete"] == {"allowed": True}
    assert actions["create"]["reason"] == "your account may not create daskclusters in ns"
    assert {c["kind"] for c in reviews.calls[1:]} == {"SelfSubjectAccessReview"}


async def test_unreachable_api_server_is_not_known_and_does_not_refuse():
    async def broken(body):
        raise ConnectionError("refused")

    perms = Permissions(broken)
    with pytest.raises(permissions.NotKnown, match="cannot ask Kubernetes"):
        await perms.actions("ns")
    assert await perms.refusal("delete", "ns") is None
