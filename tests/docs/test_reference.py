"""The generated reference pages follow their sources, and the docs' conventions hold (unit tests).

Each test changes a source in a temporary copy (a CRD description, a chart value, a Dask config
comment, an OpenAPI summary, a message in the code) and sees the generated page change; so a page
cannot keep showing what the code no longer says.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tests.docs.blocks import DocsError, extract, pages

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import dkl_reference as ref  # noqa: E402


def _copy(tmp_path: Path, relative: str) -> Path:
    target = tmp_path / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / relative, target)
    return target


def test_crd_page_follows_a_changed_description_and_default(tmp_path: Path) -> None:
    crd_dir = tmp_path / "operator" / "crds"
    for path in (ROOT / "operator" / "crds").glob("*.yaml"):
        _copy(tmp_path, str(path.relative_to(ROOT)))
    before = ref.crds_page(crd_dir, tmp_path)
    field = "Delete the cluster after its scheduler has been idle for this many seconds (0 disables)."
    assert field in before
    path = crd_dir / "daskclusters.kubernetes.dask.org.yaml"
    crd = ref.load_yaml(path.read_text())
    idle = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["idleTimeout"]
    idle["description"] = "Seconds of idleness before the cluster goes away."
    idle["default"] = 42
    path.write_text(yaml.dump(crd, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
    after = ref.crds_page(crd_dir, tmp_path)
    cluster_section = after.split("## DaskWorkerGroup")[0]
    assert field not in cluster_section
    assert "| `spec.idleTimeout` | integer | `42` | Seconds of idleness before the cluster goes away. ≥ 0 |" in after


def test_crd_page_shows_every_dask_field_and_stops_at_embedded_kubernetes_types() -> None:
    page = ref.crds_page(ROOT / "operator" / "crds", ROOT)
    for kind in ("DaskCluster", "DaskWorkerGroup", "DaskJob", "DaskAutoscaler"):
        assert f"## {kind}" in page
    assert "`spec.worker.spec` | [PodSpec]" in page
    assert "`spec.scheduler.service` | [ServiceSpec]" in page
    assert "spec.worker.spec.containers" not in page  # Kubernetes' own fields are linked, not listed
    assert "| `spec.scaleDownDelaySeconds` | integer | `60` |" in page


def test_chart_values_page_follows_a_changed_value_and_comment(tmp_path: Path) -> None:
    values = _copy(tmp_path, "operator/chart/dask-k8s-operator/values.yaml")
    before = ref.commented_yaml_page(values, tmp_path, "")
    assert "| `clusterDomain` | `\"cluster.local\"` | Domain of the cluster's DNS" in before
    values.write_text(values.read_text().replace(
        "# Domain of the cluster's DNS, used in the scheduler address given to workers\nclusterDomain: cluster.local",
        "# The DNS domain (changed)\nclusterDomain: example.internal"))
    after = ref.commented_yaml_page(values, tmp_path, "")
    assert "| `clusterDomain` | `\"example.internal\"` | The DNS domain (changed) |" in after


def test_commented_yaml_keys_nesting_and_trailing_comments() -> None:
    source = (
        "# header, not a key's comment\n\n"
        "top:\n"
        "  # the first\n"
        "  first: 1\n"
        "  second: [a, b]  # trailing\n"
        "template:\n"
        "  spec: {x: 1}\n"
    )
    comments = ref.yaml_comments(source)
    assert comments == {("top", "first"): "the first", ("top", "second"): "trailing"}
    rows = list(ref.value_rows(yaml.safe_load(source), comments))
    assert rows == [
        ("`top.first`", "`1`", "the first"),
        ("`top.second`", '`["a", "b"]`', "trailing"),
        ("`template`", '`{"spec": {"x": 1}}`', ""),
    ]


def test_dask_config_page_lists_every_key_with_its_comment() -> None:
    page = ref.commented_yaml_page(ROOT / "dask_k8s_lab" / "kubernetes.yaml", ROOT, "")
    defaults = yaml.safe_load((ROOT / "dask_k8s_lab" / "kubernetes.yaml").read_text())["kubernetes"]
    for key in defaults:
        assert f"`kubernetes.{key}" in page, key
    assert "| `kubernetes.count.start` | `0` | Workers in the default worker group at creation. |" in page


def test_openapi_page_follows_a_changed_summary(tmp_path: Path) -> None:
    spec_path = _copy(tmp_path, "dask_k8s_lab/server/openapi.yaml")
    spec = yaml.safe_load(spec_path.read_text())
    before = ref.openapi_page(spec_path, tmp_path)
    for route, item in spec["paths"].items():
        for method in ("get", "post", "patch", "delete"):
            if method in item:
                assert f"## `{method.upper()} {route}`" in before
    spec["paths"]["/dask-k8s/clusters"]["get"]["summary"] = "A changed summary."
    spec_path.write_text(yaml.safe_dump(spec))
    assert "A changed summary." in ref.openapi_page(spec_path, tmp_path)


def test_cli_page_comes_from_the_click_commands() -> None:
    import click

    from dask_k8s_lab.kubernetes_cli import main

    page = ref.cli_page([("dask_k8s_lab.kubernetes_cli:main", "dask kubernetes")])
    gen_cluster = main.commands["gen"].commands["cluster"]
    for param in gen_cluster.params:
        if isinstance(param, click.Option):
            assert all(opt in page for opt in param.opts), param.opts
    assert "(cli-dask-kubernetes-gen-cluster)=" in page


def test_server_options_page_lists_every_configurable_trait() -> None:
    from dask_k8s_lab.server.config import DaskK8sLab

    page = ref.traitlets_page("dask_k8s_lab.server.config:DaskK8sLab")
    for name in DaskK8sLab.class_traits(config=True):
        assert f"`c.DaskK8sLab.{name}`" in page


def test_python_api_page_documents_every_public_name() -> None:
    import dask_k8s_lab
    import dask_k8s_lab.classic

    page = ref.python_api_page(["dask_k8s_lab", "dask_k8s_lab.classic"])
    for package in (dask_k8s_lab, dask_k8s_lab.classic):
        for name in package.__all__:
            if not name.startswith("__"):
                assert f":: {package.__name__}.{name}\n" in page, name


def test_emitted_message_is_read_from_the_code(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        '"""A docstring that mentions the quota."""\n'
        "def f(ns, n):\n"
        "    raise ValueError(f\"{n} workers do not fit the quota of {ns!r}. \"\n"
        "                     \"Ask for fewer.\")\n"
    )
    assert ref.emitted_message(source, "do not fit") == "{n} workers do not fit the quota of {ns}. Ask for fewer."
    source.write_text(source.read_text().replace("do not fit", "exceed"))
    with pytest.raises(LookupError):
        ref.emitted_message(source, "do not fit")  # the docs build fails: the page needs updating


def test_blocks_are_classified_and_unknown_languages_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nx = 1\n```\n\n"
        "```{code-block} yaml\n:caption: a.yaml\n\nkey: value\n```\n\n"
        "````{not-run} needs a real cloud\n```sh\nhelm install x\n```\n````\n\n"
        "```text\nshown only\n```\n"
    )
    blocks, skipped = extract(page)
    assert [(b.kind, b.file) for b in blocks] == [("python", None), ("yaml", "a.yaml")]
    assert blocks[1].code == "key: value\n"
    assert [s.reason for s in skipped] == ["needs a real cloud"]
    page.write_text("```ruby\nputs 1\n```\n")
    with pytest.raises(DocsError, match="not run by the docs tests"):
        extract(page)
    page.write_text("````{not-run}\n```sh\nx\n```\n````\n")
    with pytest.raises(DocsError, match="needs the reason"):
        extract(page)


def test_every_docs_page_follows_the_block_conventions() -> None:
    found = pages(DOCS)
    assert found
    for page in found:
        extract(page)  # raises DocsError naming the page and line


def test_console_commands_keep_their_continuation_lines() -> None:
    from tests.docs.blocks import console_steps

    steps = console_steps("$ helm template x \\\n    --set a=b | grep kind\nkind: Role\n$ echo hi\nhi\n")
    assert steps == [("helm template x \\\n    --set a=b | grep kind", "kind: Role"), ("echo hi", "hi")]


def test_runner_shares_one_namespace_between_python_and_pycon_blocks() -> None:
    from tests.docs.runner import run_pycon, run_python

    namespace: dict = {"__name__": "__main__"}
    assert run_python("x = 20\n", "page.md", 1, namespace) == (True, "")
    assert run_pycon(">>> y = x + 1\n>>> y\n21\n", "page.md", 5, namespace)[0]
    assert run_python("print(y * 2)\n", "page.md", 9, namespace) == (True, "42\n")
    ok, report = run_pycon(">>> y\n22\n", "page.md", 12, namespace)
    assert not ok and "Expected:\n    22\nGot:\n    21" in report
