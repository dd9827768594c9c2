"""The control plane's command lines (pure): the default controller set less the cloud ones, and
node-loss timing taken from settings."""

from __future__ import annotations

from pathlib import Path

from local_k8s import components, nodes, settings


def _flag(cmd: list[str], name: str) -> str:
    return next(arg.split("=", 1)[1] for arg in cmd if arg.startswith(f"--{name}="))


def test_controller_manager_runs_the_default_set_less_the_cloud_controllers(tmp_path: Path) -> None:
    controllers = _flag(components.controller_manager(settings.Layout(tmp_path)), "controllers").split(",")
    assert controllers[0] == "*"
    assert {c.lstrip("-") for c in controllers[1:]} == set(components.CLOUD_CONTROLLERS)
    assert not any("resourcequota" in c for c in controllers)  # quota is enforced here


def test_apiserver_and_etcd_agree_and_node_loss_is_short(tmp_path: Path) -> None:
    layout = settings.Layout(tmp_path)
    apiserver = components.apiserver(layout)
    assert _flag(apiserver, "etcd-servers") == components.etcd_client_url(layout)
    assert components.etcd_client_url(layout) in components.etcd(layout)
    assert _flag(apiserver, "default-not-ready-toleration-seconds") == str(settings.NODE_LOSS_TOLERATION_SECONDS)


def test_agent_command_names_its_node(tmp_path: Path) -> None:
    node = nodes.plan(2, None)[1]
    cmd = components.agent(settings.Layout(tmp_path), node)
    assert cmd[cmd.index("--node") + 1] == node.name and str(tmp_path) in cmd
