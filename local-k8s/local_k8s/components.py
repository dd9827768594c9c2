"""The command lines of the control plane's processes, from the state folder's layout (pure)."""

from __future__ import annotations

import sys

from . import binaries, nodes, settings

# The controller-manager's default set ("*"), as on any cluster, less the three controllers that
# only act through a cloud provider's API: cloud-node-lifecycle (asks the cloud whether a NotReady
# node's machine still exists), service-lb (provisions cloud load balancers for LoadBalancer
# Services) and node-route (programs cloud routes for pod CIDRs). There is no cloud here: the
# node agent gives LoadBalancer Services their ClusterIP as ingress, and the pod bridge needs no
# routes. Without --cloud-provider they would only log that they are skipped; naming them says why.
CLOUD_CONTROLLERS = ["cloud-node-lifecycle-controller", "service-lb-controller", "node-route-controller"]
CONTROLLERS = ["*", *(f"-{c}" for c in CLOUD_CONTROLLERS)]


def etcd_client_url(layout: settings.Layout) -> str:
    return f"http://127.0.0.1:{layout.ports.etcd_client}"


def etcd(layout: settings.Layout) -> list[str]:
    p = layout.ports
    client = etcd_client_url(layout)
    return [
        str(binaries.binary("etcd")), "--name", "local", "--data-dir", str(layout.etcd_data),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", f"http://127.0.0.1:{p.etcd_peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{p.etcd_peer}",
        "--initial-cluster", f"local=http://127.0.0.1:{p.etcd_peer}",
        "--unsafe-no-fsync", "--log-level", "warn",
    ]


def apiserver(layout: settings.Layout) -> list[str]:
    pki_dir, p = layout.pki, layout.ports
    return [
        str(binaries.binary("kube-apiserver")),
        f"--etcd-servers={etcd_client_url(layout)}",
        f"--bind-address={settings.NODE_IP}", f"--secure-port={p.apiserver}",
        f"--advertise-address={settings.NODE_IP}",
        f"--tls-cert-file={pki_dir / 'apiserver.crt'}", f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
        f"--client-ca-file={pki_dir / 'ca.crt'}",
        f"--token-auth-file={pki_dir / 'tokens.csv'}",
        "--authorization-mode=Node,RBAC",
        f"--service-cluster-ip-range={settings.SERVICE_CIDR}",
        f"--service-account-issuer=https://kubernetes.default.svc.{settings.CLUSTER_DOMAIN}",
        f"--service-account-key-file={pki_dir / 'sa.pub'}",
        f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
        "--allow-privileged=true",
        "--kubelet-preferred-address-types=InternalIP",
        # Pods tolerate a NotReady/unreachable node this long before the node lifecycle
        # controller evicts them (300 s on a default cluster; short here, see settings).
        f"--default-not-ready-toleration-seconds={settings.NODE_LOSS_TOLERATION_SECONDS}",
        f"--default-unreachable-toleration-seconds={settings.NODE_LOSS_TOLERATION_SECONDS}",
        "--enable-priority-and-fairness=false",
        # On SIGTERM, end open watches within this grace: without it they hold the HTTP server's
        # shutdown (up to a minute) and a restart waits for them with the API already gone.
        "--shutdown-watch-termination-grace-period=2s",
        "--profiling=false", "--v=1",
    ]


def controller_manager(layout: settings.Layout) -> list[str]:
    pki_dir = layout.pki
    return [
        str(binaries.binary("kube-controller-manager")),
        f"--kubeconfig={layout.kubeconfig}",
        "--leader-elect=false", "--secure-port=0",
        f"--service-account-private-key-file={pki_dir / 'sa.key'}",
        f"--root-ca-file={pki_dir / 'ca.crt'}",
        # CertificateSigningRequests are signed with the cluster CA, as kubeadm sets it up.
        f"--cluster-signing-cert-file={pki_dir / 'ca.crt'}",
        f"--cluster-signing-key-file={pki_dir / 'ca.key'}",
        f"--controllers={','.join(CONTROLLERS)}",
        f"--node-monitor-grace-period={settings.NODE_MONITOR_GRACE_SECONDS}s",
        "--concurrent-gc-syncs=5", "--v=1",
    ]


def agent(layout: settings.Layout, node: nodes.NodeConfig) -> list[str]:
    return [sys.executable, "-m", "local_k8s.agent", "--state-dir", str(layout.root), "--node", node.name]
