"""The messages of a refused request body: the validator's errors (against openapi.yaml's
schemas) as people read them, naming the field, the value and what is accepted."""

from __future__ import annotations

import pytest

from dask_k8s_lab.server.errors import ApiError
from dask_k8s_lab.server.requests import parse_add_worker_group, parse_create, parse_json_object, parse_patch

NAME_RULE = "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit."
LABEL_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit."
QUANTITY = 'a quantity of 0 or more such as "2", "500m" or "4Gi"'


def refusal(parse, body, maximum=None) -> tuple[int, str | None, str]:
    with pytest.raises(ApiError) as info:
        parse(body, maximum)
    return info.value.status, info.value.field, info.value.message


@pytest.mark.parametrize(
    "body, field, message",
    [
        # unknown field
        ({"colour": "red"}, "colour",
         "Unknown field colour; accepted: env, image, keep, n_workers, name, namespace, resources, template, "
         "worker_groups."),
        ({"resources": {"maximums": {}}}, "resources.maximums",
         "Unknown field resources.maximums; accepted: limits, requests."),
        ({"worker_groups": [{"name": "g", "n_workers": 1, "gpu": True}]}, "worker_groups.0.gpu",
         "Unknown field worker_groups.0.gpu; accepted: image, n_workers, name, resources."),
        # wrong type
        ({"name": 5}, "name", "name must be a string, got 5."),
        ({"n_workers": True}, "n_workers", "n_workers must be a whole number, got true."),
        ({"n_workers": 2.5}, "n_workers", "n_workers must be a whole number, got 2.5."),
        ({"keep": "yes"}, "keep", 'keep must be true or false, got "yes".'),
        ({"resources": []}, "resources", 'resources must be an object like {"requests": {"cpu": "1"}}, got [].'),
        ({"resources": {"limits": 4}}, "resources.limits",
         'resources.limits must be an object like {"cpu": "1", "memory": "2Gi"}, got 4.'),
        ({"resources": {"limits": {"cpu": True}}}, "resources.limits.cpu",
         f"resources.limits.cpu must be {QUANTITY}, got true."),
        ({"env": {"A": 1}}, "env.A", "env.A must be a string, got 1."),
        ({"worker_groups": {}}, "worker_groups",
         'worker_groups must be a list like [{"name": "gpu", "n_workers": 1}], got {}.'),
        ({"worker_groups": ["gpu"]}, "worker_groups.0",
         'worker_groups.0 must be an object like {"name": "gpu", "n_workers": 1}, got "gpu".'),
        # pattern and length: names, quantities, environment variable and resource names, images
        ({"name": "Bad_Name"}, "name", f"name 'Bad_Name' is not a valid name: use at most 53 {NAME_RULE}"),
        ({"name": "a" * 54}, "name", f"name '{'a' * 54}' is not a valid name: use at most 53 {NAME_RULE}"),
        ({"name": "9lives"}, "name", f"name '9lives' is not a valid name: use at most 53 {NAME_RULE}"),
        ({"name": "abc\n"}, "name", f"name 'abc\\n' is not a valid name: use at most 53 {NAME_RULE}"),
        ({"worker_groups": [{"name": "GPU", "n_workers": 1}]}, "worker_groups.0.name",
         f"worker_groups.0.name 'GPU' is not a valid name: use at most 63 {LABEL_RULE}"),
        ({"namespace": "Team"}, "namespace", f"namespace 'Team' is not a valid namespace name: use at most 63 {LABEL_RULE}"),
        ({"resources": {"limits": {"cpu": "lots"}}}, "resources.limits.cpu",
         f"resources.limits.cpu 'lots' is not {QUANTITY}."),
        ({"resources": {"requests": {"memory": "2GB"}}}, "resources.requests.memory",
         f"resources.requests.memory '2GB' is not {QUANTITY}."),
        ({"resources": {"limits": {"cpu": -1}}}, "resources.limits.cpu", "resources.limits.cpu must be at least 0, got -1."),
        ({"resources": {"limits": {"cpu": "-500m"}}}, "resources.limits.cpu",
         f"resources.limits.cpu '-500m' is not {QUANTITY}."),
        ({"resources": {"limits": {"my gpu": "1"}}}, "resources.limits.my gpu",
         "'my gpu' in resources.limits is not a resource name such as cpu, memory or nvidia.com/gpu."),
        ({"env": {"1 2": "x"}}, "env.1 2",
         "'1 2' in env is not a valid environment variable name: use letters, digits, '_', '-' and '.', "
         "not starting with a digit."),
        ({"image": "has space"}, "image",
         "image 'has space' is not a container image reference: use one without spaces, such as "
         "ghcr.io/dask/dask:latest."),
        # out of range
        ({"n_workers": -1}, "n_workers", "n_workers must be between 0 and 1000, got -1."),
        ({"n_workers": 100000}, "n_workers", "n_workers must be between 0 and 1000, got 100000."),
        ({"worker_groups": [{"name": "g", "n_workers": 1001}]}, "worker_groups.0.n_workers",
         "worker_groups.0.n_workers must be between 0 and 1000, got 1001."),
        # missing required
        ({"worker_groups": [{"name": "g"}]}, "worker_groups.0.n_workers", "worker_groups.0.n_workers is required."),
        ({"worker_groups": [{"n_workers": 1}]}, "worker_groups.0.name", "worker_groups.0.name is required."),
        # what a schema cannot say
        ({"worker_groups": [{"name": "default", "n_workers": 1}]}, "worker_groups.0.name",
         "worker group name 'default' is taken ('default' is the cluster's own group)."),
        ({"worker_groups": [{"name": "g", "n_workers": 1}, {"name": "g", "n_workers": 2}]}, "worker_groups.1.name",
         "worker group name 'g' is taken ('default' is the cluster's own group)."),
    ],
)
def test_create_refusals_name_the_field_the_value_and_the_fix(body, field, message):
    assert refusal(parse_create, body) == (422, field, message)


def test_the_configured_maximum_replaces_the_documented_one():
    assert refusal(parse_create, {"n_workers": 11}, 10) == (422, "n_workers", "n_workers must be between 0 and 10, got 11.")
    assert parse_create({"n_workers": 2000}, 5000).n_workers == 2000


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({}, "workers", 'Send {"workers": n} or {"adapt": {"minimum": a, "maximum": b}} or {"adapt": null}.'),
        ({"workers": "3"}, "workers", 'workers must be a whole number, got "3".'),
        ({"workers": 11}, "workers", "workers must be between 0 and 10, got 11."),
        ({"workers": 1, "adapt": None}, "adapt", "Send either workers (a fixed size) or adapt (a range), not both."),
        ({"workers": 1, "worker_group": "Bad!"}, "worker_group",
         f"worker_group 'Bad!' is not a valid name: use at most 63 {LABEL_RULE}"),
        ({"workers": 1, "size": 2}, "size", "Unknown field size; accepted: worker_group, workers."),
        ({"adapt": 5}, "adapt", 'adapt must be an object like {"minimum": 1, "maximum": 5} or null, got 5.'),
        ({"adapt": {"minimum": 1}}, "adapt.maximum", "adapt.maximum is required."),
        ({"adapt": {"minimum": 0, "maximum": 2, "target": 1}}, "adapt.target",
         "Unknown field adapt.target; accepted: maximum, minimum."),
        ({"adapt": {"minimum": 4, "maximum": 2}}, "adapt.maximum", "adapt.maximum (2) must not be below adapt.minimum (4)."),
    ],
)
def test_patch_refusals(body, field, message):
    assert refusal(parse_patch, body, 10) == (422, field, message)


def test_add_worker_group_refusals_are_relative_to_the_body():
    assert refusal(parse_add_worker_group, {"name": "x"}) == (422, "n_workers", "n_workers is required.")
    assert refusal(parse_add_worker_group, {"name": "x", "n_workers": 1, "resources": {"limits": {"cpu": "x"}}}) == (
        422, "resources.limits.cpu", f"resources.limits.cpu 'x' is not {QUANTITY}.")


def test_accepted_bodies_become_requests():
    request = parse_create({"name": "c1", "namespace": "9team", "n_workers": 2, "image": None,
                            "resources": {"limits": {"cpu": 1, "memory": "2Gi"}, "requests": {"cpu": 0.5}},
                            "env": {"A.b-c": "1"}, "worker_groups": [{"name": "gpu", "n_workers": 0, "image": "i:1"}]})
    assert (request.name, request.namespace, request.n_workers, request.image) == ("c1", "9team", 2, None)
    assert request.resources == {"limits": {"cpu": "1", "memory": "2Gi"}, "requests": {"cpu": "0.5"}}
    assert [(g.name, g.n_workers, g.image) for g in request.worker_groups] == [("gpu", 0, "i:1")]
    assert parse_patch({"workers": 3, "worker_group": None}).worker_group == "default"
    assert parse_create({"n_workers": 2.0}).n_workers == 2 and isinstance(parse_create({"n_workers": 2.0}).n_workers, int)


def test_non_finite_numbers_are_not_json():
    with pytest.raises(ApiError) as info:
        parse_json_object(b'{"resources": {"limits": {"cpu": NaN}}}')
    assert info.value.status == 400 and "NaN" in info.value.message
