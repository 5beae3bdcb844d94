"""Serve a simulated cluster's Kubernetes API over real HTTP, mounted the way the sandbox dispatcher mounts it.

One werkzeug server per test session; each test gets a fresh ``KubeCluster`` behind it, so clients (the typed
and dynamic Python clients, kubectl) talk to a clean cluster through exactly the path prefix and lock the
sandbox server uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.serving import make_server

from eks_sandbox.clock import SimClock
from eks_sandbox.kube.api import CLUSTER_ENVIRON_KEY, make_kube_app
from eks_sandbox.kube.cluster import KubeCluster

PREFIX = "/k8s/test"


@dataclass
class KubeServer:
    """The test's cluster and the URL its API is served at (what a kubeconfig's ``server`` holds)."""

    cluster: KubeCluster
    url: str


class _Mount:
    """Stands in for the sandbox dispatcher: prefix routing, the cluster in environ, one lock per request."""

    def __init__(self) -> None:
        self.cluster: KubeCluster | None = None
        self.lock = threading.RLock()
        self.app = make_kube_app()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        environ["SCRIPT_NAME"] = PREFIX
        environ["PATH_INFO"] = path[len(PREFIX) :] or "/"
        environ[CLUSTER_ENVIRON_KEY] = self.cluster
        with self.lock:
            return list(self.app(environ, start_response))


@pytest.fixture(scope="session")
def _mount() -> Iterator[tuple[_Mount, str]]:
    mount = _Mount()
    server = make_server("127.0.0.1", 0, mount, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield mount, f"http://127.0.0.1:{server.server_port}{PREFIX}"
    server.shutdown()
    thread.join()


@pytest.fixture
def kube(_mount: tuple[_Mount, str]) -> KubeServer:
    """A fresh 1.31 cluster with three Ready nodes, served over HTTP."""
    mount, url = _mount
    cluster = KubeCluster("test", "1.31", SimClock())
    for index in range(3):
        add_worker(cluster, f"ip-10-0-1-{10 + index}.ec2.internal")
    mount.cluster = cluster
    return KubeServer(cluster, url)


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
    """The official typed client, client-side validation on, with a bearer token the server ignores."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = kube.url
    configuration.api_key = {"authorization": "sim-token"}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    assert configuration.client_side_validation
    with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
def worker() -> Callable[[KubeCluster, str], dict]:
    """Register one more worker node (tests that add or replace nodes)."""
    return add_worker
