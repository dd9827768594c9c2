"""Unit tests of the classic KubeCluster's pure parts: templates, options, manifests."""

from __future__ import annotations

import warnings

import dask.config
import pytest
import yaml

import dask_k8s_lab
from dask_k8s_lab import ValidationError
from dask_k8s_lab.classic import KubeCluster, clean_pod_template, make_pod_spec
from dask_k8s_lab.classic import config, manifests
from tests.classic.docs import WORKER_SPEC_YML


def test_make_pod_spec_as_documented():
    pod = make_pod_spec(image="dask/dask:latest", labels={"a": "b"}, threads_per_worker=2,
                        env={"EXTRA_PIP_PACKAGES": "x"}, resources="GPU=2",
                        memory_limit="4G", memory_request="3G", cpu_limit=1, cpu_request="500m",
                        gpu_limit=1, annotations={"n": "o"},
                        extra_container_config={"image_pull_policy": "Always"},
                        extra_pod_config={"node_selector": {"disk": "ssd"}})
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["dask", "worker", "$(DASK_SCHEDULER_ADDRESS)", "--nthreads", "2",
                                 "--death-timeout", "60", "--memory-limit", "4G",
                                 "--resources", "GPU=2"]
    assert container["resources"] == {
        "limits": {"cpu": 1, "memory": "4G", "nvidia.com/gpu": 1},
        "requests": {"cpu": "500m", "memory": "3G"}}
    assert container["env"] == [{"name": "EXTRA_PIP_PACKAGES", "value": "x"}]
    assert container["imagePullPolicy"] == "Always"
    assert pod["spec"]["nodeSelector"] == {"disk": "ssd"}
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["metadata"] == {"labels": {"a": "b"}, "annotations": {"n": "o"}}
    assert {t["key"] for t in pod["spec"]["tolerations"]} == {
        "k8s.dask.org/dedicated", "k8s.dask.org_dedicated"}


def test_top_level_exports_keep_the_operator_kubecluster():
    assert dask_k8s_lab.make_pod_spec is make_pod_spec
    assert dask_k8s_lab.clean_pod_template is clean_pod_template
    assert dask_k8s_lab.KubeCluster is not KubeCluster
    assert dask_k8s_lab.KubeCluster.__module__ == "dask_k8s_lab.kubecluster"


@pytest.mark.parametrize("mode,key", [("prefer", "preferredDuringSchedulingIgnoredDuringExecution"),
                                      ("require", "requiredDuringSchedulingIgnoredDuringExecution")])
def test_clean_pod_template_affinity_and_tolerations(mode, key):
    pod = clean_pod_template(yaml.safe_load(WORKER_SPEC_YML), mode)
    assert key in pod["spec"]["affinity"]["nodeAffinity"]
    assert len(pod["spec"]["tolerations"]) == 2
    again = clean_pod_template(pod, "ignore")  # idempotent tolerations
    assert len(again["spec"]["tolerations"]) == 2
    with pytest.raises(TypeError):
        clean_pod_template("worker-spec.yml")


@pytest.mark.parametrize("template,field", [
    ({"kind": "Pod", "spec": {"containers": []}}, "pod_template.spec.containers"),
    ({"kind": "Pod", "metadata": {}}, "pod_template.spec"),
    ({"kind": "Deployment", "spec": {}}, "pod_template.kind"),
    ({"kind": "Pod", "spec": {"containers": [{"name": "x"}]}},
     "pod_template.spec.containers[0].image"),
])
def test_bad_templates_name_the_field(template, field):
    with pytest.raises(ValidationError, match=field.replace("[", r"\[").replace("]", r"\]")):
        KubeCluster(template)


def test_non_pod_yaml_and_unknown_deploy_mode(tmp_path):
    path = tmp_path / "svc.yml"
    path.write_text("kind: Service\nspec: {ports: []}\n")
    with pytest.raises(ValidationError, match="pod_template.kind"):
        KubeCluster(str(path))
    with pytest.raises(ValidationError, match="deploy_mode"):
        KubeCluster(make_pod_spec("dask/dask:latest"), deploy_mode="cloud")
    with pytest.raises(ValidationError, match="apply_default_affinity"):
        KubeCluster(make_pod_spec("dask/dask:latest"), apply_default_affinity="always")
    with pytest.raises(ValidationError, match="pod_template: no file"):
        KubeCluster(str(tmp_path / "missing.yml"))
    with pytest.raises(ValidationError, match="kubernetes.worker-template-path"):
        KubeCluster()


def test_template_from_config_path_and_legacy_warning(tmp_path):
    path = tmp_path / "worker-spec.yml"
    path.write_text(WORKER_SPEC_YML)
    with dask.config.set({"kubernetes.worker-template-path": str(path)}), \
            pytest.warns(FutureWarning, match="'dask-worker' -> 'dask worker'"):
        options = config.resolve()
    args = options.worker_template["spec"]["containers"][0]["args"]
    assert args[:2] == ["dask", "worker"]
    assert options.deploy_mode == "remote" and options.service_type == "ClusterIP"
    assert options.name.startswith("dask-")
    # the scheduler gets its own tolerations, not the workers'
    assert {t["value"] for t in options.scheduler_template["spec"]["tolerations"]} == {"scheduler"}


def test_from_dict_and_from_yaml_are_deprecated(tmp_path):
    path = tmp_path / "pod.yml"
    path.write_text("kind: Deployment\n")
    with pytest.warns(DeprecationWarning, match="from_yaml"), pytest.raises(ValidationError):
        KubeCluster.from_yaml(str(path))
    with pytest.warns(DeprecationWarning, match="from_dict"), pytest.raises(ValidationError):
        KubeCluster.from_dict({"spec": {}})


def test_worker_pod_manifest():
    template = clean_pod_template(make_pod_spec("dask/dask:latest"))
    owner = {"metadata": {"name": "c-scheduler-x", "uid": "u1"}}
    pod = manifests.worker_pod(template, "c", "ns", "dask-me-1", "3", "tcp://c.ns:8786",
                               {"A": "1"}, owner)
    container = pod["spec"]["containers"][0]
    assert container["args"][-2:] == ["--name", "3"]
    assert container["args"].count("--death-timeout") == 1
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"A": "1", "DASK_SCHEDULER_ADDRESS": "tcp://c.ns:8786"}
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert pod["metadata"]["labels"][manifests.LABEL_CLASSIC] == "true"
    bare = {"spec": {"containers": [{"name": "w", "image": "dask/dask:latest",
                                     "args": ["dask", "worker"]}]}}
    pod = manifests.worker_pod(bare, "c", "ns", "p", "0", "tcp://x:1", {}, None)
    assert pod["spec"]["containers"][0]["args"][-2:] == ["--death-timeout", "60"]
    assert "ownerReferences" not in pod["metadata"]


def test_scheduler_job_service_and_pdb():
    template = clean_pod_template(make_pod_spec("dask/dask:latest"), pod_type="scheduler")
    job = manifests.scheduler_job(template, "c", "ns", "30s", {"A": "1"}, {"spec": {}})
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["dask", "scheduler", "--port", "8786", "--dashboard-address",
                                 ":8787", "--idle-timeout", "30s"]
    assert job["spec"]["ttlSecondsAfterFinished"] == 0 and job["spec"]["backoffLimit"] == 0
    pod = {"metadata": {"name": "c-scheduler-abc", "uid": "u"}}
    with dask.config.set({"kubernetes.scheduler-service-type": "NodePort"}):
        service = manifests.scheduler_service("c", "ns", pod, "NodePort")
    assert service["spec"]["type"] == "NodePort"
    assert [p["name"] for p in service["spec"]["ports"]] == ["tcp-comm", "http-dashboard"]
    pdb = manifests.scheduler_pdb("c", "ns", pod)
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["metadata"]["ownerReferences"][0]["name"] == "c-scheduler-abc"


def test_no_warning_for_modern_templates():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config.resolve(make_pod_spec("dask/dask:latest"))


def test_classic_client_role_covers_what_it_creates():
    import importlib.resources

    text = importlib.resources.files("dask_k8s_lab").joinpath(
        "manifests/client-rbac.yaml").read_text()
    roles = {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(text)}
    rules = roles["dask-k8s-lab-classic-client"]["rules"]

    def allowed(group, resource, verb):
        return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
                   for r in rules)

    for group, resource in (("", "pods"), ("", "services"), ("batch", "jobs"),
                            ("policy", "poddisruptionbudgets")):
        for verb in ("get", "list", "create", "delete"):
            assert allowed(group, resource, verb), (resource, verb)
    assert allowed("batch", "jobs", "patch")  # the client lease
    assert allowed("", "pods/log", "get") and allowed("", "nodes", "list")
    assert allowed("", "pods/portforward", "create")


def test_local_mode_contact_host_is_this_machines_node_address():
    from dask_k8s_lab.classic.local import node_contact_host

    assert node_contact_host(["203.0.113.9", "10.244.0.1"], {"127.0.0.1", "10.244.0.1"}) == (
        "10.244.0.1")
    assert node_contact_host(["203.0.113.9"], {"127.0.0.1"}) is None


def test_worker_names_from_config_and_tls_only_locally(monkeypatch):
    from dask_k8s_lab.classic.templates import format_name

    monkeypatch.setenv("JUPYTERHUB_USER", "Alice")
    assert format_name("dask-{JUPYTERHUB_USER}-{uuid}", uuid="ab12") == "dask-alice-ab12"
    with pytest.raises(ValidationError, match="security"):
        KubeCluster(make_pod_spec("dask/dask:latest"), security=object())


def test_lease_sets_and_extends_the_job_deadline():
    template = clean_pod_template(make_pod_spec("dask/dask:latest"), pod_type="scheduler")
    job = manifests.scheduler_job(template, "c", "ns", None, {}, {}, lease=60)
    assert job["spec"]["activeDeadlineSeconds"] == 61
    assert manifests.lease_deadline(100.2, 60) == 161
    assert "activeDeadlineSeconds" not in manifests.scheduler_job(template, "c", "ns", None, {},
                                                                  {})["spec"]
    with dask.config.set({"kubernetes.client-lease": 3}), pytest.raises(
            ValidationError, match="kubernetes.client-lease"):
        config.resolve(make_pod_spec("dask/dask:latest"))
