"""``dask kubernetes ...`` commands, registered through the ``dask_cli`` entry point group."""

from __future__ import annotations

import json
import sys
import time

import click
import yaml


def _parse_env(pairs: tuple[str, ...]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--env")
        env[key] = value
    return env


@click.group(name="kubernetes")
def main() -> None:
    """Dask clusters on Kubernetes (dask-k8s-lab)."""


@main.group()
def gen() -> None:
    """Generate Kubernetes manifests."""


@gen.command(name="cluster")
@click.option("--name", required=True, help="Name of the DaskCluster")
@click.option("--image", default=None, help="Container image of scheduler and workers")
@click.option("--n-workers", type=int, default=3, show_default=True, help="Workers in the default group")
@click.option("--resources", default=None, help='JSON, e.g. \'{"limits": {"memory": "2Gi"}}\'')
@click.option("--env", "-e", multiple=True, help="KEY=VALUE, repeatable")
@click.option("--worker-command", default=None, help="Worker command (default: dask worker)")
@click.option("--scheduler-service-type", default=None, help="ClusterIP, NodePort or LoadBalancer")
@click.option("--idle-timeout", type=int, default=None, help="Seconds of idleness before deletion")
@click.option("--jupyter", is_flag=True, help="Run Jupyter on the scheduler")
def gen_cluster(
    name: str,
    image: str | None,
    n_workers: int,
    resources: str | None,
    env: tuple[str, ...],
    worker_command: str | None,
    scheduler_service_type: str | None,
    idle_timeout: int | None,
    jupyter: bool,
) -> None:
    """Print a DaskCluster manifest (pipe it to `kubectl apply -f -`)."""
    from .specs import make_cluster_spec
    from .validation import ValidationError

    try:
        parsed = json.loads(resources) if resources else None
    except json.JSONDecodeError as e:
        raise click.BadParameter(f"not JSON: {e}", param_hint="--resources") from None
    try:
        spec = make_cluster_spec(
            name=name,
            image=image,
            n_workers=n_workers,
            resources=parsed,
            env=_parse_env(env) or None,
            worker_command=worker_command,
            scheduler_service_type=scheduler_service_type,
            idle_timeout=idle_timeout,
            jupyter=jupyter,
        )
    except ValidationError as e:
        raise click.UsageError(str(e)) from None
    click.echo(yaml.safe_dump(spec, sort_keys=False), nl=False)


@main.command(name="port-forward")
@click.argument("cluster")
@click.option("--namespace", "-n", default=None, help="Namespace of the cluster")
@click.option("--dashboard-port", type=int, default=None, help="Local port for the dashboard")
def port_forward(cluster: str, namespace: str | None, dashboard_port: int | None) -> None:
    """Forward the scheduler and dashboard of CLUSTER to localhost until Ctrl-C."""
    from .kubecluster import KubeCluster

    kube = KubeCluster.from_name(
        cluster,
        namespace=namespace,
        shutdown_on_close=False,
        port_forward_cluster_ip=True,
        scheduler_forward_port=dashboard_port,
        quiet=True,
    )
    try:
        click.echo(f"Scheduler: {kube.scheduler_address}")
        click.echo(f"Dashboard: {kube.dashboard_link}")
        if kube.jupyter:
            click.echo(f"Jupyter:   {kube.jupyter_link}")
        click.echo("Press Ctrl-C to stop.")
        sys.stdout.flush()
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        kube.close()

