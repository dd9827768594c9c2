"""Create against quota in the browser: in a namespace with a ResourceQuota of 2 CPU the form shows
used/hard and what the cluster would add; 4 workers x 1 CPU are refused with the numbers and
nothing is created."""

from __future__ import annotations

import os
import textwrap

import pytest
from playwright.sync_api import expect

from conftest import fill_form, kubectl
from test_permissions import own_lab

NAMESPACE = os.environ.get("DK8S_UI_QUOTA_NAMESPACE", "dk8s-ui-quota")
QUOTA = textwrap.dedent("""
    apiVersion: v1
    kind: ResourceQuota
    metadata: {name: compute}
    spec:
      hard: {requests.cpu: "2", pods: "10"}
""")


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """JupyterLab managing a namespace of its own with the quota (overrides the session's server)."""
    if kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0:
        kubectl("create", "namespace", NAMESPACE)
    kubectl("apply", "-n", NAMESPACE, "-f", "-", input=QUOTA)
    with own_lab(tmp_path_factory.mktemp("lab-quota"), NAMESPACE) as server:
        yield server
    kubectl("delete", "daskclusters", "--all", "-n", NAMESPACE, "--wait=false", check=False)


def test_form_shows_quota_and_refuses_what_does_not_fit(lab, shot):
    lab.get_by_test_id("new-cluster").click()
    dialog = lab.locator(".jp-Dialog")
    fill_form(dialog, name="too-big", workers="4")
    dialog.locator('input[name="cpuRequest"]').fill("1")
    cpu = dialog.get_by_test_id("quota-requests.cpu")
    expect(cpu).to_contain_text("requests.cpu", timeout=20000)
    expect(cpu.locator("td")).to_have_text(["requests.cpu", "0", "+5", "2"])  # scheduler + 4 workers
    expect(dialog.get_by_test_id("quota-refusal")).to_contain_text("requests.cpu would be 5 of 2")
    dialog.get_by_test_id("quota-refusal").scroll_into_view_if_needed()
    shot("form-over-quota")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.locator(".dk8s-Error, .dk8s-FieldError").first).to_contain_text(
        "does not fit the quota", timeout=15000)
    shot("create-refused")
    dialog.get_by_role("button", name="Cancel").click()
    assert kubectl("get", "daskclusters", "-n", NAMESPACE, "-o", "name").stdout.strip() == ""
