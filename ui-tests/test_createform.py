"""The create form keeps each field's text where it was typed, however fast the typing and
whenever the dialog's own deferred focus lands (CI once created `bob-cluster0`: the workers'
text typed into the name field)."""

from __future__ import annotations

from playwright.sync_api import expect

from conftest import NAMESPACE, kubectl

# Holds the page's idle callbacks until released. JupyterLab's dialog focuses its
# `focusNodeSelector` once its React body has rendered, which it learns from an idle callback:
# under load that comes late, after the user may have moved on to another field.
HOLD_IDLE = """() => {
  const original = window.requestIdleCallback;
  const held = [];
  window.requestIdleCallback = callback => held.push(callback);
  window.dk8sIdle = {
    held: () => held.length,
    release: async () => {
      window.requestIdleCallback = original;
      for (const callback of held.splice(0)) callback({ didTimeout: false, timeRemaining: () => 0 });
      // a macrotask: the promise reactions of the callbacks (the dialog's focus) have run
      await new Promise(resolve => setTimeout(resolve, 0));
    }
  };
}"""


def test_fast_typing_and_a_late_dialog_focus_keep_each_field_its_text(lab, shot):
    lab.evaluate(HOLD_IDLE)
    try:
        lab.get_by_test_id("new-cluster").click()
        dialog = lab.locator(".jp-Dialog")
        name = dialog.locator('input[name="name"]')
        workers = dialog.locator('input[name="workers"]')
        # The name field takes the focus when it appears, not when the dialog gets round to it.
        expect(name).to_be_focused()
        assert lab.evaluate("window.dk8sIdle.held()") > 0, "the dialog no longer waits for an idle callback"
        # Key by key without delay: each key must render before the next reads the field.
        name.press_sequentially("race-name")
        workers.press_sequentially("12")
        expect(name).to_have_value("race-name")
        expect(workers).to_have_value("212")  # typed after the default 2
        workers.fill("")
        expect(workers).to_be_focused()
        # Now the dialog's deferred focus: it must leave the focus in the workers field.
        lab.evaluate("window.dk8sIdle.release()")
        lab.keyboard.type("3")
        expect(name).to_have_value("race-name")
        expect(workers).to_have_value("3")
        expect(workers).to_be_focused()
        shot("typed")
    finally:
        lab.evaluate("window.dk8sIdle && window.dk8sIdle.release()")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert kubectl("get", "daskcluster", "race-name", "-n", NAMESPACE, check=False).returncode != 0
