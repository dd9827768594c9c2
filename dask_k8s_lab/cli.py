"""The `dask-k8s-lab` command."""

from __future__ import annotations

import contextlib

import click


@click.group()
@click.version_option(package_name="dask-k8s-lab")
def main() -> None:
    """Dask on Kubernetes from JupyterLab."""


# The local Kubernetes is a development tool of its own distribution (local-k8s/); its commands
# join this one when it is installed, as ./dev does.
with contextlib.suppress(ImportError):
    from local_k8s.cli import local_k8s

    main.add_command(local_k8s)

if __name__ == "__main__":
    main()
