"""The Kubernetes Nodes a managed node group runs: names, labels, capacity, and how they join and leave."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eks_sandbox import moto_compat

if TYPE_CHECKING:
    from eks_sandbox.eks.backend import RegionState
    from eks_sandbox.eks.clusters import Cluster
    from eks_sandbox.eks.nodegroups import Nodegroup

#: EKS taint effects → Kubernetes taint effects
TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


@dataclass
class ManagedNode:
    """One EC2 instance of a node group, as the node group tracks it."""

    name: str
    instance_id: str
    availability_zone: str
    #: Kubernetes minor of its kubelet ("1.31") and the AMI release (or launch template version) it runs
    version: str
    release_version: str
    launch_template_version: str | None


@dataclass(frozen=True)
class InstanceShape:
    vcpus: int
    memory_mib: int
    max_pods: int
    architecture: str  # Kubernetes arch label: amd64 | arm64


def instance_shape(instance_type: str) -> InstanceShape | None:
    info = moto_compat.instance_type_info(instance_type)
    if info is None:
        return None
    network = info["NetworkInfo"]
    arches = info.get("ProcessorInfo", {}).get("SupportedArchitectures", ["x86_64"])
    return InstanceShape(
        vcpus=int(info["VCpuInfo"]["DefaultVCpus"]),
        memory_mib=int(info["MemoryInfo"]["SizeInMiB"]),
        # VPC CNI without prefix delegation: ENIs x (IPv4 per ENI - 1) + 2 (eks max-pods formula)
        max_pods=int(network["MaximumNetworkInterfaces"]) * (int(network["Ipv4AddressesPerInterface"]) - 1) + 2,
        architecture="arm64" if "arm64" in arches else "amd64",
    )


def private_dns_suffix(region: str) -> str:
    # us-east-1 instances are named ip-10-0-1-5.ec2.internal; every other region <region>.compute.internal.
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


def kubelet_version(release_version: str) -> str:
    """``v1.31.14-eks-3025e55`` for AMI release ``1.31.14-20251120``: the build suffix is stable per release."""
    patch = release_version.split("-", 1)[0]
    return f"v{patch}-eks-{hashlib.sha1(release_version.encode()).hexdigest()[:7]}"


def allocate_ip(state: RegionState, cidr_block: str) -> str:
    network = ipaddress.ip_network(cidr_block, strict=False)
    for offset, host in enumerate(network.hosts()):
        # the first addresses of a subnet are AWS-reserved
        if offset >= 3 and str(host) not in state.allocated_ips:
            state.allocated_ips.add(str(host))
            return str(host)
    raise RuntimeError(f"subnet {cidr_block} has no free address left in the sandbox")


def launch_node(
    state: RegionState,
    cluster: Cluster,
    nodegroup: Nodegroup,
    version: str,
    release_version: str,
    kubelet: str,
    launch_template_version: str | None,
) -> ManagedNode:
    """Start one instance of ``nodegroup`` and register its Node, Ready, with the cluster's Kubernetes API."""
    subnet = nodegroup.subnets[len(nodegroup.nodes) % len(nodegroup.subnets)]
    ip = allocate_ip(state, subnet.cidr_block)
    name = f"ip-{ip.replace('.', '-')}.{private_dns_suffix(cluster.region)}"
    node = ManagedNode(
        name=name,
        instance_id="i-" + secrets.token_hex(9)[:17],
        availability_zone=subnet.availability_zone,
        version=version,
        release_version=release_version,
        launch_template_version=launch_template_version,
    )
    shape = nodegroup.shape
    labels = {
        "eks.amazonaws.com/nodegroup": nodegroup.name,
        "eks.amazonaws.com/nodegroup-image": nodegroup.image_id(release_version),
        "eks.amazonaws.com/capacityType": nodegroup.capacity_type,
        "node.kubernetes.io/instance-type": nodegroup.instance_type,
        "topology.kubernetes.io/region": cluster.region,
        "topology.kubernetes.io/zone": subnet.availability_zone,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": shape.architecture,
        "kubernetes.io/hostname": name,
        **nodegroup.labels,
    }
    cluster.kube.add_node(
        name,
        labels=labels,
        kubelet_version=kubelet,
        capacity={
            "cpu": str(shape.vcpus),
            "memory": f"{shape.memory_mib * 1024}Ki",
            "pods": str(shape.max_pods),
            "ephemeral-storage": f"{nodegroup.disk_size or 20}Gi",
        },
        provider_id=f"aws:///{subnet.availability_zone}/{node.instance_id}",
        taints=[kube_taint(t) for t in nodegroup.taints] or None,
    )
    nodegroup.nodes.append(node)
    return node


def kube_taint(taint: dict[str, Any]) -> dict[str, Any]:
    kube = {"key": taint["key"], "effect": TAINT_EFFECTS[taint["effect"]]}
    if taint.get("value") is not None:
        kube["value"] = taint["value"]
    return kube


def remove_node(cluster: Cluster, nodegroup: Nodegroup, node: ManagedNode) -> None:
    """Scale-in / deletion: cordon, evict what PodDisruptionBudgets allow, terminate regardless."""
    cluster.kube.cordon(node.name)
    cluster.kube.evict_pods(node.name)
    cluster.kube.delete_node(node.name)
    nodegroup.nodes.remove(node)
