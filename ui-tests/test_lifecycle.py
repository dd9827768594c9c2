"""The whole path a user takes, in a real browser against a real cluster: create from the
form, watch it start, scale it, open a dashboard plot, use it from a notebook, delete it.
Also: a cluster whose scheduler crashes shows why, and a cluster card dragged into a
notebook becomes a code cell."""

from __future__ import annotations

import time

import yaml
from playwright.sync_api import expect

from conftest import NAMESPACE, READY_TIMEOUT_MS, card, delete_cluster_now, fill_form, kubectl, open_sidebar


def _wait_gone(name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while kubectl("get", "daskcluster", name, "-n", NAMESPACE, check=False).returncode == 0:
        assert time.monotonic() < deadline, f"DaskCluster {name} still exists after {timeout}s"
        time.sleep(1)


def _apply(manifest: dict) -> None:
    manifest["metadata"]["namespace"] = NAMESPACE
    kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))


def _code_cells(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")


def test_create_scale_dashboard_notebook_delete(lab, shot):
    name = "ui-life"
    delete_cluster_now(name)
    _wait_gone(name)

    # Create from the form.
    lab.get_by_test_id("new-cluster").click()
    dialog = lab.locator(".jp-Dialog")
    fill_form(dialog, name=name, workers="2")
    shot("form-filled")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_have_count(0)
    item = card(lab, name)
    expect(item).to_be_visible()
    shot("starting")

    # Watch it reach Running with 2 workers.
    expect(item.get_by_test_id("phase")).to_have_text("Running", timeout=READY_TIMEOUT_MS)
    expect(item.get_by_test_id("workers")).to_have_text("2/2 workers", timeout=READY_TIMEOUT_MS)
    expect(item.get_by_test_id("group-default")).to_contain_text("2/2")
    shot("running-2-workers")

    # Scale to 3 and see 3.
    item.get_by_test_id("scale").click()
    dialog = lab.locator(".jp-Dialog")
    expect(dialog.get_by_text(f"Scale {name}")).to_be_visible()
    dialog.locator('input[name="workers"]').fill("3")
    shot("scale-dialog")
    dialog.get_by_role("button", name="Scale").click()
    expect(dialog).to_have_count(0)
    expect(item.get_by_test_id("workers")).to_have_text("3/3 workers", timeout=READY_TIMEOUT_MS)
    shot("scaled-3-workers")
    replicas = kubectl(
        "get", "daskcluster", name, "-n", NAMESPACE, "-o", "jsonpath={.spec.worker.replicas}"
    ).stdout
    assert replicas == "3"

    # Select it: its plots are listed; open one and see it render.
    item.click()
    expect(lab.locator(".dk8s-LauncherBody")).to_contain_text(f"Dashboard of {name}")
    plots = lab.locator(".dk8s-PlotButton")
    expect(plots.first).to_be_visible(timeout=60000)
    shot("plots-listed")
    task_stream = lab.locator(".dk8s-PlotButton", has_text="Task Stream")
    target = task_stream if task_stream.count() else plots.first
    label = target.inner_text()
    target.click()
    pane = lab.locator(".dk8s-Dashboard")
    expect(pane).to_have_count(1)
    expect(lab.locator(".lm-TabBar-tab.lm-mod-current", has_text=label).first).to_be_visible()
    frame = lab.frame_locator(".dk8s-Dashboard iframe")
    # Bokeh draws into canvases (inside shadow roots, which locators pierce).
    expect(frame.locator("canvas").first).to_be_visible(timeout=60000)
    shot("plot-rendered")

    # Reload: the pane comes back with the layout, the cluster stays selected.
    lab.reload()
    lab.locator("#jupyterlab-splash").wait_for(state="detached", timeout=60000)
    expect(lab.locator(".dk8s-Dashboard")).to_have_count(1, timeout=30000)
    expect(lab.frame_locator(".dk8s-Dashboard iframe").locator("canvas").first).to_be_visible(timeout=60000)
    open_sidebar(lab)
    item = card(lab, name)
    expect(item).to_have_attribute("aria-selected", "true", timeout=20000)
    shot("restored-after-reload")

    # Insert client code into a (new) notebook and compute with it.
    item.get_by_test_id("inject").click()
    cells = _code_cells(lab)
    expect(cells.first).to_contain_text("KubeCluster.from_name", timeout=30000)
    expect(cells.first).to_contain_text(f'"{name}"')
    shot("code-inserted")
    expect(lab.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=60000)
    cells.first.locator(".jp-InputPrompt").click()
    lab.keyboard.press("b")
    expect(cells).to_have_count(2)
    lab.keyboard.press("Enter")
    lab.keyboard.type("client.submit(sum, [40, 2]).result() * 1000 + len(client.scheduler_info()['workers'])")
    lab.locator("#jp-MainMenu").get_by_text("Run", exact=True).click()
    lab.locator(".lm-Menu").get_by_text("Run All Cells", exact=True).click()
    output = cells.nth(1).locator(".jp-OutputArea-output")
    expect(output).to_contain_text("42003", timeout=180000)
    expect(cells.first.locator(".jp-OutputArea-output.jp-mod-error")).to_have_count(0)
    shot("computed-in-notebook")

    # Delete with confirmation and see it vanish.
    open_sidebar(lab)
    item.get_by_test_id("delete").click()
    dialog = lab.locator(".jp-Dialog")
    expect(dialog.get_by_text(f"Delete cluster {name}?")).to_be_visible()
    shot("delete-confirm")
    dialog.get_by_role("button", name="Delete").click()
    expect(item).to_have_count(0, timeout=120000)
    shot("deleted")
    _wait_gone(name)


def test_stuck_cluster_shows_its_reason(lab, shot):
    from dask_k8s_lab.specs import make_cluster_spec

    name = "ui-stuck"
    delete_cluster_now(name)
    _wait_gone(name)
    manifest = make_cluster_spec(name, n_workers=1)
    scheduler = manifest["spec"]["scheduler"]["spec"]["containers"][0]
    scheduler["args"] = [
        "python",
        "-c",
        "import sys; print('scheduler refuses: bad configuration', file=sys.stderr); sys.exit(3)",
    ]
    _apply(manifest)
    try:
        item = card(lab, name)
        expect(item).to_be_visible(timeout=20000)
        reason = item.get_by_test_id("reason")
        expect(reason).to_be_visible(timeout=READY_TIMEOUT_MS)
        expect(reason).to_contain_text("bad configuration")
        expect(item).not_to_have_attribute("data-phase", "Running")
        shot("stuck-with-reason")
        # The logs pane lists the cluster's events and its pods.
        item.get_by_test_id("logs").click()
        logs = lab.locator(".dk8s-Logs")
        expect(logs).to_be_visible()
        expect(logs.locator(".dk8s-Events tbody tr").first).to_be_visible(timeout=30000)
        expect(logs.locator(".dk8s-PodLog summary", has_text=f"{name}-scheduler")).to_be_visible(timeout=30000)
        shot("logs-pane")
    finally:
        delete_cluster_now(name)


def test_drag_cluster_into_notebook(lab, shot):
    from dask_k8s_lab.specs import make_cluster_spec

    name = "ui-drag"
    _apply(make_cluster_spec(name, n_workers=0))
    try:
        item = card(lab, name)
        expect(item).to_be_visible(timeout=20000)
        # A new notebook from the Launcher's Python card (no kernel dialog).
        lab.locator(".jp-Launcher-section", has_text="Notebook").locator(".jp-LauncherCard").first.click()
        cells = _code_cells(lab)
        expect(cells).to_have_count(1, timeout=30000)
        # (an element not laid out yet has no box: the notebook's first cell can exist before
        # its panel is shown)
        stats = item.locator(".dk8s-ClusterItem-stats")
        expect(stats).to_be_visible()
        expect(cells.first).to_be_visible(timeout=30000)
        src, dst = stats.bounding_box(), cells.first.bounding_box()
        assert src and dst, (src, dst)
        lab.mouse.move(src["x"] + 10, src["y"] + 5)
        lab.mouse.down()
        lab.mouse.move(src["x"] + 30, src["y"] + 20, steps=5)
        lab.mouse.move(dst["x"] + 100, dst["y"] + dst["height"] / 2, steps=15)
        shot("dragging")
        lab.mouse.up()
        expect(cells).to_have_count(2, timeout=10000)
        expect(lab.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")).to_contain_text(
            f'KubeCluster.from_name("{name}", namespace="{NAMESPACE}")'
        )
        shot("dropped")
    finally:
        delete_cluster_now(name)


def test_scale_one_worker_group_leaves_the_other(lab, shot):
    from dask_k8s_lab.specs import make_cluster_spec, make_worker_group, make_worker_spec

    name = "ui-groups2"
    delete_cluster_now(name)
    _wait_gone(name)
    _apply(make_cluster_spec(name, n_workers=1))
    _apply(make_worker_group(name, "extra", make_worker_spec(n_workers=1)))
    try:
        item = card(lab, name)
        expect(item.get_by_test_id("workers")).to_have_text("2/2 workers", timeout=READY_TIMEOUT_MS)
        expect(item.get_by_test_id("group-extra")).to_contain_text("1/1")
        item.get_by_test_id("scale").click()
        dialog = lab.locator(".jp-Dialog")
        dialog.locator("#dk8s-scale-group").select_option("extra")
        expect(dialog.locator('input[name="workers"]')).to_have_value("1")
        dialog.locator('input[name="workers"]').fill("2")
        shot("scale-one-group")
        dialog.get_by_role("button", name="Scale").click()
        expect(item.get_by_test_id("group-extra")).to_contain_text("2/2", timeout=READY_TIMEOUT_MS)
        expect(item.get_by_test_id("group-default")).to_contain_text("1/1")
        expect(item.get_by_test_id("workers")).to_have_text("3/3 workers")
        shot("group-scaled")
    finally:
        delete_cluster_now(name)
