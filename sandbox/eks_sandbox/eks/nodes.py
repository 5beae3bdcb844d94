"""The nodes a managed node group runs: EC2 instances in its Auto Scaling group and the Kubernetes Nodes they
register, and how they join and leave together.

An instance takes its primary private IP out of one of the node group's subnets (DescribeSubnets'
AvailableIpAddressCount drops by one) and gives it back when terminated. The VPC CNI's warm ENIs and secondary
IPs are not modelled: a node takes exactly one address of its subnet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eks_sandbox import moto_compat
from eks_sandbox.eks.amis import windows_release
from eks_sandbox.eks.node_join import missing_node_role_policies
from eks_sandbox.kube.pod_addresses import addresses_in_use

if TYPE_CHECKING:
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
    subnet_id: str
    private_ip: str
    #: Kubernetes minor of its kubelet ("1.31") and the AMI release (or launch template version) it runs
    version: str
    release_version: str
    launch_template_version: str | None
    #: whether the instance registered its Node (not when its node role lacks a policy: ``node_join``)
    joined: bool = True


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


def kubelet_version(release_version: str) -> str:
    """``v1.31.14-eks-3025e55`` for AMI release ``1.31.14-20251120``: the build suffix is stable per release."""
    patch = release_version.split("-", 1)[0]
    return f"v{patch}-eks-{hashlib.sha1(release_version.encode()).hexdigest()[:7]}"


class InsufficientFreeAddresses(Exception):
    """No subnet of the node group has an address left for one more instance."""

    #: the health issue's message, as botocore's Issue shape documents the code
    MESSAGE = (
        "One or more of the subnets associated with your managed node group does not have enough available IP "
        "addresses for new nodes."
    )

    def __init__(self, subnet_ids: list[str]) -> None:
        self.subnet_ids = subnet_ids
        super().__init__(self.MESSAGE)

    def issue(self) -> dict[str, Any]:
        """The node group health issue (and update error) EKS reports for it."""
        return {"code": "InsufficientFreeAddresses", "message": self.MESSAGE, "resourceIds": list(self.subnet_ids)}


def _placement(cluster: Cluster, nodegroup: Nodegroup) -> tuple[moto_compat.SubnetInfo, str]:
    """The subnet and address of the next instance: the subnet holding fewest of the group's nodes that still has
    an address (Auto Scaling balances across Availability Zones and skips a subnet it cannot launch into)."""
    held = {subnet.id: 0 for subnet in nodegroup.subnets}
    for node in nodegroup.nodes:
        held[node.subnet_id] = held.get(node.subnet_id, 0) + 1
    pods = addresses_in_use(cluster.kube)
    for subnet in sorted(nodegroup.subnets, key=lambda s: held[s.id]):
        ip = moto_compat.free_private_ip(cluster.account, cluster.region, subnet.id, avoid=pods)
        if ip is not None:
            return subnet, ip
    raise InsufficientFreeAddresses([subnet.id for subnet in nodegroup.subnets])


def launch_node(
    cluster: Cluster,
    nodegroup: Nodegroup,
    version: str,
    release_version: str,
    kubelet: str,
    launch_template_version: str | None,
) -> ManagedNode:
    """Launch one EC2 instance in the node group's Auto Scaling group and register its Node with the cluster's
    Kubernetes API — unless the node role lacks a policy the node needs: then the instance runs and never
    registers (``node_join``). Raises InsufficientFreeAddresses when no subnet has an address left."""
    subnet, ip = _placement(cluster, nodegroup)
    instance = moto_compat.run_instance(
        cluster.account,
        cluster.region,
        subnet_id=subnet.id,
        private_ip=ip,
        image_id=nodegroup.image_id(release_version),
        instance_type=nodegroup.instance_type,
        tags=nodegroup.owner_tags(),
    )
    moto_compat.attach_to_group(cluster.account, cluster.region, nodegroup.asg_name, instance.id)
    node = ManagedNode(
        name=instance.private_dns_name,
        instance_id=instance.id,
        availability_zone=instance.availability_zone,
        subnet_id=subnet.id,
        private_ip=instance.private_ip,
        version=version,
        release_version=release_version,
        launch_template_version=launch_template_version,
        joined=not missing_node_role_policies(cluster, nodegroup.node_role),
    )
    nodegroup.nodes.append(node)
    if not node.joined:
        return node
    cluster.kube.add_node(
        node.name,
        labels=_node_labels(cluster, nodegroup, node),
        kubelet_version=kubelet,
        capacity=_capacity(nodegroup),
        provider_id=f"aws:///{node.availability_zone}/{node.instance_id}",
        taints=[kube_taint(t) for t in nodegroup.taints] or None,
        subnet_cidr=subnet.cidr_block,
    )
    return node


def _node_labels(cluster: Cluster, nodegroup: Nodegroup, node: ManagedNode) -> dict[str, str]:
    windows = windows_release(nodegroup.ami_type)
    os_labels = (
        {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": windows.build}
        if windows
        else {"kubernetes.io/os": "linux"}
    )
    return {
        "eks.amazonaws.com/nodegroup": nodegroup.name,
        "eks.amazonaws.com/nodegroup-image": nodegroup.image_id(node.release_version),
        "eks.amazonaws.com/capacityType": nodegroup.capacity_type,
        "node.kubernetes.io/instance-type": nodegroup.instance_type,
        "topology.kubernetes.io/region": cluster.region,
        "topology.kubernetes.io/zone": node.availability_zone,
        **os_labels,
        "kubernetes.io/arch": nodegroup.shape.architecture,
        "kubernetes.io/hostname": node.name,
        **nodegroup.labels,
    }


def _capacity(nodegroup: Nodegroup) -> dict[str, str]:
    shape = nodegroup.shape
    return {
        "cpu": str(shape.vcpus),
        "memory": f"{shape.memory_mib * 1024}Ki",
        "pods": str(shape.max_pods),
        "ephemeral-storage": f"{nodegroup.disk_size or 20}Gi",
    }


def kube_taint(taint: dict[str, Any]) -> dict[str, Any]:
    kube = {"key": taint["key"], "effect": TAINT_EFFECTS[taint["effect"]]}
    if taint.get("value") is not None:
        kube["value"] = taint["value"]
    return kube


def remove_node(cluster: Cluster, nodegroup: Nodegroup, node: ManagedNode) -> None:
    """Scale-in / deletion: cordon, evict what PodDisruptionBudgets allow, terminate regardless."""
    if cluster.kube.get("v1", "Node", node.name) is not None:
        cluster.kube.cordon(node.name)
        cluster.kube.evict_pods(node.name)
    terminate_node(cluster, nodegroup, node)


def terminate_node(cluster: Cluster, nodegroup: Nodegroup, node: ManagedNode) -> None:
    """Terminate the instance (its address goes back to the subnet) and remove its Node; pods still on it go."""
    cluster.kube.delete_node(node.name)
    moto_compat.terminate_instance(cluster.account, cluster.region, node.instance_id)
    nodegroup.nodes.remove(node)
