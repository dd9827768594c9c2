"""`dask-k8s-lab local-k8s up|down|status|env`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from .cluster import LocalCluster

state_dir_option = click.option("--state-dir", type=click.Path(path_type=Path), default=None,
                                help="Folder for this cluster's state (default: $LOCAL_K8S_STATE_DIR or /tmp/dask-k8s-lab-local-k8s).")


@click.group("local-k8s")
def local_k8s() -> None:
    """A real single-node Kubernetes on this machine, without containers (needs root)."""


@local_k8s.command()
@state_dir_option
@click.option("--bare", is_flag=True, help="Do not install the Dask operator.")
def up(state_dir: Path | None, bare: bool) -> None:
    """Start everything and wait until the node is Ready; prints the kubeconfig path."""
    cluster = LocalCluster(state_dir)
    cluster.up(install_operator=not bare)
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
