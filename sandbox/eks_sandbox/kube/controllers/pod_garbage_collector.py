"""The pod garbage collector: a pod cannot outlive the node it is bound to."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster


def remove_pods_of_missing_nodes(cluster: KubeCluster) -> None:
    """Pod garbage collection: pods bound to a node that no longer exists are deleted."""
    store = cluster.store
    nodes = {node["metadata"]["name"] for node in store.all("", "Node")}
    for pod in store.all("", "Pod"):
        node_name = pod["spec"].get("nodeName")
        if node_name and node_name not in nodes:
            store.remove("", "Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
