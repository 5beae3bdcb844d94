"""Pre-flight checks of the nodes: kubelet skew, managed node group health, Amazon Linux 2, follow-ups."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from eks_runbooks.core.catalogue import Outcome, failed, listed, noted, passed, warned
from eks_runbooks.core.eks.rules import node_ami_rules
from eks_runbooks.core.eks.versions import kubelet_minor, minor_of
from eks_runbooks.core.upgrade.checks.addons import describe_health_issues
from eks_runbooks.core.upgrade.checks.registry import PreflightInputs, check
from eks_runbooks.core.upgrade.validation import FARGATE_LABEL, NODEGROUP_LABEL

KARPENTER_LABELS = ("karpenter.sh/nodepool", "karpenter.sh/provisioner-name")  # v1 NodePool, pre-v1 Provisioner


class NodeKind(StrEnum):
    """Who replaces a node when the cluster moves to a new version."""

    MANAGED = "managed node group"  # this runbook, UpdateNodegroupVersion
    FARGATE = "Fargate"  # a new pod gets a new kubelet
    KARPENTER = "Karpenter"  # drift, once the EC2NodeClass resolves an AMI for the new version
    AUTO_MODE = "EKS Auto Mode"  # EKS itself
    SELF_MANAGED = "self-managed"  # whoever launched it


def node_kind(node: Mapping[str, Any]) -> NodeKind:
    labels = (node.get("metadata") or {}).get("labels") or {}
    compute_type = labels.get(FARGATE_LABEL)
    if compute_type == "fargate":
        return NodeKind.FARGATE
    # Auto Mode nodes also carry karpenter.sh labels (Auto Mode runs Karpenter): test it first.
    if compute_type == "auto":
        return NodeKind.AUTO_MODE
    if NODEGROUP_LABEL in labels:
        return NodeKind.MANAGED
    if any(label in labels for label in KARPENTER_LABELS):
        return NodeKind.KARPENTER
    return NodeKind.SELF_MANAGED


def max_kubelet_skew(control_plane_minor: int) -> int:
    """How many minors a kubelet may trail the API server: 3 from 1.25 on, 2 before."""
    # eks-facts §3, UG clusters/update-cluster.adoc; kubernetes.io/releases/version-skew-policy
    return 3 if control_plane_minor >= 25 else 2


@check("EKS-KUBELET-SKEW")
def kubelets_within_skew_of_new_control_plane(inputs: PreflightInputs) -> list[Outcome]:
    name, new_minor = inputs.cluster_name, minor_of(inputs.hop_to)
    allowed = max_kubelet_skew(new_minor)
    oldest = new_minor - allowed
    outcomes = []
    for nodegroup in sorted(inputs.nodegroups, key=lambda nodegroup: nodegroup["nodegroupName"]):
        version = nodegroup.get("version", "")
        if minor_of(version) < oldest:
            outcomes.append(
                failed(
                    f"Cluster {name}: node group {nodegroup['nodegroupName']} runs {version}, more than {allowed} "
                    f"minors behind {inputs.hop_to}; upgrade it to {inputs.hop_from} before this hop.",
                    [f"nodegroup/{nodegroup['nodegroupName']}"],
                )
            )
    # Nodes outside managed node groups are counted by their kubelet: the node group's version covers the rest.
    too_old = sorted(
        (
            node
            for node in inputs.nodes
            if node_kind(node) is not NodeKind.MANAGED and _kubelet_older_than(node, oldest)
        ),
        key=lambda node: node["metadata"]["name"],
    )
    if too_old:
        described = [f"{node['metadata']['name']} ({node_kind(node)}, {_kubelet(node)})" for node in too_old]
        outcomes.append(
            failed(
                f"Cluster {name}: {len(too_old)} node(s) outside managed node groups run a kubelet more than "
                f"{allowed} minors behind {inputs.hop_to}: {listed(described)}; replace them before this hop.",
                [f"node/{node['metadata']['name']}" for node in too_old],
            )
        )
    return outcomes or [
        passed(
            f"Cluster {name}: every kubelet is within {allowed} minors of {inputs.hop_to} "
            f"({len(inputs.nodegroups)} node groups, {len(inputs.nodes)} nodes)."
        )
    ]


def _kubelet(node: Mapping[str, Any]) -> str:
    return ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")


def _kubelet_older_than(node: Mapping[str, Any], minor: int) -> bool:
    """``v1.28.9-eks-113cf36`` is older than 29; a node that reports no kubelet version yet is not counted."""
    node_minor = kubelet_minor(_kubelet(node))
    return node_minor is not None and node_minor < minor


@check("EKS-NODEGROUP-HEALTH")
def nodegroups_are_healthy(inputs: PreflightInputs) -> list[Outcome]:
    outcomes = []
    for nodegroup in sorted(inputs.nodegroups, key=lambda nodegroup: nodegroup["nodegroupName"]):
        ng_name, status = nodegroup["nodegroupName"], nodegroup.get("status")
        issues = (nodegroup.get("health") or {}).get("issues") or []
        if status == "ACTIVE" and not issues:
            continue
        described = describe_health_issues(issues)
        outcomes.append(
            failed(
                f"Cluster {inputs.cluster_name}: node group {ng_name} is {status}"
                + (f" — {described}" if described else ""),
                [f"nodegroup/{ng_name}"],
            )
        )
    return outcomes or [
        passed(
            f"Cluster {inputs.cluster_name}: all {len(inputs.nodegroups)} node groups are ACTIVE without health issues."
        )
    ]


@check("EKS-AL2-NODES")
def no_amazon_linux_2_past_1_32(inputs: PreflightInputs) -> list[Outcome]:
    name, hop_minor = inputs.cluster_name, minor_of(inputs.hop_to)
    rules = node_ami_rules()
    last_al2_minor = minor_of(rules.last_al2_version)
    al2 = sorted(ng["nodegroupName"] for ng in inputs.nodegroups if ng.get("amiType") in rules.al2_ami_types)
    objects = [f"nodegroup/{ng_name}" for ng_name in al2]
    if hop_minor <= last_al2_minor:
        if not al2:
            return [passed(f"Cluster {name}: no managed node group runs Amazon Linux 2.")]
        last = (
            "this is the last version with AL2 AMIs"
            if hop_minor == last_al2_minor
            else f"they can reach {rules.last_al2_version} only"
        )
        return [
            warned(
                f"Cluster {name}: node groups {listed(al2)} run Amazon Linux 2; {last}: migrate them to AL2023 "
                f"before upgrading past {rules.last_al2_version}.",
                objects,
            )
        ]
    outcomes = []
    if al2:
        outcomes.append(
            failed(
                f"Cluster {name}: node groups {listed(al2)} run Amazon Linux 2, and EKS publishes no AL2 AMI for "
                f"{inputs.hop_to}; migrate them to AL2023 or Bottlerocket first.",
                objects,
            )
        )
    custom = sorted(ng["nodegroupName"] for ng in inputs.nodegroups if ng.get("amiType") == "CUSTOM")
    if custom:
        outcomes.append(
            noted(
                f"Cluster {name}: node groups {listed(custom)} use a custom AMI from their launch template; make "
                f"sure it is not Amazon Linux 2, which has no build for {inputs.hop_to}.",
                [f"nodegroup/{ng_name}" for ng_name in custom],
            )
        )
    unmanaged_al2 = sorted(
        node["metadata"]["name"]
        for node in inputs.nodes
        if node_kind(node) is NodeKind.SELF_MANAGED and _is_amazon_linux_2(node)
    )
    if unmanaged_al2:
        outcomes.append(
            warned(
                f"Cluster {name}: self-managed nodes {listed(unmanaged_al2)} run Amazon Linux 2 and cannot be "
                f"replaced with an AL2 AMI for {inputs.hop_to}.",
                [f"node/{node_name}" for node_name in unmanaged_al2],
            )
        )
    return outcomes or [passed(f"Cluster {name}: no node runs Amazon Linux 2.")]


def _is_amazon_linux_2(node: Mapping[str, Any]) -> bool:
    os_image = ((node.get("status") or {}).get("nodeInfo") or {}).get("osImage", "")
    return os_image == "Amazon Linux 2" or os_image.startswith("Amazon Linux 2 ")  # not "Amazon Linux 2023…"


@check("EKS-FOLLOW-UPS")
def nodes_this_runbook_does_not_upgrade(inputs: PreflightInputs) -> list[Outcome]:
    """Nodes outside managed node groups, read from Kubernetes: owner-managed, each with its kubelet, and what
    its owner must do once the control plane moves."""
    by_kind: dict[NodeKind, list[Mapping[str, Any]]] = {}
    for node in sorted(inputs.nodes, key=lambda node: node["metadata"]["name"]):
        by_kind.setdefault(node_kind(node), []).append(node)
    follow_up = {
        NodeKind.SELF_MANAGED: "replace them with the AMI for {version} after the upgrade",
        NodeKind.FARGATE: "restart their pods after the upgrade so they get a {version} kubelet",
        NodeKind.KARPENTER: "check that the EC2NodeClass AMI selector resolves {version} so drift replaces them",
        NodeKind.AUTO_MODE: "watch that EKS replaces them with {version} nodes",
    }
    outcomes = [
        noted(
            f"Cluster {inputs.cluster_name}: {len(by_kind[kind])} {kind} node(s) are owner-managed — not upgraded "
            f"by this runbook ({listed([_with_kubelet(node) for node in by_kind[kind]])}); their owner must "
            + action.format(version=inputs.hop_to)
            + ".",
            [f"node/{node['metadata']['name']}" for node in by_kind[kind]],
        )
        for kind, action in follow_up.items()
        if by_kind.get(kind)
    ]
    return outcomes or [
        passed(f"Cluster {inputs.cluster_name}: all {len(inputs.nodes)} nodes belong to managed node groups.")
    ]


def _with_kubelet(node: Mapping[str, Any]) -> str:
    kubelet = _kubelet(node)
    return f"{node['metadata']['name']} ({kubelet})" if kubelet else node["metadata"]["name"]
