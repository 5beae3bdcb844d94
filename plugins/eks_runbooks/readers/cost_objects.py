"""The cost facts of one cluster, taken from the objects its APIs serve (plain dicts in, ``core.cost.facts`` out).

``readers/cost_facts.py`` reads the objects; everything here only looks at them, without a client: Kubernetes
objects in their camelCase wire form, AWS answers as boto3 returns them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from eks_runbooks.core.cost.facts import (
    AUTO_MODE,
    KARPENTER,
    MANAGED,
    ON_DEMAND,
    SELF_MANAGED,
    SPOT,
    UNKNOWN,
    FargatePodFacts,
    InstanceTypeFacts,
    LoadBalancerFacts,
    NodeFacts,
    NodegroupFacts,
    PodFacts,
)
from eks_runbooks.core.kubernetes.namespaces import runs_workloads
from eks_runbooks.core.kubernetes.pod_requests import pod_requests
from eks_runbooks.core.kubernetes.quantities import cpu_millicores, memory_mebibytes, parse_quantity

# Node labels (UG managed-node-groups "Managed node group capacity types"; karpenter.sh well-known labels;
# UG associate-workload: Auto Mode nodes have eks.amazonaws.com/compute-type=auto; UG fargate; kubernetes.io
# well-known labels).
NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"
EKS_CAPACITY_TYPE_LABEL = "eks.amazonaws.com/capacityType"
KARPENTER_CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
NODEPOOL_LABEL = "karpenter.sh/nodepool"
COMPUTE_TYPE_LABEL = "eks.amazonaws.com/compute-type"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
ZONE_LABEL = "topology.kubernetes.io/zone"
#: EKS spells capacity types ON_DEMAND/SPOT, Karpenter (and Auto Mode) on-demand/spot.
CAPACITY_TYPES = {"ON_DEMAND": ON_DEMAND, "on-demand": ON_DEMAND, "SPOT": SPOT, "spot": SPOT}
#: EKS's Fargate scheduler annotates each pod with what it bills: "0.25vCPU 0.5GB" (UG fargate-pod-configuration).
CAPACITY_PROVISIONED = "CapacityProvisioned"
_CAPACITY_PROVISIONED = re.compile(r"\s*(\d+(?:\.\d+)?)vCPU\s+(\d+(?:\.\d+)?)GB\s*")
FARGATE_SCHEDULER = "fargate-scheduler"
#: A Deployment names its ReplicaSets ``<deployment>-<pod-template-hash>`` and labels their pods with the hash
#: (kubernetes pkg/controller/deployment/sync.go).
TEMPLATE_HASH_LABEL = "pod-template-hash"
#: A CronJob names its Jobs ``<cronjob>-<scheduled time in minutes since the epoch>`` (kubernetes
#: pkg/controller/cronjob/utils.go getJobName): eight digits or more since 1989.
_CRON_JOB_RUN = re.compile(r"(.+)-\d{8,}")
#: The VPC CNI's DaemonSet and the variable that turns prefix assignment on (aws/amazon-vpc-cni-k8s README).
VPC_CNI_DAEMONSET = "aws-node"
PREFIX_DELEGATION_ENV = "ENABLE_PREFIX_DELEGATION"
#: PersistentVolume sources backed by EBS: the CSI driver and the in-tree plugin (``aws://<zone>/<volume id>``).
EBS_CSI_DRIVER = "ebs.csi.aws.com"
#: Load balancer tags: the AWS Load Balancer Controller's (kubernetes-sigs/aws-load-balancer-controller
#: pkg/deploy/tracking: ``elbv2.k8s.aws/cluster``, ``service.k8s.aws/stack`` and ``ingress.k8s.aws/stack``
#: = namespace/name or the Ingress group) and the cloud provider's (kubernetes/cloud-provider-aws tags.go:
#: ``kubernetes.io/cluster/<cluster>`` = owned, ``kubernetes.io/service-name`` = namespace/name).
CONTROLLER_CLUSTER_TAG = "elbv2.k8s.aws/cluster"
OWNER_TAGS = (
    ("service.k8s.aws/stack", "Service"),
    ("ingress.k8s.aws/stack", "Ingress"),
    ("kubernetes.io/service-name", "Service"),
)
#: DescribeClusterVersions ``versionStatus`` (and its deprecated ``status``) → the support the cluster pays for.
SUPPORT = {
    "STANDARD_SUPPORT": "standard",
    "standard-support": "standard",
    "EXTENDED_SUPPORT": "extended",
    "extended-support": "extended",
    "UNSUPPORTED": "unsupported",
    "unsupported": "unsupported",
}


def is_fargate_node(node: Mapping[str, Any]) -> bool:
    """Fargate runs each pod on a node of its own, billed per pod, not per node."""
    return _labels(node).get(COMPUTE_TYPE_LABEL) == "fargate"


def node_facts(node: Mapping[str, Any]) -> NodeFacts | None:
    """An EC2-backed node as the audit groups and prices it; None for a Fargate node."""
    if is_fargate_node(node):
        return None
    labels = _labels(node)
    origin, group = _origin(labels)
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    return NodeFacts(
        name=node["metadata"]["name"],
        instance_type=labels.get(INSTANCE_TYPE_LABEL, ""),
        capacity_type=CAPACITY_TYPES.get(
            labels.get(EKS_CAPACITY_TYPE_LABEL) or labels.get(KARPENTER_CAPACITY_TYPE_LABEL, ""), UNKNOWN
        ),
        zone=labels.get(ZONE_LABEL, ""),
        origin=origin,
        group=group,
        allocatable_cpu_millicores=cpu_millicores(allocatable.get("cpu", 0)),
        allocatable_memory_mebibytes=memory_mebibytes(allocatable.get("memory", 0), round_up=False),
        allocatable_pods=int(parse_quantity(allocatable.get("pods", 0))),
        operating_system=labels.get("kubernetes.io/os", "linux"),
    )


def _origin(labels: Mapping[str, str]) -> tuple[str, str]:
    if labels.get(COMPUTE_TYPE_LABEL) == "auto":
        return AUTO_MODE, labels.get(NODEPOOL_LABEL, AUTO_MODE)
    if labels.get(NODEGROUP_LABEL):
        return MANAGED, labels[NODEGROUP_LABEL]
    if labels.get(NODEPOOL_LABEL):
        return KARPENTER, labels[NODEPOOL_LABEL]
    return SELF_MANAGED, SELF_MANAGED


def running_pods(pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Pods bound to a node that have not finished: those holding room on it."""
    return [pod for pod in pods if (pod.get("spec") or {}).get("nodeName") and not _finished(pod)]


def workload_pod_count(pods: Iterable[Mapping[str, Any]]) -> int:
    """Pods not finished, running or waiting, in the teams' namespaces (not Kubernetes' own nor an add-on's)."""
    return sum(1 for pod in pods if not _finished(pod) and runs_workloads(pod["metadata"].get("namespace", "")))


def _finished(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def runs_on_fargate(pod: Mapping[str, Any], fargate_nodes: set[str]) -> bool:
    """Whether EKS placed the pod on Fargate (its node, its scheduler or its billing annotation says so)."""
    spec = pod.get("spec") or {}
    return (
        spec.get("nodeName") in fargate_nodes
        or spec.get("schedulerName") == FARGATE_SCHEDULER
        or CAPACITY_PROVISIONED in (pod["metadata"].get("annotations") or {})
    )


def pod_facts(pod: Mapping[str, Any]) -> PodFacts:
    """A pod on an EC2 node: what it requests and which controller owns it."""
    spec = pod.get("spec") or {}
    cpu, memory = pod_requests(spec)
    owner_kind, owner_name = pod_owner(pod)
    return PodFacts(
        namespace=pod["metadata"].get("namespace", ""),
        name=pod["metadata"]["name"],
        node=spec.get("nodeName") or "",
        owner_kind=owner_kind,
        owner_name=owner_name,
        cpu_millicores=cpu,
        memory_mebibytes=memory,
        mounts_claim=any("persistentVolumeClaim" in volume for volume in spec.get("volumes") or []),
    )


def pod_owner(pod: Mapping[str, Any]) -> tuple[str, str]:
    """The controller at the top of the pod's owner chain, from the names alone (no read of the owners)."""
    references = pod["metadata"].get("ownerReferences") or []
    reference = next((ref for ref in references if ref.get("controller")), references[0] if references else None)
    if reference is None:
        return "", ""
    kind, name = reference["kind"], reference["name"]
    template_hash = (pod["metadata"].get("labels") or {}).get(TEMPLATE_HASH_LABEL)
    if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
        return "Deployment", name[: -len(template_hash) - 1]
    if kind == "Job" and (run := _CRON_JOB_RUN.fullmatch(name)):
        return "CronJob", run.group(1)
    return kind, name


def fargate_pod_facts(pod: Mapping[str, Any]) -> FargatePodFacts:
    """A Fargate pod as billed; a ``CapacityProvisioned`` that cannot be read is refused, naming the pod."""
    metadata = pod["metadata"]
    annotation = (metadata.get("annotations") or {}).get(CAPACITY_PROVISIONED, "")
    match = _CAPACITY_PROVISIONED.fullmatch(annotation)
    if not match:
        raise ValueError(
            f"Fargate pod {metadata.get('namespace')}/{metadata['name']}: {CAPACITY_PROVISIONED} "
            f"{annotation!r} is not '<n>vCPU <n>GB'"
        )
    return FargatePodFacts(metadata.get("namespace", ""), metadata["name"], match.group(1), match.group(2))


def volume_claims(persistent_volumes: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """EBS volume id → (PersistentVolume, ``namespace/claim`` or "") for the volumes EBS backs."""
    found: dict[str, tuple[str, str]] = {}
    for volume in persistent_volumes:
        spec = volume.get("spec") or {}
        csi = spec.get("csi") or {}
        in_tree = (spec.get("awsElasticBlockStore") or {}).get("volumeID", "")
        volume_id = csi.get("volumeHandle", "") if csi.get("driver") == EBS_CSI_DRIVER else in_tree.rsplit("/", 1)[-1]
        if volume_id:
            claim = spec.get("claimRef") or {}
            found[volume_id] = (
                volume["metadata"]["name"],
                f"{claim['namespace']}/{claim['name']}" if claim.get("name") else "",
            )
    return found


def prefix_delegation(kube_system_daemonsets: Iterable[Mapping[str, Any]]) -> bool | None:
    """Whether the VPC CNI assigns /28 prefixes (``ENABLE_PREFIX_DELEGATION=true`` on aws-node; unset: off);
    None on a cluster without aws-node (another CNI: the max-pods formula does not apply)."""
    daemonset = next((d for d in kube_system_daemonsets if d["metadata"]["name"] == VPC_CNI_DAEMONSET), None)
    if daemonset is None:
        return None
    containers = (((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    values = [
        str(variable.get("value", "")).lower()
        for container in containers
        for variable in container.get("env") or []
        if variable.get("name") == PREFIX_DELEGATION_ENV
    ]
    return values[-1] == "true" if values else False


def instance_type_facts(described: Mapping[str, Any]) -> InstanceTypeFacts:
    """One DescribeInstanceTypes entry, as max pods and the previous-generation finding need it."""
    network = described.get("NetworkInfo") or {}
    return InstanceTypeFacts(
        instance_type=described["InstanceType"],
        vcpus=int((described.get("VCpuInfo") or {}).get("DefaultVCpus", 0)),
        memory_mebibytes=int((described.get("MemoryInfo") or {}).get("SizeInMiB", 0)),
        maximum_network_interfaces=int(network.get("MaximumNetworkInterfaces", 0)),
        ipv4_addresses_per_interface=int(network.get("Ipv4AddressesPerInterface", 0)),
        hypervisor=described.get("Hypervisor") or "",
        current_generation=bool(described.get("CurrentGeneration", True)),
        bare_metal=bool(described.get("BareMetal", False)),
    )


def nodegroup_facts(described: Mapping[str, Any]) -> NodegroupFacts:
    """One DescribeNodegroup answer (``instanceTypes`` is empty when a launch template names the type)."""
    scaling = described.get("scalingConfig") or {}
    return NodegroupFacts(
        name=described["nodegroupName"],
        capacity_type=described.get("capacityType") or ON_DEMAND,
        instance_types=tuple(described.get("instanceTypes") or ()),
        min_size=int(scaling.get("minSize", 0)),
        desired_size=int(scaling.get("desiredSize", 0)),
        max_size=int(scaling.get("maxSize", 0)),
        ami_type=described.get("amiType") or "",
    )


def load_balancer_facts(
    load_balancer: Mapping[str, Any], tags: Mapping[str, str], cluster_name: str, *, arn: str = ""
) -> LoadBalancerFacts | None:
    """A load balancer the cluster's controllers own, by its tags; None when it is not the cluster's.

    :param arn: the ARN of a Classic Load Balancer (its API gives none).
    """
    owned = tags.get(CONTROLLER_CLUSTER_TAG) == cluster_name or tags.get(f"kubernetes.io/cluster/{cluster_name}") == (
        "owned"
    )
    if not owned:
        return None
    owner = next((f"{kind} {tags[tag]}" for tag, kind in OWNER_TAGS if tags.get(tag)), "")
    return LoadBalancerFacts(
        name=load_balancer["LoadBalancerName"],
        arn=load_balancer.get("LoadBalancerArn") or arn,
        kind=load_balancer.get("Type") or "classic",
        owner=owner,
    )


def cluster_fields(cluster: Mapping[str, Any]) -> dict[str, Any]:
    """The ``ClusterCostFacts`` fields a DescribeCluster answer gives: account, version, tags, upgrade policy,
    provisioned control-plane tier (absent: the standard tier EKS bills no extra for) and Auto Mode."""
    return {
        "account": cluster["arn"].split(":")[4],
        "version": cluster.get("version", ""),
        "tags": dict(cluster.get("tags") or {}),
        "upgrade_policy": (cluster.get("upgradePolicy") or {}).get("supportType", ""),
        "provisioned_tier": (cluster.get("controlPlaneScalingConfig") or {}).get("tier", ""),
        "auto_mode": bool((cluster.get("computeConfig") or {}).get("enabled")),
    }


def cluster_support(version: Mapping[str, Any] | None) -> tuple[str, str]:
    """(support, end of standard support as an ISO date or "") from a DescribeClusterVersions entry."""
    if not version:
        return "", ""
    support = SUPPORT.get(version.get("versionStatus") or "", SUPPORT.get(version.get("status") or "", ""))
    end = version.get("endOfStandardSupportDate")
    if isinstance(end, datetime):
        end = end.astimezone(UTC).date().isoformat()
    return support, str(end or "")


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return obj["metadata"].get("labels") or {}
