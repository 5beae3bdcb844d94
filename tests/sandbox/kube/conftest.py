"""Serve a simulated cluster's Kubernetes API over real HTTP, through the sandbox's own server and dispatcher.

One ``SandboxServer`` per test session; each test registers a fresh ``KubeCluster`` as
``sandbox.kube_clusters["test"]``, so clients (the typed and dynamic Python clients, kubectl) reach it at
``https://.../k8s/test`` through exactly the routing, path prefix, TLS, authentication and lock that
``eks-sandbox serve`` uses. Every client verifies the server against the sandbox's CA (what DescribeCluster
reports as ``certificateAuthority``) and sends an EKS token minted for the cluster, as against EKS. The cluster
is not an EKS cluster, so it has no access entries: the fixture lets the tests' plain credentials in as a
``system:masters`` user (``StaticAccess``), as a cluster's creator is let in.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

import pytest

from eks_sandbox.kube.auth import StaticAccess
from eks_sandbox.kube.cluster import KubeCluster
from eks_sandbox.server import SandboxServer
from eks_sandbox.world import Sandbox
from tests.helpers import PLAIN_CREDENTIALS_PRINCIPAL, eks_token

CLUSTER_ID = "test"
#: The Kubernetes user the tests' credentials are in the test cluster.
TEST_USER = "test-admin"


@dataclass
class KubeServer:
    """The test's cluster, the URL its API is served at (a kubeconfig's ``server``) and how to trust it."""

    cluster: KubeCluster
    url: str
    #: base64 PEM of the CA (DescribeCluster's ``certificateAuthority.data``, a kubeconfig's
    #: ``certificate-authority-data``), and the same CA as a file (the Python client's ``ssl_ca_cert``)
    ca_data: str
    ca_file: Path
    ssl_context: ssl.SSLContext
    #: an EKS token for this cluster, from the tests' plain credentials
    token: str

    def open(self, path: str, headers: dict[str, str] | None = None, token: str | None = "") -> HTTPResponse:
        """GET ``path`` of the cluster's API with urllib, verifying TLS, with the cluster's token (another
        ``token``, or none with ``token=None``)."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token or self.token}"
        return urllib.request.urlopen(urllib.request.Request(self.url + path, headers=sent), context=self.ssl_context)

    def kubectl_command(self, directory: Path) -> list[str]:
        """``kubectl`` with a kubeconfig for this cluster (its endpoint, CA and token) written in ``directory``."""
        kubeconfig = directory / "kubeconfig"
        kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {"name": "sim", "cluster": {"server": self.url, "certificate-authority-data": self.ca_data}}
                    ],
                    "users": [{"name": "runbook", "user": {"token": self.token}}],
                    "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "runbook"}}],
                    "current-context": "sim",
                }
            )
        )
        return ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(directory / "cache")]


@pytest.fixture(scope="session")
def kube_sandbox_server() -> Iterator[SandboxServer]:
    """The sandbox server the kube tests share; it holds no EKS clusters, only the test's KubeCluster."""
    with SandboxServer(Sandbox(), port=0) as server:
        yield server


@pytest.fixture(scope="session")
def kube_ca_file(kube_sandbox_server: SandboxServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared server's CA certificate (public: no key in it) as a PEM file."""
    path = tmp_path_factory.mktemp("kube-ca") / "ca.crt"
    path.write_bytes(kube_sandbox_server.sandbox.tls.pem)
    return path


@pytest.fixture
def kube(kube_sandbox_server: SandboxServer, kube_ca_file: Path) -> Iterator[KubeServer]:
    """A fresh 1.31 cluster with three Ready nodes, served over HTTPS."""
    sandbox = kube_sandbox_server.sandbox
    cluster = KubeCluster("test", "1.31", sandbox.clock)
    cluster.access = StaticAccess({PLAIN_CREDENTIALS_PRINCIPAL: (TEST_USER, ("system:masters",))})
    for index in range(3):
        add_worker(cluster, f"ip-10-0-1-{10 + index}.ec2.internal")
    with sandbox.lock:
        sandbox.kube_clusters[CLUSTER_ID] = cluster
    yield KubeServer(
        cluster,
        sandbox.kube_endpoint(CLUSTER_ID),
        sandbox.tls.data,
        kube_ca_file,
        sandbox.tls.client_context(),
        eks_token(cluster.name, kube_sandbox_server.url),
    )
    with sandbox.lock:
        sandbox.kube_clusters.pop(CLUSTER_ID, None)


def add_worker(cluster: KubeCluster, name: str, kubelet_version: str = "v1.31.7-eks-4cb2c3f") -> dict:
    """A managed-node-group worker, as the EKS side registers one."""
    return cluster.add_node(
        name,
        labels={"eks.amazonaws.com/nodegroup": "workers", "node.kubernetes.io/instance-type": "m5.large"},
        kubelet_version=kubelet_version,
        capacity={"cpu": "2", "memory": "7935036Ki", "pods": "29"},
        provider_id=f"aws:///us-east-1a/i-{abs(hash(name)) % 10**17:017x}",
    )


@pytest.fixture
def api_client(kube: KubeServer) -> Iterator[Any]:
    """The official typed client, client-side validation on, verifying TLS, with a bearer token."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = kube.url
    configuration.ssl_ca_cert = str(kube.ca_file)
    assert configuration.verify_ssl
    configuration.api_key = {"BearerToken": kube.token}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    assert configuration.client_side_validation
    with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
def worker() -> Callable[[KubeCluster, str], dict]:
    """Register one more worker node (tests that add or replace nodes)."""
    return add_worker
