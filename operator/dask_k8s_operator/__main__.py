"""``dask-k8s-operator``: run the operator (in-cluster, or from the current kubeconfig).

All arguments are passed to ``kopf run``. Without ``--namespace``/``-n`` or ``--all-namespaces``/
``-A`` it watches all namespaces. Examples::

    dask-k8s-operator                                   # all namespaces
    dask-k8s-operator --namespace my-ns                 # one namespace (Role-based RBAC)
    dask-k8s-operator --liveness=http://0.0.0.0:8080/healthz --verbose
    dask-k8s-operator --request-timeout=10 --watch-timeout=60   # bounds on Kubernetes calls (s)
"""

from __future__ import annotations

import os
import sys


def kopf_arguments(argv: list[str]) -> list[str]:
    scoped = any(
        arg in ("-A", "--all-namespaces", "-n") or arg.startswith(("--namespace", "-n="))
        for arg in argv
    )
    return ["run", "-m", "dask_k8s_operator", *([] if scoped else ["--all-namespaces"]), *argv]


def namespaces(argv: list[str]) -> list[str]:
    """The namespaces named by ``--namespace X``, ``--namespace=X``, ``-n X`` or ``-n=X``."""
    found = []
    for i, arg in enumerate(argv):
        if arg in ("--namespace", "-n") and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith(("--namespace=", "-n=")):
            found.append(arg.split("=", 1)[1])
    return found


# our own options (not kopf's), each also settable as an environment variable
OPTIONS = {
    "--request-timeout": "DASK_K8S_OPERATOR_REQUEST_TIMEOUT",
    "--watch-timeout": "DASK_K8S_OPERATOR_WATCH_TIMEOUT",
}


def own_options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """Split ``--request-timeout 5``/``--request-timeout=5`` (as environment variables) from the
    arguments for kopf."""
    env, rest = {}, []
    args = iter(argv)
    for arg in args:
        flag, _, value = arg.partition("=")
        if flag in OPTIONS:
            value = value or next(args, "")
            try:
                float(value)
            except ValueError:
                raise SystemExit(f"{flag} takes a number of seconds, got {value!r}") from None
            env[OPTIONS[flag]] = value
        else:
            rest.append(arg)
    return env, rest


def main(argv: list[str] | None = None) -> None:
    import kopf.cli

    env, argv = own_options(list(sys.argv[1:] if argv is None else argv))
    os.environ.update(env)
    os.environ["DASK_K8S_OPERATOR_NAMESPACES"] = ",".join(namespaces(argv))
    args = kopf_arguments(argv)
    kopf.cli.main(args=args, prog_name="dask-k8s-operator")


if __name__ == "__main__":
    main()
