"""The sidebar in a real browser, without waiting for clusters to run: it loads, lists live,
validates the form where the user types, and looks right in the light and dark themes."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from conftest import NAMESPACE, card, delete_cluster_now, fill_form, kubectl


def test_sidebar_opens_with_live_updates(lab, shot):
    sidebar = lab.locator("#dask-k8s-sidebar")
    expect(sidebar.get_by_text("Dask clusters", exact=True)).to_be_visible()
    expect(lab.get_by_test_id("new-cluster")).to_be_visible()
    # The websocket stream is up (green dot), not the polling fallback.
    expect(lab.get_by_test_id("live")).to_have_attribute("data-live", "true", timeout=20000)
    expect(lab.get_by_test_id("list-error")).to_have_count(0)
    shot("sidebar")


def test_form_rejects_bad_values_at_their_field(lab, shot):
    lab.get_by_test_id("new-cluster").click()
    dialog = lab.locator(".jp-Dialog")
    expect(dialog.get_by_text("New Dask cluster")).to_be_visible()
    shot("form-open")
    fill_form(dialog, name="Bad_Name", workers="-2")
    dialog.locator('textarea[name="env"]').fill("NOT A PAIR")
    dialog.get_by_role("button", name="Create").click()
    # The dialog comes back with each problem next to its field; nothing was created.
    expect(dialog.locator(".dk8s-FieldError")).to_have_count(3)
    expect(dialog.locator('input[name="name"]')).to_have_value("Bad_Name")
    expect(dialog.locator('input[name="name"]')).to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_text("is not a whole number of workers")).to_be_visible()
    shot("form-errors")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    out = kubectl("get", "daskclusters", "-n", NAMESPACE, "-o", "name").stdout
    assert "bad" not in out.lower()


def test_server_side_error_is_shown_in_the_form(lab, shot):
    # A valid-looking request the server refuses (an image reference that cannot exist):
    # its message must appear in the form, which keeps what the user typed.
    lab.get_by_test_id("new-cluster").click()
    dialog = lab.locator(".jp-Dialog")
    fill_form(dialog, name="srv-error", workers="100000")
    dialog.get_by_role("button", name="Create").click()
    error = dialog.locator(".dk8s-FieldError, .dk8s-Error")
    expect(error.first).to_be_visible(timeout=15000)
    expect(dialog.locator('input[name="name"]')).to_have_value("srv-error")
    shot("server-error")
    dialog.get_by_role("button", name="Cancel").click()
    assert kubectl("get", "daskcluster", "srv-error", "-n", NAMESPACE, check=False).returncode != 0


def test_kubectl_cluster_appears_and_vanishes_without_reload(lab, shot, namespace):
    import yaml

    from dask_k8s_lab.specs import make_cluster_spec

    name = "from-kubectl"
    delete_cluster_now(name)
    manifest = make_cluster_spec(name, n_workers=1)
    manifest["metadata"]["namespace"] = namespace
    item = card(lab, name)
    expect(item).to_have_count(0)
    kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    expect(item).to_be_visible(timeout=20000)
    expect(item.locator(".dk8s-ClusterItem-name")).to_have_text(name)
    shot("appeared")
    kubectl("delete", "daskcluster", name, "-n", namespace, "--wait=false")
    expect(item).to_have_count(0, timeout=60000)
    shot("vanished")


def _switch_theme(page, theme: str, light: bool) -> None:
    page.locator("#jp-MainMenu").get_by_text("Settings", exact=True).click()
    page.locator(".lm-Menu").get_by_text("Theme", exact=True).hover()
    page.locator(".lm-Menu").get_by_text(theme, exact=True).click()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", str(light).lower(), timeout=15000)
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=30000)


def _rgb(css: str) -> list[int]:
    return [int(float(x)) for x in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]


def test_dark_theme(lab, shot, namespace):
    import yaml

    from dask_k8s_lab.specs import make_cluster_spec

    name = "theme-check"
    manifest = make_cluster_spec(name, n_workers=1)
    manifest["metadata"]["namespace"] = namespace
    kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    try:
        item = card(lab, name)
        expect(item).to_be_visible(timeout=20000)
        shot("light")
        _switch_theme(lab, "JupyterLab Dark", light=False)
        # Our own surfaces follow the theme: the card is dark, its text light.
        assert sum(_rgb(item.evaluate("e => getComputedStyle(e).backgroundColor"))) < 3 * 100
        name_color = item.locator(".dk8s-ClusterItem-name").evaluate("e => getComputedStyle(e).color")
        assert sum(_rgb(name_color)) > 3 * 150, name_color
        shot("dark-sidebar")
        lab.get_by_test_id("new-cluster").click()
        dialog = lab.locator(".jp-Dialog")
        dialog.locator('input[name="name"]').fill("Nope!")
        dialog.get_by_role("button", name="Create").click()
        expect(dialog.locator(".dk8s-FieldError")).to_have_count(1)
        shot("dark-form")
        dialog.get_by_role("button", name="Cancel").click()
    finally:
        delete_cluster_now(name)
        if lab.locator("body").get_attribute("data-jp-theme-light") == "false":
            _switch_theme(lab, "JupyterLab Light", light=True)


def test_worker_groups_adapt_keyboard_and_url_box(lab, shot, namespace, lab_server):
    import yaml

    from dask_k8s_lab.specs import make_cluster_spec

    name = "ui-groups"
    manifest = make_cluster_spec(name, n_workers=0)
    manifest["metadata"]["namespace"] = namespace
    kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    try:
        item = card(lab, name)
        expect(item).to_be_visible(timeout=20000)

        # Keyboard: the card takes focus and Enter selects it.
        item.focus()
        lab.keyboard.press("Enter")
        expect(item).to_have_attribute("aria-selected", "true")

        # Add a worker group from the card, see it listed, then remove it.
        item.get_by_test_id("add-group").click()
        dialog = lab.locator(".jp-Dialog")
        dialog.locator('input[name="name"]').fill("extra")
        dialog.locator('input[name="workers"]').fill("1")
        shot("add-group-dialog")
        dialog.get_by_role("button", name="Add").click()
        expect(dialog).to_have_count(0)
        group = item.get_by_test_id("group-extra")
        expect(group).to_be_visible(timeout=30000)
        assert kubectl("get", "daskworkergroup", f"{name}-extra", "-n", namespace, check=False).returncode == 0
        shot("group-added")
        item.get_by_test_id("remove-group-extra").click()
        confirm = lab.locator(".jp-Dialog")
        expect(confirm.get_by_text("Remove worker group extra?")).to_be_visible()
        confirm.get_by_role("button", name="Remove").click()
        expect(group).to_have_count(0, timeout=60000)
        shot("group-removed")

        # Adaptive scaling between 0 and 2, shown on the card.
        item.get_by_test_id("scale").click()
        dialog = lab.locator(".jp-Dialog")
        dialog.locator("#dk8s-scale-adaptive").check()
        dialog.locator('input[name="minimum"]').fill("0")
        dialog.locator('input[name="maximum"]').fill("2")
        shot("adapt-dialog")
        dialog.get_by_role("button", name="Scale").click()
        expect(dialog).to_have_count(0)
        expect(item.get_by_test_id("adapt")).to_have_text("adaptive 0–2", timeout=30000)
        shot("adaptive")

        # Any dashboard URL opens in a pane from the box.
        box = lab.get_by_test_id("dashboard-url")
        box.fill(f"{lab_server['base_url']}dask-k8s/dashboard/{namespace}/{name}/status")
        box.press("Enter")
        expect(lab.locator(".dk8s-Dashboard")).to_have_count(1)
        shot("url-box-pane")
    finally:
        delete_cluster_now(name)


def test_settings_defaults_and_templates_fill_the_form(lab, shot):
    # conftest.USER_SETTINGS: defaults (2 workers, an env var) and a template "tiny".
    lab.get_by_test_id("new-cluster").click()
    dialog = lab.locator(".jp-Dialog")
    expect(dialog.locator('input[name="workers"]')).to_have_value("2")
    expect(dialog.locator('textarea[name="env"]')).to_have_value("FROM_DEFAULTS=yes")
    dialog.locator('select[name="template"]').select_option(label="tiny (my settings)")
    expect(dialog.get_by_text("One small worker")).to_be_visible()
    expect(dialog.locator('input[name="workers"]')).to_have_value("1")
    expect(dialog.locator('input[name="cpuRequest"]')).to_have_value("250m")
    expect(dialog.locator('input[name="memoryRequest"]')).to_have_value("256Mi")
    shot("template-applied")
    dialog.get_by_role("button", name="Cancel").click()


def test_palette_and_context_menu_reach_every_action(lab, shot, namespace):
    import yaml

    from dask_k8s_lab.specs import make_cluster_spec

    name = "ui-menus"
    manifest = make_cluster_spec(name, n_workers=0)
    manifest["metadata"]["namespace"] = namespace
    kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    try:
        item = card(lab, name)
        expect(item).to_be_visible(timeout=20000)
        # While it starts, the card says what it waits for.
        expect(item.get_by_test_id("start-status")).to_be_visible()
        item.click(button="right")
        menu = lab.locator(".lm-Menu")
        for label in ("Insert client code", "Scale…", "Add worker group…", "Open dashboard", "Logs and events", "Delete"):
            expect(menu.get_by_text(label, exact=True)).to_be_visible()
        shot("context-menu")
        lab.keyboard.press("Escape")
        if menu.count():  # the menu had lost keyboard focus; a click outside closes it too
            lab.locator(".dk8s-Header-text").click()
        expect(menu).to_have_count(0)
        palette = lab.locator("#command-palette")
        search = palette.locator("input")
        items = palette.locator(".lm-CommandPalette-item")

        def palette_search(query: str) -> None:
            """Open the command palette and type; JupyterLab's modal palette closes whenever focus
            moves, so open it again until the typed query shows visible results."""
            for _ in range(4):
                if not search.is_visible():
                    lab.locator("#jp-MainMenu").get_by_text("View", exact=True).click()
                    lab.locator(".lm-Menu").get_by_text("Activate Command Palette", exact=True).click()
                try:
                    search.fill(query, timeout=3000)
                    items.first.wait_for(state="visible", timeout=5000)
                    return
                except Exception:
                    lab.keyboard.press("Escape")
            raise AssertionError(f"the command palette did not stay open to show {query!r}")

        palette_search("Dask")
        wanted = {
            "New Dask cluster…",
            "Scale Dask cluster…",
            "Delete Dask cluster…",
            "Add a worker group to a Dask cluster…",
            "Open a Dask dashboard URL…",
            "Insert Dask client code for a cluster into the notebook",
            "Show Dask cluster logs and events",
        }
        deadline = time.monotonic() + 10
        while not wanted <= set(texts := [t.strip() for t in items.all_inner_texts()]):
            assert time.monotonic() < deadline, f"palette shows {texts}, wanted {sorted(wanted)}"
            if not search.is_visible():  # closed under us: open it again
                palette_search("Dask")
            time.sleep(0.3)
        shot("palette")
        # Running one from the palette works like the button: the form opens.
        for _ in range(3):
            try:
                palette_search("New Dask cluster")
                search.press("Enter", timeout=3000)
                lab.locator(".jp-Dialog").wait_for(timeout=5000)
                break
            except Exception:
                lab.keyboard.press("Escape")
        expect(lab.locator(".jp-Dialog").get_by_text("New Dask cluster")).to_be_visible()
        lab.locator(".jp-Dialog").get_by_role("button", name="Cancel").click()
    finally:
        delete_cluster_now(name)


def test_errors_are_shown_where_they_happen(page, lab_server, shot, namespace):
    """With the live stream cut and the API failing, the list says so; a refused delete says
    why in a notification and the card stays."""
    import yaml

    from conftest import open_sidebar
    from dask_k8s_lab.specs import make_cluster_spec

    name = "ui-errors"
    manifest = make_cluster_spec(name, n_workers=0)
    manifest["metadata"]["namespace"] = namespace
    kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    state = {"fail_list": False}

    def clusters_route(route):
        if route.request.method == "GET" and state["fail_list"]:
            route.fulfill(status=503, content_type="application/json",
                          body='{"message": "Kubernetes API unavailable: connection refused"}')
        elif route.request.method == "DELETE":
            route.fulfill(status=403, content_type="application/json",
                          body='{"message": "daskclusters is forbidden for this user"}')
        else:
            route.continue_()

    page.route("**/dask-k8s/clusters**", clusters_route)
    page.route_web_socket("**/dask-k8s/stream", lambda ws: ws.close())  # no live updates at all
    page.set_default_timeout(30000)
    page.goto(f"{lab_server['url']}/lab?token={lab_server['token']}&reset")
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=60000)
    open_sidebar(page)
    try:
        item = card(page, name)
        # Without the stream the list still arrives by polling, and says it is not live.
        expect(item).to_be_visible(timeout=20000)
        expect(page.get_by_test_id("live")).to_have_attribute("data-live", "false")
        expect(page.get_by_text("Reconnecting to live updates…")).to_be_visible()
        # A refused delete: the reason in a notification, the card stays.
        item.get_by_test_id("delete").click()
        page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
        expect(item.get_by_test_id("action-error")).to_contain_text(
            f"Could not delete {name}: daskclusters is forbidden for this user"
        )
        expect(item).to_be_visible()
        shot("delete-refused")
        # The API failing: the list shows the server's message.
        state["fail_list"] = True
        expect(page.get_by_test_id("list-error")).to_contain_text(
            "Kubernetes API unavailable: connection refused", timeout=20000
        )
        shot("list-error")
        item.get_by_test_id("dismiss-error").click()
        expect(item.get_by_test_id("action-error")).to_have_count(0)
    finally:
        delete_cluster_now(name)


def test_stale_list_warning_comes_and_goes(page, lab_server, shot):
    """The server says its watch of Kubernetes keeps failing (a ``health`` message on the real
    stream, which the server's own tests produce from failing watches): the sidebar warns that
    the list may be out of date, and stops when the server says it recovered."""
    import json

    from conftest import open_sidebar

    sockets = []

    def through_the_real_server(ws):
        ws.connect_to_server()  # messages flow both ways as they are
        sockets.append(ws)

    page.route_web_socket("**/dask-k8s/stream", through_the_real_server)
    page.set_default_timeout(30000)
    page.goto(f"{lab_server['url']}/lab?token={lab_server['token']}&reset")
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=60000)
    open_sidebar(page)
    expect(page.get_by_test_id("live")).to_have_attribute("data-live", "true", timeout=20000)
    expect(page.get_by_test_id("list-stale")).to_have_count(0)
    reason = "cannot watch Kubernetes (DaskCluster in dk8s-ui: connection refused)"
    sockets[-1].send(json.dumps({"type": "health", "stale": reason}))
    expect(page.get_by_test_id("list-stale")).to_contain_text(f"may be out of date: the server {reason}")
    shot("stale-warning")
    sockets[-1].send(json.dumps({"type": "health", "stale": None}))
    expect(page.get_by_test_id("list-stale")).to_have_count(0)
