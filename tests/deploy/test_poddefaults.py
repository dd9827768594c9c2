"""The PodDefault webhook stand-in used by test_kubeflow.py (pure)."""

import pytest

from .poddefaults import APPLIED_ANNOTATION, PodDefaultConflict, apply_pod_defaults, selector_matches


def pod_default(name="pd", selector=None, **spec):
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": "7"},
            "spec": {"selector": selector if selector is not None else {"matchLabels": {"use": "yes"}}, **spec}}


def pod(labels=None, env=None):
    return {"metadata": {"name": "p", "namespace": "ns", "labels": labels if labels is not None else {"use": "yes"}},
            "spec": {"containers": [{"name": "c", "image": "i", **({"env": env} if env else {})}]}}


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    ({}, {}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": "1"}, False),
])
def test_selector(selector, labels, expected):
    assert selector_matches(selector, labels) is expected


def test_merges_what_the_poddefault_sets_into_a_selected_pod():
    pd = pod_default(env=[{"name": "X", "value": "1"}], volumes=[{"name": "v", "emptyDir": {}}],
                     volumeMounts=[{"name": "v", "mountPath": "/v"}], serviceAccountName="sa",
                     labels={"l": "1"}, annotations={"a": "1"})
    before = pod(env=[{"name": "NB_PREFIX", "value": "/x"}])
    out = apply_pod_defaults(before, [pd])
    container = out["spec"]["containers"][0]
    assert container["env"] == [{"name": "NB_PREFIX", "value": "/x"}, {"name": "X", "value": "1"}]
    assert container["volumeMounts"] == [{"name": "v", "mountPath": "/v"}]
    assert out["spec"]["volumes"] == [{"name": "v", "emptyDir": {}}]
    assert out["spec"]["serviceAccountName"] == "sa"
    assert out["metadata"]["labels"] == {"use": "yes", "l": "1"}
    assert out["metadata"]["annotations"] == {"a": "1", APPLIED_ANNOTATION.format(name="pd"): "7"}
    assert before == pod(env=[{"name": "NB_PREFIX", "value": "/x"}])  # the input is unchanged


def test_leaves_an_unselected_pod_as_it_is():
    assert apply_pod_defaults(pod(labels={}), [pod_default(env=[{"name": "X", "value": "1"}])]) == pod(labels={})


def test_refuses_a_conflict_and_what_it_cannot_apply():
    with pytest.raises(PodDefaultConflict, match="env 'X'"):
        apply_pod_defaults(pod(env=[{"name": "X", "value": "0"}]), [pod_default(env=[{"name": "X", "value": "1"}])])
    with pytest.raises(NotImplementedError, match="sidecars"):
        apply_pod_defaults(pod(), [pod_default(sidecars=[{"name": "s"}])])
