"""`dask-k8s-lab local-k8s up|down|status|env|restart|node ...`."""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import click

from . import nodes
from .cluster import LocalCluster, pull as pull_image

state_dir_option = click.option("--state-dir", type=click.Path(path_type=Path), default=None,
                                help="Folder for this cluster's state (default: $LOCAL_K8S_STATE_DIR or /tmp/dask-k8s-lab-local-k8s).")


@click.group("local-k8s")
def local_k8s() -> None:
    """A real single-node Kubernetes on this machine, without containers (needs root)."""


@contextlib.contextmanager
def _usage_errors() -> Iterator[None]:
    """Bad input (a ValueError naming it) is a usage error, without a traceback."""
    try:
        yield
    except ValueError as e:
        raise click.UsageError(str(e)) from None


def _taints(values: tuple[str, ...]) -> dict[str, list[dict[str, str]]]:
    taints: dict[str, list[dict[str, str]]] = {}
    for value in values:
        name, sep, taint = value.partition("=")
        if not sep:
            raise click.BadParameter(f"{value!r} is not NODE=key[=value]:Effect", param_hint="--taint")
        try:
            taints.setdefault(name, []).append(nodes.parse_taint(taint))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--taint") from None
    return taints


@local_k8s.command()
@state_dir_option
@click.option("--bare", is_flag=True, help="Do not install the Dask operator.")
@click.option("--nodes", "node_count", type=click.IntRange(1, nodes.MAX_NODES), default=1, show_default=True,
              help="How many nodes (each its own agent; zones local-a, local-b, local-c in turn).")
@click.option("--taint", "taints", multiple=True, metavar="NODE=KEY[=VALUE]:EFFECT",
              help="Register NODE with this taint (repeatable), e.g. local-node-3=dedicated=gpu:NoSchedule.")
def up(state_dir: Path | None, bare: bool, node_count: int, taints: tuple[str, ...]) -> None:
    """Start everything and wait until the nodes are Ready; prints the kubeconfig path."""
    cluster = LocalCluster(state_dir)
    with _usage_errors():
        cluster.up(install_operator=not bare, node_count=node_count, taints=_taints(taints))
    click.echo(cluster.layout.kubeconfig)


@local_k8s.command()
@state_dir_option
def down(state_dir: Path | None) -> None:
    """Stop everything and remove every process, namespace, link, route and file it made."""
    LocalCluster(state_dir).down()


@local_k8s.command()
@state_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable status.")
def status(state_dir: Path | None, as_json: bool) -> None:
    """Whether the cluster is up; exits 1 when it is not."""
    info = LocalCluster(state_dir).status()
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        for name, running in info["components"].items():
            click.echo(f"{name:26} {'running' if running else 'stopped'}")
        click.echo(f"{'api':26} {'ready' if info['api_ready'] else 'not ready'}")
        click.echo(f"{'node':26} {'Ready' if info['node_ready'] else 'not ready'}")
        click.echo(f"{'kubeconfig':26} {info['kubeconfig']}")
    raise SystemExit(0 if info["node_ready"] else 1)


@local_k8s.command()
@state_dir_option
def env(state_dir: Path | None) -> None:
    """Print `export` lines: use as  eval "$(dask-k8s-lab local-k8s env)"."""
    for key, value in LocalCluster(state_dir).env().items():
        click.echo(f"export {key}={shlex.quote(value)}")


@local_k8s.command()
@click.argument("images", nargs=-1, required=True)
def pull(images: tuple[str, ...]) -> None:
    """Pull images into this machine's image store (Dask images become cached environments)."""
    for image in images:
        click.echo(f"{image}: {pull_image(image):.1f} s")


@local_k8s.group("node")
def node_group() -> None:
    """Add, stop, start and remove nodes of the running cluster."""


@node_group.command("list")
@state_dir_option
def node_list(state_dir: Path | None) -> None:
    """The nodes, their zones and taints, and whether their agents run."""
    cluster = LocalCluster(state_dir)
    running = cluster.running_components()
    for node in cluster.nodes():
        taints = ",".join(f"{t['key']}={t.get('value', '')}:{t['effect']}" for t in node.taints) or "-"
        state = "running" if running.get(node.component) else "stopped"
        click.echo(f"{node.name:20} {node.zone:10} {state:8} {taints}")


@node_group.command("add")
@state_dir_option
@click.argument("name", required=False)
@click.option("--zone", default=None, help="topology.kubernetes.io/zone (default: local-a/b/c in turn)")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="A node label (repeatable).")
@click.option("--taint", "taints", multiple=True, metavar="KEY[=VALUE]:EFFECT", help="A taint (repeatable).")
def node_add(state_dir: Path | None, name: str | None, zone: str | None, labels: tuple[str, ...],
             taints: tuple[str, ...]) -> None:
    """Register one more node with its own agent; waits until it is Ready."""
    with _usage_errors():
        node = LocalCluster(state_dir).add_node(
            name, zone=zone, labels=dict(nodes.parse_label(v) for v in labels),
            taints=[nodes.parse_taint(t) for t in taints])
    click.echo(node.name)


@node_group.command("stop")
@state_dir_option
@click.argument("name")
def node_stop(state_dir: Path | None, name: str) -> None:
    """Take the node's machine away: its agent and pods stop, the API server is not told."""
    with _usage_errors():
        for item in LocalCluster(state_dir).stop_node(name):
            click.echo(f"stopped {item}")


@node_group.command("start")
@state_dir_option
@click.argument("name")
def node_start(state_dir: Path | None, name: str) -> None:
    """Start a stopped node's agent again."""
    with _usage_errors():
        LocalCluster(state_dir).start_node(name)


@node_group.command("restart")
@state_dir_option
@click.argument("name")
def node_restart(state_dir: Path | None, name: str) -> None:
    """Kill the node's agent (SIGKILL) and start it again; running pods are adopted, not restarted."""
    with _usage_errors():
        LocalCluster(state_dir).restart_agent(name)


@node_group.command("remove")
@state_dir_option
@click.argument("name")
def node_remove(state_dir: Path | None, name: str) -> None:
    """Stop the node and delete it from the cluster."""
    with _usage_errors():
        LocalCluster(state_dir).remove_node(name)


@local_k8s.group("restart")
def restart_group() -> None:
    """Restart one control-plane component of the running cluster."""


@restart_group.command("apiserver")
@state_dir_option
@click.option("--timeout", type=click.FloatRange(1), default=60, show_default=True,
              help="Seconds to wait for /readyz after the start.")
def restart_apiserver(state_dir: Path | None, timeout: float) -> None:
    """Stop the kube-apiserver (SIGTERM) and start it again with the same arguments; prints the downtime."""
    with _usage_errors():
        seconds = LocalCluster(state_dir).restart_apiserver(timeout)
    click.echo(f"kube-apiserver ready again after {seconds:.1f} s")
