"""Kubernetes connection settings: ``KubeConfig``, ``InCluster``, ``KubeAuth``.

Thin wrappers over kr8s configuration. Each one knows how to build a ``kr8s.asyncio.Api``;
``ClusterAuth.load_first`` tries a list in order and returns the first that authenticates.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import kr8s.asyncio

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
_NO_KUBECONFIG = "/nonexistent/dask-k8s-lab/kubeconfig"
_NO_SERVICE_ACCOUNT = "/nonexistent/dask-k8s-lab/serviceaccount"


class ClusterAuth:
    """A way of configuring the connection to a Kubernetes API server."""

    async def load(self, namespace: str | None = None) -> kr8s.asyncio.Api:
        """Return an authenticated kr8s API client for this configuration."""
        raise NotImplementedError

    @staticmethod
    async def load_first(
        auth: ClusterAuth | Sequence[ClusterAuth] | None = None, namespace: str | None = None
    ) -> kr8s.asyncio.Api:
        """Load the first configuration that works; default order ``[InCluster(), KubeConfig()]``."""
        if auth is None:
            auth = [InCluster(), KubeConfig()]
        elif isinstance(auth, ClusterAuth):
            auth = [auth]
        errors = []
        for method in auth:
            try:
                return await method.load(namespace=namespace)
            except Exception as e:  # try the next method, report all if none works
                errors.append(f"{type(method).__name__}: {e}")
        raise RuntimeError(
            "Could not configure a Kubernetes connection. Tried " + "; ".join(errors)
            + ". Check KUBECONFIG / ~/.kube/config, or the pod's service account."
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if v is not None and k != "password")
        return f"{type(self).__name__}({fields})"


class InCluster(ClusterAuth):
    """Use the service account mounted into a pod."""

    def __init__(self, serviceaccount: str = SERVICE_ACCOUNT_DIR):
        self.serviceaccount = serviceaccount

    async def load(self, namespace: str | None = None) -> kr8s.asyncio.Api:
        if not os.path.exists(os.path.join(self.serviceaccount, "token")):
            raise FileNotFoundError(f"no service account token in {self.serviceaccount} (not running in a pod?)")
        if not os.environ.get("KUBERNETES_SERVICE_HOST"):
            raise RuntimeError("KUBERNETES_SERVICE_HOST is not set (not running in a pod?)")
        # A kubeconfig path that does not exist makes kr8s skip kubeconfig discovery.
        return await kr8s.asyncio.api(
            serviceaccount=self.serviceaccount, kubeconfig=_NO_KUBECONFIG, namespace=namespace
        )


class KubeConfig(ClusterAuth):
    """Use a kubeconfig file (default ``$KUBECONFIG`` or ``~/.kube/config``) and context."""

    def __init__(self, config_file: str | None = None, context: str | None = None, persist_config: bool = True):
        self.config_file = config_file
        self.context = context
        self.persist_config = persist_config  # accepted for compatibility; kr8s never writes back

    async def load(self, namespace: str | None = None) -> kr8s.asyncio.Api:
        path = self.config_file or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        if not any(os.path.exists(os.path.expanduser(p)) for p in path.split(os.pathsep)):
            raise FileNotFoundError(f"kubeconfig {path!r} does not exist")
        return await kr8s.asyncio.api(
            kubeconfig=path, context=self.context, namespace=namespace, serviceaccount=_NO_SERVICE_ACCOUNT
        )


class KubeAuth(ClusterAuth):
    """Configure the connection explicitly: server URL, certificates and/or a bearer token."""

    def __init__(
        self,
        host: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        verify_ssl: bool = True,
        ssl_ca_cert: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        assert_hostname: bool | None = None,
        proxy: str | None = None,
        debug: bool = False,
        **kwargs: Any,
    ):
        if username or password:
            raise ValueError(
                "username/password authentication is not supported (Kubernetes removed basic auth "
                "in 1.19). Pass token=... or cert_file=/key_file=... instead."
            )
        if kwargs:
            raise TypeError(f"KubeAuth got unknown arguments {sorted(kwargs)}")
        self.host = host
        self.token = token
        self.verify_ssl = verify_ssl
        self.ssl_ca_cert = ssl_ca_cert
        self.cert_file = cert_file
        self.key_file = key_file
        self.assert_hostname = assert_hostname
        self.proxy = proxy
        self.debug = debug

    def kubeconfig(self) -> dict[str, Any]:
        """The equivalent in-memory kubeconfig, which kr8s loads."""
        cluster: dict[str, Any] = {"server": self.host}
        if not self.verify_ssl:
            cluster["insecure-skip-tls-verify"] = True
        if self.ssl_ca_cert:
            cluster["certificate-authority"] = self.ssl_ca_cert
        if self.proxy:
            cluster["proxy-url"] = self.proxy
        user: dict[str, Any] = {}
        if self.token:
            user["token"] = self.token
        if self.cert_file:
            user["client-certificate"] = self.cert_file
        if self.key_file:
            user["client-key"] = self.key_file
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kubeauth", "cluster": cluster}],
            "users": [{"name": "kubeauth", "user": user}],
            "contexts": [{"name": "kubeauth", "context": {"cluster": "kubeauth", "user": "kubeauth"}}],
            "current-context": "kubeauth",
        }

    async def load(self, namespace: str | None = None) -> kr8s.asyncio.Api:
        return await kr8s.asyncio.api(kubeconfig=self.kubeconfig(), namespace=namespace)


async def resolve_api(
    auth: ClusterAuth | Sequence[ClusterAuth] | None, namespace: str | None = None
) -> kr8s.asyncio.Api:
    """The kr8s client for ``auth``; with no ``auth``, kr8s's own default discovery."""
    if auth is None:
        return await kr8s.asyncio.api(namespace=namespace)
    return await ClusterAuth.load_first(auth, namespace=namespace)


def current_namespace(api: kr8s.asyncio.Api, serviceaccount: str = SERVICE_ACCOUNT_DIR) -> str:
    """The namespace to use when none was given.

    kr8s reports ``"default"`` for service-account credentials; inside a pod the right answer is
    the pod's own namespace, which the service account mount records.
    """
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    ns_file = os.path.join(serviceaccount, "namespace")
    if host and os.path.exists(ns_file):
        formatted = f"[{host}]" if ":" in host else host
        if api.auth.server.rstrip("/") == f"https://{formatted}:{port}":
            with open(ns_file) as f:
                namespace = f.read().strip()
            if namespace:
                return namespace
    return api.namespace
