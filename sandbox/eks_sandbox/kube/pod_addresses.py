"""Pod addresses as the Amazon VPC CNI hands them out: a pod's IP is a secondary address of its node's ENI, so it
comes out of the node's subnet; a ``hostNetwork`` pod, and a Fargate pod (its node is its own ENI), has the
node's address.

Warm ENIs and secondary-address pools are not modelled: a pod's address does not lower its subnet's
AvailableIpAddressCount, and an address is only kept apart from this cluster's nodes and running pods (a node
launched later passes over the pods' addresses while its subnet has another free one).
"""

from __future__ import annotations

import ipaddress
import random
from typing import TYPE_CHECKING, Any

from eks_sandbox.kube.nodes import COMPUTE_TYPE_LABEL, node_address

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

#: AWS reserves the first four addresses of every subnet (network, VPC router, DNS, future use) and the last.
_RESERVED_LEADING = 4
#: Random draws before scanning the subnet in order: a nearly full subnet still finds its last free address.
_DRAWS = 32


class PodAddresses:
    """The addresses of one pass of the kubelets: which are taken is read once, then kept up to date."""

    def __init__(self, cluster: KubeCluster) -> None:
        self.cluster = cluster
        self._taken: set[str] | None = None

    def for_pod(self, pod: dict[str, Any], node: dict[str, Any]) -> str | None:
        """The address ``pod`` starts with on ``node``; None when its subnet has none left (the pod cannot start,
        as the CNI fails to set up its sandbox)."""
        host_ip = node_address(node)
        labels = node["metadata"].get("labels") or {}
        if pod["spec"].get("hostNetwork") or labels.get(COMPUTE_TYPE_LABEL) == "fargate":
            return host_ip
        taken = self._taken_addresses()
        address = free_address(self._subnet(node, host_ip), taken, self.cluster.store.random)
        if address is not None:
            taken.add(address)
        return address

    def _subnet(self, node: dict[str, Any], host_ip: str) -> ipaddress.IPv4Network:
        # A node the EKS side did not launch (registered through the API, or by a test) has no known subnet:
        # its pods take addresses in the /16 around its own.
        known = self.cluster.node_subnets.get(node["metadata"]["name"])
        return known or ipaddress.IPv4Network(f"{host_ip or '10.0.0.0'}/16", strict=False)

    def _taken_addresses(self) -> set[str]:
        if self._taken is None:
            self._taken = addresses_in_use(self.cluster)
        return self._taken


def addresses_in_use(cluster: KubeCluster) -> set[str]:
    """The addresses the cluster's nodes and its pods that have not finished hold (what a new pod, or a node
    launched into the same subnet, must not take)."""
    store = cluster.store
    return {node_address(node) for node in store.all("", "Node")} | {
        pod["status"]["podIP"]
        for pod in store.all("", "Pod")
        if (pod.get("status") or {}).get("podIP") and pod["status"].get("phase") not in ("Succeeded", "Failed")
    }


def free_address(subnet: ipaddress.IPv4Network, taken: set[str], rng: random.Random) -> str | None:
    """An address of ``subnet`` that AWS does not reserve and ``taken`` does not hold, drawn at random (as the
    VPC CNI's secondary addresses look); None when there is none."""
    first = int(subnet.network_address) + _RESERVED_LEADING
    last = int(subnet.broadcast_address) - 1
    if first > last:
        return None
    for _ in range(_DRAWS):
        candidate = str(ipaddress.IPv4Address(rng.randint(first, last)))
        if candidate not in taken:
            return candidate
    return next(
        (str(ipaddress.IPv4Address(n)) for n in range(first, last + 1) if str(ipaddress.IPv4Address(n)) not in taken),
        None,
    )
