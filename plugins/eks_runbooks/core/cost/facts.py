"""What the cost audit reads about one cluster: plain data, JSON both ways (it travels between tasks as XCom).

Read by ``readers/cost_facts.py`` from the EKS, EC2 and Elastic Load Balancing APIs and the cluster's Kubernetes
API; priced by ``core/cost/costing.py``; judged by the findings of ``include/checks/cost.yaml``. Quantities are
kept as Kubernetes counts them (millicores, mebibytes, pods), prices are not here (``core/cost/prices.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: Capacity types as EKS and Karpenter label nodes (``eks.amazonaws.com/capacityType``,
#: ``karpenter.sh/capacity-type``), normalised; UNKNOWN for a node with neither label (a self-managed node).
ON_DEMAND, SPOT, UNKNOWN = "ON_DEMAND", "SPOT", "UNKNOWN"

#: How a node came to be, which decides how it is grouped in the report.
MANAGED, KARPENTER, AUTO_MODE, SELF_MANAGED = "managed", "karpenter", "auto-mode", "self-managed"

#: What ``ClusterCostFacts.errors`` is keyed by: each source the reader reads on its own. ``cluster``
#: (DescribeCluster: version, tags, upgrade policy, tier, Auto Mode) failing puts every source in errors.
SOURCES = (
    "cluster",  # DescribeCluster
    "cluster_version",  # DescribeClusterVersions: support, end of standard support
    "nodegroups",  # ListNodegroups, DescribeNodegroup
    "nodes",  # Kubernetes Nodes
    "pods",  # Kubernetes Pods: pods on EC2 nodes, Fargate pods, workload_pods
    "fargate_pods",  # Fargate pods whose CapacityProvisioned annotation could not be read (the others are)
    "volumes",  # Kubernetes PersistentVolumes, then DescribeVolumes
    "prefix_delegation",  # the aws-node DaemonSet in kube-system
    "instance_types",  # DescribeInstanceTypes
    "load_balancers",  # elbv2 and classic DescribeLoadBalancers, DescribeTags
)


@dataclass(frozen=True)
class PodFacts:
    """One running pod on an EC2 node: its requests (summed over containers, init containers as the scheduler
    counts them) and what owns it.

    :param owner_kind: the controller at the top of its owner chain: Deployment, StatefulSet, DaemonSet, Job,
        CronJob, ReplicaSet (one without a Deployment) or "" for a bare pod.
    """

    namespace: str
    name: str
    node: str
    owner_kind: str
    owner_name: str
    cpu_millicores: int
    memory_mebibytes: int
    mounts_claim: bool = False


@dataclass(frozen=True)
class NodeFacts:
    """One Kubernetes Node backed by an EC2 instance.

    :param group: the node group, Karpenter NodePool or ``self-managed`` name it is reported under.
    :param origin: MANAGED, KARPENTER, AUTO_MODE or SELF_MANAGED.
    """

    name: str
    instance_type: str
    capacity_type: str
    zone: str
    origin: str
    group: str
    allocatable_cpu_millicores: int
    allocatable_memory_mebibytes: int
    allocatable_pods: int
    operating_system: str = "linux"  # kubernetes.io/os: linux | windows


@dataclass(frozen=True)
class FargatePodFacts:
    """One pod on Fargate, billed as its ``CapacityProvisioned`` annotation says (``0.25vCPU 0.5GB``)."""

    namespace: str
    name: str
    vcpu: str
    memory_gb: str


@dataclass(frozen=True)
class VolumeFacts:
    """One EBS volume behind a PersistentVolume (DescribeVolumes' type and size, not the StorageClass')."""

    persistent_volume: str
    claim: str
    volume_id: str
    volume_type: str
    size_gib: int
    iops: int | None = None
    throughput_mibps: int | None = None


@dataclass(frozen=True)
class LoadBalancerFacts:
    """One Elastic Load Balancing load balancer the cluster's controllers own (by its cluster tag)."""

    name: str
    arn: str
    kind: str  # application | network | gateway | classic
    owner: str  # the Kubernetes object it serves (Service or Ingress), from its tags, or ""


@dataclass(frozen=True)
class InstanceTypeFacts:
    """DescribeInstanceTypes' answer for one instance type the cluster's nodes run."""

    instance_type: str
    vcpus: int
    memory_mebibytes: int
    maximum_network_interfaces: int
    ipv4_addresses_per_interface: int
    hypervisor: str  # nitro | xen | "" (bare metal)
    current_generation: bool
    bare_metal: bool = False


@dataclass(frozen=True)
class NodegroupFacts:
    """One managed node group as DescribeNodegroup answers it."""

    name: str
    capacity_type: str
    instance_types: tuple[str, ...]
    min_size: int
    desired_size: int
    max_size: int
    ami_type: str = ""


@dataclass
class ClusterCostFacts:
    """Everything the cost audit prices and judges for one cluster.

    :param support: ``standard`` or ``extended`` — the cluster's version's status in DescribeClusterVersions.
    :param end_of_standard_support: that version's end of standard support (ISO date), when AWS gives one.
    :param upgrade_policy: ``upgradePolicy.supportType`` (STANDARD | EXTENDED).
    :param provisioned_tier: ``controlPlaneScalingConfig.tier`` when set (standard, tier-xl, ...), else "".
    :param prefix_delegation: whether the VPC CNI assigns prefixes (``ENABLE_PREFIX_DELEGATION`` on aws-node),
        None when it could not be read.
    :param workload_pods: pods outside the system namespaces (on EC2 or Fargate) — 0 means nobody uses it.
    :param errors: source → why it could not be read; the parts that need it are reported as not known, never 0.
    """

    aws_conn_id: str
    region: str
    cluster: str
    account: str = ""
    version: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    support: str = ""
    end_of_standard_support: str = ""
    upgrade_policy: str = ""
    provisioned_tier: str = ""
    auto_mode: bool = False
    prefix_delegation: bool | None = None
    nodegroups: list[NodegroupFacts] = field(default_factory=list)
    nodes: list[NodeFacts] = field(default_factory=list)
    pods: list[PodFacts] = field(default_factory=list)
    fargate_pods: list[FargatePodFacts] = field(default_factory=list)
    volumes: list[VolumeFacts] = field(default_factory=list)
    load_balancers: list[LoadBalancerFacts] = field(default_factory=list)
    instance_types: dict[str, InstanceTypeFacts] = field(default_factory=dict)
    workload_pods: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterCostFacts:
        """The inverse of ``to_dict``."""
        nested = {
            "nodegroups": NodegroupFacts,
            "nodes": NodeFacts,
            "pods": PodFacts,
            "fargate_pods": FargatePodFacts,
            "volumes": VolumeFacts,
            "load_balancers": LoadBalancerFacts,
        }
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        for name, kind in nested.items():
            values[name] = [_build(kind, item) for item in values.get(name, [])]
        values["instance_types"] = {
            name: _build(InstanceTypeFacts, item) for name, item in values.get("instance_types", {}).items()
        }
        return cls(**values)


def _build(kind: type, item: Mapping[str, Any]) -> Any:
    values = dict(item)
    if kind is NodegroupFacts:
        values["instance_types"] = tuple(values.get("instance_types", ()))
    return kind(**values)
