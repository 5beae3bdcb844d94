"""TLS for the simulated clusters' Kubernetes API: an in-memory CA and the server certificate it signs.

Real EKS endpoints are HTTPS and DescribeCluster's ``certificateAuthority.data`` is the base64 PEM of the CA
that signed them; kubectl and the official clients verify the server against it (and client-go sends a bearer
token over TLS only). Every ``Sandbox`` generates its own CA at creation; the server issues itself a certificate
for the names clients reach it by (``127.0.0.1``, ``localhost``, the advertise host). All clusters of a sandbox
share its one CA, since they share one port. Keys are EC P-256: a few milliseconds to generate, where RSA 2048
takes tens (a test session creates hundreds of sandboxes).

Nothing is written to disk except for the moment ``ssl.SSLContext.load_cert_chain`` needs files: a private
temporary directory (0700, files 0600), removed as soon as the context has loaded them.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import shutil
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Certificates are valid from a day before creation (client clocks drift) for this long.
CA_VALIDITY = timedelta(days=3650)
SERVER_VALIDITY = timedelta(days=365)
#: Names every server certificate covers, whatever the bind and advertise addresses.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Wildcard bind addresses are not names a client can reach: never put in a certificate.
_WILDCARD_HOSTS = {"", "0.0.0.0", "::"}


@dataclass(frozen=True)
class CertificateAuthority:
    """The CA of a sandbox's clusters: DescribeCluster reports it, the server's certificate chains to it."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def generate(cls, common_name: str = "eks-sandbox cluster CA") -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    @property
    def pem(self) -> bytes:
        """The CA certificate, PEM-encoded."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def data(self) -> str:
        """``certificateAuthority.data`` of DescribeCluster (and a kubeconfig's ``certificate-authority-data``)."""
        return base64.b64encode(self.pem).decode()

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts this CA only (hostname checked), as kubectl verifies the server."""
        return ssl.create_default_context(cadata=self.pem.decode())

    def issue_server_certificate(self, hosts: Iterable[str]) -> ServerCertificate:
        """A serverAuth certificate for ``hosts`` (IP addresses and DNS names) and the loopback names."""
        names = server_hosts(hosts)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        alternative_names: list[x509.GeneralName] = []
        for host in names:
            try:
                alternative_names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                alternative_names.append(x509.DNSName(host))
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + SERVER_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return ServerCertificate(key, certificate, self.certificate, names)


@dataclass(frozen=True)
class ServerCertificate:
    """The certificate the sandbox server presents on TLS connections, with its key and issuing CA."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    issuer: x509.Certificate
    hosts: tuple[str, ...]

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting this certificate (and the CA, as kube-apiserver serves its chain)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])  # no HTTP/2: Go clients fall back to HTTP/1.1 as agreed
        chain = self.certificate.public_bytes(serialization.Encoding.PEM) + self.issuer.public_bytes(
            serialization.Encoding.PEM
        )
        key = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # load_cert_chain reads files only: write them where only we can read them, and remove them at once.
        directory = Path(tempfile.mkdtemp(prefix="eks-sandbox-tls-"))  # created 0700
        try:
            cert_path, key_path = directory / "server.crt", directory / "server.key"
            for path, content in ((cert_path, chain), (key_path, key)):
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as file:
                    file.write(content)
            context.load_cert_chain(cert_path, key_path)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return context


def server_hosts(hosts: Iterable[str]) -> tuple[str, ...]:
    """The loopback names plus ``hosts`` (wildcard bind addresses left out), each once, in order."""
    names: dict[str, None] = dict.fromkeys(LOOPBACK_HOSTS)
    for host in hosts:
        host = host.strip("[]").lower()  # an IPv6 URL host comes bracketed
        if host not in _WILDCARD_HOSTS:
            names.setdefault(host)
    return tuple(names)
