"""The `dask-k8s-lab` command."""

from __future__ import annotations

import click

from local_k8s.cli import local_k8s


@click.group()
@click.version_option(package_name="dask-k8s-lab")
def main() -> None:
    """Dask on Kubernetes from JupyterLab."""


main.add_command(local_k8s)

if __name__ == "__main__":
    main()
