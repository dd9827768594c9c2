"""Certificates, keys and tokens of one local cluster, and its kubeconfig."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from . import settings

ADMIN_USER = "local-admin"


def _name(common_name: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _write_key(path: Path, key) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(ca_key, ca_cert, subject: x509.Name, key, sans: list[x509.GeneralName], *, server: bool):
    now = dt.datetime.now(dt.timezone.utc)
    usage = x509.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def generate(pki_dir: Path) -> str:
    """Write the cluster's CA, serving certificates, service-account keys and admin token.

    Returns the admin bearer token.
    """
    pki_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("dask-k8s-lab local CA"))
        .issuer_name(_name("dask-k8s-lab local CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pki_dir / "ca.key", ca_key)
    _write_cert(pki_dir / "ca.crt", ca_cert)

    dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           f"kubernetes.default.svc.{settings.CLUSTER_DOMAIN}", settings.NODE_NAME]
    ips = ["127.0.0.1", settings.NODE_IP, settings.KUBERNETES_SERVICE_IP]
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    for name in ("apiserver", "kubelet"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(ca_key, ca_cert, _name(name), key, sans, server=True)
        _write_key(pki_dir / f"{name}.key", key)
        _write_cert(pki_dir / f"{name}.crt", cert)

    # Service-account tokens are signed with RSA (the API server's default algorithm).
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(pki_dir / "sa.key", sa_key)
    (pki_dir / "sa.pub").write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    token = secrets.token_hex(24)
    (pki_dir / "tokens.csv").write_text(f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
    (pki_dir / "tokens.csv").chmod(0o600)
    return token


def write_kubeconfig(path: Path, server: str, ca_file: Path, token: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local-k8s", "cluster": {
            "server": server,
            "certificate-authority-data": _b64(ca_file.read_bytes()),
        }}],
        "users": [{"name": ADMIN_USER, "user": {"token": token}}],
        "contexts": [{"name": "local-k8s", "context": {"cluster": "local-k8s", "user": ADMIN_USER,
                                                        "namespace": "default"}}],
        "current-context": "local-k8s",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
