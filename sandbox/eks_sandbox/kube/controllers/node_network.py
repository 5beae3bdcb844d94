"""The kubelets' network check: a node registered before its cluster's container network worked turns Ready
once it does (the kubelet polls the container runtime's NetworkReady status)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eks_sandbox.kube.nodes import set_network_ready, waits_for_network
from eks_sandbox.kube.store import clone

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster


def sync_node_network(cluster: KubeCluster) -> None:
    """Turn Ready every node waiting for its network whose network is now ready (``KubeCluster.network_ready``)."""
    check = cluster.network_ready
    store = cluster.store
    for node in store.all("", "Node"):
        if not waits_for_network(node) or (check is not None and not check(cluster, node)):
            continue
        updated = clone(node)
        set_network_ready(updated, store.now())
        store.save("", "Node", updated)
