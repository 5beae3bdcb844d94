"""Pods on AWS Fargate: the admission that sends a pod to Fargate, and the Fargate scheduler that gives it a node.

As on EKS [UG fargate-profile, fargate-pod-configuration]:

- a pod created in a namespace (and with labels) matching a selector of an ACTIVE Fargate profile is mutated at
  creation: ``schedulerName: fargate-scheduler`` and the label ``eks.amazonaws.com/fargate-profile``. A pod that
  matches several profiles goes to the one its ``eks.amazonaws.com/fargate-profile`` label names, else to one of
  them (EKS picks at random; the sandbox the first by name). Pods created before the profile was ACTIVE stay where
  they are: Fargate only places pods at creation;
- the Fargate scheduler brings up one node per pod, ``fargate-ip-<a-b-c-d>.<private DNS suffix>``, in a subnet of
  the profile (an ENI holds its address), labelled ``eks.amazonaws.com/compute-type: fargate`` with its zone and
  tainted so that nothing else lands there, and annotates the pod ``CapacityProvisioned`` with the vCPU/memory
  combination it pays for (include/eks/fargate-pod-sizes.yaml);
- the node goes when its pod goes (deleted, or finished), and so does the ENI.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from eks_sandbox import moto_compat
from eks_sandbox.kube.controllers.objects import live_pods, serialise_pod_conditions, set_condition
from eks_sandbox.kube.nodes import COMPUTE_TYPE_LABEL
from eks_sandbox.kube.pod_addresses import addresses_in_use
from eks_sandbox.kube.requests import pod_requests
from eks_sandbox.kube.store import clone

if TYPE_CHECKING:
    from eks_sandbox.eks.clusters import Cluster
    from eks_sandbox.eks.fargate import FargateProfile
    from eks_sandbox.kube.cluster import KubeCluster

FARGATE_SCHEDULER = "fargate-scheduler"
PROFILE_LABEL = "eks.amazonaws.com/fargate-profile"
CAPACITY_ANNOTATION = "CapacityProvisioned"
#: The taint of every Fargate node, so that no other pod is scheduled there.
FARGATE_TAINT = {"key": COMPUTE_TYPE_LABEL, "value": "fargate", "effect": "NoSchedule"}
#: The description of a Fargate node's ENI (the one EKS gives Fargate ENIs is UNCONFIRMED).
ENI_DESCRIPTION = "Amazon EKS Fargate {node}"


@dataclass(frozen=True)
class FargateSize:
    vcpu: Decimal
    memory_gb: Decimal

    def annotation(self) -> str:
        """``0.25vCPU 0.5GB``, ``2vCPU 9GB``: how the pod's CapacityProvisioned annotation spells it."""
        return f"{_plain(self.vcpu)}vCPU {_plain(self.memory_gb)}GB"


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f")


@cache
def fargate_sizes(path: Path | None = None) -> tuple[tuple[FargateSize, ...], int]:
    """Every vCPU/memory combination, smallest first, and the memory (MiB) Fargate adds to a pod's request."""
    from eks_sandbox.world import include_dir_from_env

    data = yaml.safe_load((path or include_dir_from_env() / "eks" / "fargate-pod-sizes.yaml").read_text())
    sizes = []
    for row in data["combinations"]:
        memory = row["memory_gb"]
        if isinstance(memory, dict):
            memory = range(memory["from"], memory["to"] + 1, memory["step"])
        sizes += [FargateSize(Decimal(str(row["vcpu"])), Decimal(str(gb))) for gb in memory]
    return tuple(sizes), int(data["kubernetes_components_memory_mib"])


def capacity_provisioned(pod_spec: dict[str, Any]) -> FargateSize:
    """The combination Fargate provisions for a pod: the larger of its largest init container request and the sum
    of its containers' requests, plus the Kubernetes components' memory, rounded up [UG fargate-pod-configuration]."""
    sizes, overhead_mib = fargate_sizes()
    cpu, memory = pod_requests(pod_spec)
    if not cpu and not memory:
        return sizes[0]
    memory_mib = Decimal(memory) / 2**20 + overhead_mib
    for size in sizes:
        if size.vcpu * 1000 >= cpu and size.memory_gb * 1024 >= memory_mib:
            return size
    return sizes[-1]


def _selector_matches(selector: dict[str, Any], namespace: str, labels: dict[str, str]) -> bool:
    # Namespaces and label values may use the wildcards * and ? [UG fargate-profile "Wildcards"].
    if not fnmatch.fnmatchcase(namespace, selector.get("namespace") or ""):
        return False
    return all(
        key in labels and fnmatch.fnmatchcase(labels[key], str(value))
        for key, value in (selector.get("labels") or {}).items()
    )


def matching_profile(cluster: Cluster, namespace: str, labels: dict[str, str]) -> FargateProfile | None:
    """The ACTIVE profile a new pod runs on: the one its fargate-profile label names if that one matches, else
    the first matching one by name."""
    matching = [
        profile
        for name, profile in sorted(cluster.fargate_profiles.items())
        if profile.status == "ACTIVE"
        and any(_selector_matches(selector, namespace, labels) for selector in profile.selectors)
    ]
    wanted = labels.get(PROFILE_LABEL)
    return next((p for p in matching if p.name == wanted), matching[0] if matching else None)


@dataclass
class FargateAdmission:
    """The ``pod_mutators`` entry that sends a pod matching an ACTIVE Fargate profile to Fargate."""

    cluster: Cluster

    def __call__(self, kube: KubeCluster, pod: dict[str, Any]) -> None:
        spec = pod.setdefault("spec", {})
        if spec.get("schedulerName", "default-scheduler") != "default-scheduler" or spec.get("nodeName"):
            return
        metadata = pod.setdefault("metadata", {})
        if (metadata.get("annotations") or {}).get(COMPUTE_TYPE_LABEL) == "ec2":
            # EKS's CoreDNS pods carry this annotation so that they stay on EC2 until it is removed
            # [UG fargate-getting-started, "Update CoreDNS"].
            return
        profile = matching_profile(self.cluster, metadata.get("namespace") or "default", metadata.get("labels") or {})
        if profile is None:
            return
        spec["schedulerName"] = FARGATE_SCHEDULER
        metadata.setdefault("labels", {})[PROFILE_LABEL] = profile.name


@dataclass
class FargateScheduler:
    """The ``KubeCluster.schedulers`` entry binding each Fargate pod to a node of its own, and removing nodes whose
    pod is gone."""

    cluster: Cluster
    #: node name → (its ENI, its subnet)
    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __call__(self, kube: KubeCluster) -> None:
        for pod in live_pods(kube.store):
            if pod["spec"].get("schedulerName") == FARGATE_SCHEDULER and not pod["spec"].get("nodeName"):
                self._place(kube, pod)
        self._remove_idle_nodes(kube)

    def _place(self, kube: KubeCluster, pod: dict[str, Any]) -> None:
        profile = self.cluster.fargate_profiles.get((pod["metadata"].get("labels") or {}).get(PROFILE_LABEL, ""))
        placement = self._address(profile) if profile is not None else None
        if placement is None:
            return  # its profile is gone, or none of its subnets has an address left: the pod stays Pending
        subnet, ip = placement
        size = capacity_provisioned(pod["spec"])
        node_name = f"fargate-{_private_dns_name(ip, self.cluster.region)}"
        eni = moto_compat.create_network_interface(
            self.cluster.account, self.cluster.region, subnet.id, ip, ENI_DESCRIPTION.format(node=node_name)
        )
        self.nodes[node_name] = (eni, subnet.id)
        patch = kube.patch_versions.get(self.cluster.version, f"{self.cluster.version}.0")
        kube.register_node(
            node_name,
            labels={
                COMPUTE_TYPE_LABEL: "fargate",
                "topology.kubernetes.io/region": self.cluster.region,
                "topology.kubernetes.io/zone": subnet.availability_zone,
                "failure-domain.beta.kubernetes.io/region": self.cluster.region,
                "failure-domain.beta.kubernetes.io/zone": subnet.availability_zone,
            },
            kubelet_version=f"v{patch}-eks-{hashlib.sha1(patch.encode()).hexdigest()[:7]}",
            capacity={
                "cpu": f"{int(size.vcpu * 1000)}m",
                "memory": f"{int(size.memory_gb * 1024 * 1024)}Ki",
                "pods": "1",
                "ephemeral-storage": "20Gi",  # 20 GiB per pod [UG fargate-pod-configuration]
            },
            # providerID of a Fargate node: aws:///<zone>/<id>/<node name> (id form UNCONFIRMED)
            provider_id=f"aws:///{subnet.availability_zone}/{eni.removeprefix('eni-')}/{node_name}",
            taints=[dict(FARGATE_TAINT)],
            internal_ip=ip,
        )
        updated = clone(pod)
        updated["spec"]["nodeName"] = node_name
        updated["metadata"].setdefault("annotations", {})[CAPACITY_ANNOTATION] = size.annotation()
        status = updated.setdefault("status", {"phase": "Pending"})
        status["conditions"] = set_condition(
            status.get("conditions") or [], "PodScheduled", "True", "", "", kube.store.now()
        )
        serialise_pod_conditions(status["conditions"])
        kube.store.save("", "Pod", updated)

    def _address(self, profile: FargateProfile) -> tuple[moto_compat.SubnetInfo, str] | None:
        """A subnet of the profile with an address left (the one holding fewest Fargate nodes), and the address."""
        held = dict.fromkeys(profile.subnets, 0)
        for _, subnet_id in self.nodes.values():
            if subnet_id in held:
                held[subnet_id] += 1
        account, region = self.cluster.account, self.cluster.region
        pods = addresses_in_use(self.cluster.kube)
        for subnet_id in sorted(profile.subnets, key=lambda s: held[s]):
            subnet = moto_compat.subnet(account, region, subnet_id)
            ip = moto_compat.free_private_ip(account, region, subnet_id, avoid=pods) if subnet else None
            if subnet is not None and ip is not None:
                return subnet, ip
        return None

    def _remove_idle_nodes(self, kube: KubeCluster) -> None:
        busy = {
            pod["spec"].get("nodeName")
            for pod in live_pods(kube.store)
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        }
        for node in kube.store.all("", "Node"):
            name = node["metadata"]["name"]
            if (node["metadata"].get("labels") or {}).get(COMPUTE_TYPE_LABEL) != "fargate" or name in busy:
                continue
            kube.store.remove("", "Node", None, name)
            eni, _ = self.nodes.pop(name, (None, None))
            if eni is not None:
                moto_compat.delete_network_interface(self.cluster.account, self.cluster.region, eni)


def _private_dns_name(ip: str, region: str) -> str:
    """EC2's private DNS name of an address: ``ip-10-0-1-23.ec2.internal`` in us-east-1, else
    ``ip-10-0-1-23.<region>.compute.internal``."""
    suffix = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-{ip.replace('.', '-')}.{suffix}"


def delete_profile_pods(cluster: Cluster, profile_name: str) -> None:
    """ "When you delete a Fargate profile, any Pods that were scheduled onto Fargate with the profile are deleted"
    [UG delete-fargate-profile]; their controllers re-create them, placed as admission decides then."""
    kube = cluster.kube
    for pod in kube.store.all("", "Pod"):
        if (pod["metadata"].get("labels") or {}).get(PROFILE_LABEL) == profile_name:
            kube.delete("v1", "Pod", pod["metadata"]["name"], pod["metadata"]["namespace"])
