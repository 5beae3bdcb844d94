"""The Kubernetes API of a simulated cluster as a client sees it: the official client on the endpoint and CA that
DescribeCluster answers, authenticated with an EKS token, answering plain dicts (camelCase, as served)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from tests.helpers import eks_token


class KubeApi:
    """A few calls of the official Kubernetes client, answering what the API served as dicts."""

    def __init__(self, fleet: Any, cluster_name: str, tmp_path: Path) -> None:
        from kubernetes import client

        cluster = fleet.eks.describe_cluster(name=cluster_name)["cluster"]
        ca_file = tmp_path / f"{cluster_name}-ca.crt"
        ca_file.write_bytes(base64.b64decode(cluster["certificateAuthority"]["data"]))
        configuration = client.Configuration()
        configuration.host = cluster["endpoint"]
        configuration.ssl_ca_cert = str(ca_file)
        configuration.api_key = {"BearerToken": eks_token(cluster_name, fleet.url)}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        self.client = client.ApiClient(configuration)
        self.core = client.CoreV1Api(self.client)
        self.apps = client.AppsV1Api(self.client)

    def plain(self, obj: Any) -> Any:
        return self.client.sanitize_for_serialization(obj)

    def pods(self, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        return self.plain(self.core.list_namespaced_pod(namespace, label_selector=selector).items)

    def nodes(self, selector: str | None = None) -> list[dict[str, Any]]:
        return self.plain(self.core.list_node(label_selector=selector).items)

    def daemon_set(self, namespace: str, name: str) -> dict[str, Any]:
        return self.plain(self.apps.read_namespaced_daemon_set(name, namespace))

    def namespace(self, name: str) -> None:
        self.core.create_namespace({"metadata": {"name": name}})

    def create(self, body: dict[str, Any]) -> None:
        """Create a Namespace, Pod, Deployment or DaemonSet."""
        namespace = body["metadata"].get("namespace", "default")
        create = {
            "Pod": lambda: self.core.create_namespaced_pod(namespace, body),
            "Deployment": lambda: self.apps.create_namespaced_deployment(namespace, body),
            "DaemonSet": lambda: self.apps.create_namespaced_daemon_set(namespace, body),
        }[body["kind"]]
        create()


def deployment(name: str, namespace: str, replicas: int = 1, **pod_spec: Any) -> dict[str, Any]:
    """A Deployment of ``replicas`` pods labelled ``app=<name>`` running nginx, with ``pod_spec`` added."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}], **pod_spec},
            },
        },
    }
