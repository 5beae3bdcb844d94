"""Checks of the managed node groups: subnets, launch templates, AMIs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from eks_runbooks.core.audit.compliance import ClusterFacts, audit_check
from eks_runbooks.core.catalogue import Outcome, failed, passed, skipped, warned
from eks_runbooks.core.eks.rules import node_ami_rules

#: EKS optimized AMI release versions end in the build date: 1.32.3-20250715.
_RELEASE_DATE = re.compile(r"-(\d{8})$")
#: IMDS response hop limit: 1 keeps pods from the node role; 2 only for a workload that needs IMDS; more is never
#: needed [aws-eks-best-practices latest/bpg/security/iam.adoc].
RECOMMENDED_HOP_LIMIT = 1
MAX_HOP_LIMIT = 2


@audit_check("EKS-NODES-PRIVATE")
def nodes_in_private_subnets(facts: ClusterFacts) -> Outcome:
    if not facts.nodegroups:
        return skipped("no managed node groups")
    public = [
        f"nodegroup/{nodegroup['nodegroupName']} subnet/{subnet}"
        for nodegroup in facts.nodegroups
        for subnet in nodegroup.get("subnets", [])
        if subnet in facts.subnets_routed_to_igw
    ]
    if public:
        return failed("node groups in subnets routed to an internet gateway", public)
    return passed(f"{len(facts.nodegroups)} node group(s) in private subnets")


@audit_check("EKS-IMDSV2")
def launch_templates_require_imdsv2(facts: ClusterFacts) -> Outcome:
    """IMDSv2 required with hop limit 1 passes; hop limit 2 warns (pods reach the node role); optional tokens or a
    hop limit above 2 fail [aws-eks-best-practices latest/bpg/security/iam.adoc; UG nodes/al2023.adoc]."""
    templated = [nodegroup for nodegroup in facts.nodegroups if nodegroup.get("launchTemplate")]
    if not templated:
        return skipped("no node group uses its own launch template (EKS's template applies)")
    weak, pod_reachable = [], []
    for nodegroup in templated:
        reference = nodegroup["launchTemplate"]
        template = reference.get("id") or reference.get("name") or "?"
        options = facts.launch_templates.get(reference.get("id", ""), {}).get("MetadataOptions") or {}
        tokens = options.get("HttpTokens", "optional")
        # Unset counts as 1, the managed node group default [UG nodes/al2023.adoc]; UNCONFIRMED whether an AMI
        # registered with ImdsSupport=v2.0 raises it to 2 for node groups.
        hop_limit = int(options.get("HttpPutResponseHopLimit") or RECOMMENDED_HOP_LIMIT)
        where = f"nodegroup/{nodegroup['nodegroupName']} launch-template/{template}"
        if tokens != "required" or hop_limit > MAX_HOP_LIMIT:
            weak.append(f"{where} (HttpTokens={tokens}, hop limit {hop_limit})")
        elif hop_limit > RECOMMENDED_HOP_LIMIT:
            pod_reachable.append(f"{where} (HttpTokens=required, hop limit {hop_limit})")
    if weak:
        return failed(
            "launch templates allow IMDSv1 or a hop limit above 2"
            + (f"; {len(pod_reachable)} more at hop limit 2" if pod_reachable else ""),
            weak + pod_reachable,
        )
    if pod_reachable:
        return warned(
            "hop limit 2: pods on these nodes can reach IMDS and the node role's credentials; keep 2 only for a "
            "workload that needs IMDS (give the others Pod Identity or IRSA) and set 1 elsewhere",
            pod_reachable,
        )
    return passed(f"{len(templated)} launch template(s) require IMDSv2 with hop limit 1")


@audit_check("EKS-NODE-VOLUME-ENCRYPTION")
def node_volumes_encrypted(facts: ClusterFacts) -> Outcome:
    templated = _templated(facts)
    if not templated:
        return skipped("no node group uses its own launch template (volumes follow the account's EBS default)")
    plain = [
        f"nodegroup/{name}"
        for name, data in templated
        if not data.get("BlockDeviceMappings")
        or any(not mapping.get("Ebs", {}).get("Encrypted") for mapping in data["BlockDeviceMappings"])
    ]
    if plain:
        return failed("launch templates with unencrypted (or unspecified) volumes", plain)
    return passed(f"{len(templated)} launch template(s) encrypt their volumes")


@audit_check("EKS-NODE-AMI")
def node_ami_current(facts: ClusterFacts) -> Outcome:
    """Two findings, two fixes: an AL2 AMI type has no future (a new node group on AL2023 or Bottlerocket); an old
    release of a current AMI type needs only a release update of the same node group."""
    if not facts.nodegroups:
        return skipped("no managed node groups")
    rules = node_ami_rules()
    al2 = [
        f"nodegroup/{ng['nodegroupName']} ({ng['amiType']})"
        for ng in facts.nodegroups
        if ng.get("amiType") in rules.al2_ami_types
    ]
    old = _old_releases(facts, rules.release_max_age_days)
    update = (
        f"AMI releases older than {rules.release_max_age_days} days: update them to the latest release "
        "(aws eks update-nodegroup-version --cluster-name <cluster> --nodegroup-name <node group>)"
    )
    if al2:
        return failed(
            f"Amazon Linux 2 AMI type: EKS publishes no AL2 AMIs after Kubernetes {rules.last_al2_version}, so "
            "these node groups cannot follow the next upgrades — create AL2023 or Bottlerocket node groups and "
            "move the workloads (an AMI type cannot be changed in place)" + (f"; also {update}" if old else ""),
            al2 + old,
        )
    if old:
        return warned(update, old)
    return passed(f"{len(facts.nodegroups)} node group(s) on a current AMI family")


def _old_releases(facts: ClusterFacts, max_age_days: int) -> list[str]:
    old = []
    for nodegroup in facts.nodegroups:
        match = _RELEASE_DATE.search(nodegroup.get("releaseVersion") or "")
        if match:
            age = (facts.now - datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC)).days
            if age > max_age_days:
                old.append(f"nodegroup/{nodegroup['nodegroupName']} ({nodegroup['releaseVersion']}, {age} days)")
    return old


def _templated(facts: ClusterFacts) -> list[tuple[str, dict]]:
    """(node group, LaunchTemplateData) for node groups built from a launch template."""
    return [
        (nodegroup["nodegroupName"], facts.launch_templates.get(nodegroup["launchTemplate"].get("id", ""), {}))
        for nodegroup in facts.nodegroups
        if nodegroup.get("launchTemplate")
    ]
