"""Unit tests: containers that start the removed dask-scheduler/dask-worker scripts are rewritten."""

from __future__ import annotations

import copy

from dask_k8s_common import legacy_commands
from dask_k8s_operator import builders
from tests.operator.helpers import manifest


def test_args_program_is_rewritten_and_the_rest_kept():
    container = {"name": "worker", "args": ["dask-worker", "--name", "$(DASK_WORKER_NAME)"]}
    rewrite = legacy_commands.modernize_container(container)
    assert container["args"] == ["dask", "worker", "--name", "$(DASK_WORKER_NAME)"]
    assert rewrite is not None and (rewrite.field, rewrite.old) == ("args", "dask-worker")


def test_command_wins_over_args_and_a_folder_is_kept():
    container = {"name": "s", "command": ["/opt/conda/bin/dask-scheduler"], "args": ["--port", "1"]}
    legacy_commands.modernize_container(container)
    assert container["command"] == ["/opt/conda/bin/dask", "scheduler"]
    assert container["args"] == ["--port", "1"]


def test_cuda_worker_and_untouched_forms():
    cuda = {"name": "gpu", "args": ["dask-cuda-worker", "$(DASK_SCHEDULER_ADDRESS)"]}
    assert legacy_commands.modernize_container(cuda) is not None
    assert cuda["args"][:3] == ["dask", "cuda", "worker"]
    for untouched in (
        {"name": "a", "args": ["dask", "worker"]},                      # already modern
        {"name": "b", "command": ["sh", "-c", "dask-worker tcp://x"]},  # inside a shell string
        {"name": "c", "command": ["python"], "args": ["dask-worker"]},  # an argument, not the program
        {"name": "d"},                                                  # no command at all
        {"name": "e", "args": ["dask-workerx"]},                        # another program
    ):
        before = copy.deepcopy(untouched)
        assert legacy_commands.modernize_container(untouched) is None
        assert untouched == before


def test_message_says_what_and_why():
    spec = {"initContainers": [{"name": "init", "args": ["dask-spec"]}],
            "containers": [{"name": "worker", "args": ["dask-worker"]}]}
    rewrites = legacy_commands.modernize_pod_spec(spec)
    text = legacy_commands.message(rewrites)
    assert "'dask-worker' -> 'dask worker'" in text and "'dask-spec' -> 'dask spec'" in text
    assert "removed" in text and "2026.6" in text


def _docs_cluster() -> dict:
    """The docs' cluster.yaml, with the docs' own `dask-scheduler`/`dask-worker` programs."""
    body = manifest("cluster.yaml")
    body["metadata"].update(namespace="ns", uid="u1")
    body["apiVersion"], body["kind"] = "kubernetes.dask.org/v1", "DaskCluster"
    body["spec"]["scheduler"]["spec"]["containers"][0]["args"] = ["dask-scheduler"]
    body["spec"]["worker"]["spec"]["containers"][0]["args"][:2] = ["dask-worker"]
    return body


def test_builders_rewrite_scheduler_and_worker_pods_and_annotate_them():
    cluster = _docs_cluster()
    original = copy.deepcopy(cluster)
    pod = builders.build_scheduler_pod(cluster)
    assert pod["spec"]["containers"][0]["args"] == ["dask", "scheduler"]
    assert "dask-scheduler" in legacy_commands.pod_message(pod)
    group = builders.build_default_worker_group(cluster)
    group["metadata"]["uid"] = "g1"
    worker = builders.build_worker_pod(group, "simple-default-worker-1")
    assert worker["spec"]["containers"][0]["args"][:2] == ["dask", "worker"]
    assert legacy_commands.ANNOTATION in worker["metadata"]["annotations"]
    # the resource itself is not changed, and the spec hash is the resource's
    assert cluster == original
    assert pod["metadata"]["annotations"][builders.SPEC_HASH_ANNOTATION] == builders.spec_hash(
        original["spec"]["scheduler"]["spec"])


def test_modern_pods_carry_no_annotation():
    body = manifest("cluster.yaml")
    body["metadata"].update(namespace="ns", uid="u1")
    pod = builders.build_scheduler_pod(body)
    assert legacy_commands.ANNOTATION not in pod["metadata"]["annotations"]
    assert legacy_commands.pod_message(pod) is None
