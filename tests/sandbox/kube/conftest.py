"""Serve a simulated cluster's Kubernetes API over real HTTP, through the sandbox's own server and dispatcher.

One ``SandboxServer`` per test session; each test registers a fresh ``KubeCluster`` as
``sandbox.kube_clusters["test"]``, so clients (the typed and dynamic Python clients, kubectl) reach it at
``/k8s/test`` through exactly the routing, path prefix and lock that ``eks-sandbox serve`` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from eks_sandbox.kube.cluster import KubeCluster
from eks_sandbox.server import SandboxServer
from eks_sandbox.world import Sandbox

CLUSTER_ID = "test"


@dataclass
class KubeServer:
    """The test's cluster and the URL its API is served at (what a kubeconfig's ``server`` holds)."""

    cluster: KubeCluster
    url: str


@pytest.fixture(scope="session")
def kube_sandbox_server() -> Iterator[SandboxServer]:
    """The sandbox server the kube tests share; it holds no EKS clusters, only the test's KubeCluster."""
    with SandboxServer(Sandbox(), port=0) as server:
        yield server


@pytest.fixture
def kube(kube_sandbox_server: SandboxServer) -> Iterator[KubeServer]:
    """A fresh 1.31 cluster with three Ready nodes, served over HTTP."""
    sandbox = kube_sandbox_server.sandbox
    cluster = KubeCluster("test", "1.31", sandbox.clock)
    for index in range(3):
        add_worker(cluster, f"ip-10-0-1-{10 + index}.ec2.internal")
    with sandbox.lock:
        sandbox.kube_clusters[CLUSTER_ID] = cluster
    yield KubeServer(cluster, sandbox.kube_endpoint(CLUSTER_ID))
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
    """The official typed client, client-side validation on, with a bearer token (any is accepted; none is refused)."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = kube.url
    configuration.api_key = {"BearerToken": "sim-token"}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    assert configuration.client_side_validation
    with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
def worker() -> Callable[[KubeCluster, str], dict]:
    """Register one more worker node (tests that add or replace nodes)."""
    return add_worker
