"""Every audit check passes on a hardened cluster and fails on the misconfiguration it exists for."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from eks_runbooks.core.audit.compliance import (
    ClusterFacts,
    apply_waivers,
    audit_cluster,
    load_audit_catalogue,
    parse_waivers,
)
from eks_runbooks.core.catalogue import Status

NOW = datetime(2026, 11, 21, tzinfo=UTC)
CATALOGUE = load_audit_catalogue()


def namespace(name: str, enforce: str | None = "restricted") -> dict:
    labels = {"pod-security.kubernetes.io/enforce": enforce} if enforce else {}
    return {"metadata": {"name": name, "labels": labels}}


def pod(name: str, namespace: str = "payments", **spec) -> dict:
    return {
        "metadata": {
            "name": f"{name}-7d9f-abcde",
            "namespace": namespace,
            "ownerReferences": [{"kind": "ReplicaSet", "name": f"{name}-7d9f", "controller": True}],
        },
        "spec": {"serviceAccountName": name, "containers": [{"name": "app"}], **spec},
    }


def daemon_pod(name: str, namespace: str = "kube-system", **spec) -> dict:
    return {
        "metadata": {
            "name": f"{name}-x7k2p",
            "namespace": namespace,
            "ownerReferences": [{"kind": "DaemonSet", "name": name, "controller": True}],
        },
        "spec": {"containers": [{"name": name}], **spec},
    }


def hardened() -> ClusterFacts:
    """A cluster that passes every check."""
    return ClusterFacts(
        cluster_name="payments-prod",
        region="us-east-1",
        account="123456789012",
        now=NOW,
        cluster={
            "version": "1.34",
            "resourcesVpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
            "upgradePolicy": {"supportType": "STANDARD"},
            "encryptionConfig": [{"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/k"}}],
            "logging": {
                "clusterLogging": [
                    {"types": ["api", "audit", "authenticator", "controllerManager", "scheduler"], "enabled": True}
                ]
            },
            "deletionProtection": True,
            "accessConfig": {"authenticationMode": "API"},
            "tags": {"team": "payments", "cost-center": "4411"},
        },
        cluster_versions=[
            {
                "clusterVersion": "1.34",
                "versionStatus": "STANDARD_SUPPORT",
                "endOfStandardSupportDate": datetime(2026, 12, 2, tzinfo=UTC),
                "endOfExtendedSupportDate": datetime(2027, 12, 2, tzinfo=UTC),
            }
        ],
        nodegroups=[
            {
                "nodegroupName": "general",
                "amiType": "AL2023_x86_64_STANDARD",
                "releaseVersion": "1.34.1-20261101",
                "subnets": ["subnet-private"],
                "launchTemplate": {"id": "lt-1", "version": "1"},
            }
        ],
        launch_templates={
            "lt-1": {
                "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
                "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True}}],
            }
        },
        subnets_routed_to_igw={"subnet-public"},
        addons=[
            {"addonName": "coredns", "addonVersion": "v1.13.2-eksbuild.1"},
            {"addonName": "eks-pod-identity-agent", "addonVersion": "v1.3.8-eksbuild.2"},
        ],
        addon_versions=[
            {
                "addonName": "coredns",
                "addonVersions": [
                    {
                        "addonVersion": "v1.13.2-eksbuild.1",
                        "compatibilities": [{"clusterVersion": "1.34", "defaultVersion": True}],
                    }
                ],
            }
        ],
        insights=[{"id": "i-1", "name": "Deprecated APIs", "insightStatus": {"status": "PASSING"}}],
        kubernetes={
            "Namespace": [namespace("payments"), namespace("kube-system", enforce=None)],
            "NetworkPolicy": [{"metadata": {"name": "default-deny", "namespace": "payments"}}],
            "ClusterRoleBinding": [
                {
                    "metadata": {"name": "system:public-info-viewer"},
                    "roleRef": {"name": "system:public-info-viewer"},
                    "subjects": [{"kind": "Group", "name": "system:unauthenticated"}],
                }
            ],
            "RoleBinding": [],
            "ServiceAccount": [{"metadata": {"name": "ledger", "namespace": "payments"}}],
            "Pod": [
                pod("ledger"),
                daemon_pod("aws-node", hostNetwork=True, serviceAccountName="default"),
            ],
            "ConfigMap": [],
        },
        required_tags=("team", "cost-center"),
    )


def mutate(change: Callable[[ClusterFacts], object]) -> ClusterFacts:
    facts = hardened()
    change(facts)
    return facts


def result(facts: ClusterFacts, check_id: str):
    (only,) = audit_cluster(facts, CATALOGUE, only=[check_id])
    return only


FAILING = {
    "EKS-ENDPOINT-PUBLIC": lambda f: f.cluster["resourcesVpcConfig"].update(publicAccessCidrs=["0.0.0.0/0"]),
    "EKS-VERSION-SUPPORT": lambda f: f.cluster_versions[0].update(versionStatus="UNSUPPORTED"),
    "EKS-SECRETS-KMS": lambda f: f.cluster.pop("encryptionConfig"),
    "EKS-CONTROL-PLANE-LOGS": lambda f: f.cluster["logging"]["clusterLogging"][0].update(types=["api", "audit"]),
    "EKS-DELETION-PROTECTION": lambda f: f.cluster.update(deletionProtection=False),
    "EKS-AUTH-MODE": lambda f: f.cluster.update(accessConfig={"authenticationMode": "CONFIG_MAP"}),
    "EKS-NODES-PRIVATE": lambda f: f.nodegroups[0].update(subnets=["subnet-private", "subnet-public"]),
    "EKS-IMDSV2": lambda f: f.launch_templates["lt-1"]["MetadataOptions"].update(HttpTokens="optional"),
    "EKS-NODE-VOLUME-ENCRYPTION": lambda f: f.launch_templates["lt-1"]["BlockDeviceMappings"][0]["Ebs"].update(
        Encrypted=False
    ),
    "EKS-ADDONS-CURRENT": lambda f: f.addons[0].update(addonVersion="v1.12.4-eksbuild.18"),
    "EKS-POD-IDENTITY": lambda f: f.addons.pop(),
    "EKS-NODE-AMI": lambda f: f.nodegroups[0].update(amiType="AL2_x86_64"),
    "EKS-INSIGHTS": lambda f: f.insights[0].update(insightStatus={"status": "ERROR"}),
    "K8S-NETWORK-POLICY": lambda f: f.kubernetes["Namespace"].append(namespace("analytics")),
    "K8S-POD-SECURITY": lambda f: f.kubernetes["Namespace"].append(namespace("analytics", enforce=None)),
    "K8S-ANONYMOUS-RBAC": lambda f: f.kubernetes["RoleBinding"].append(
        {
            "metadata": {"name": "open", "namespace": "payments"},
            "roleRef": {"name": "view"},
            "subjects": [{"kind": "User", "name": "system:anonymous"}],
        }
    ),
    "K8S-DEFAULT-SA": lambda f: f.kubernetes["Pod"].append(pod("batch", serviceAccountName="default")),
    "K8S-PRIVILEGED": lambda f: f.kubernetes["Pod"].append(
        pod("store", containers=[{"name": "redis", "securityContext": {"privileged": True}}])
    ),
    "EKS-TAGS": lambda f: f.cluster["tags"].pop("cost-center"),
}
#: Checks whose finding is a warning rather than a failure.
WARNING = {
    "EKS-UPGRADE-POLICY": lambda f: f.cluster.update(upgradePolicy={"supportType": "EXTENDED"}),
    "EKS-IMDSV2": lambda f: f.launch_templates["lt-1"]["MetadataOptions"].update(HttpPutResponseHopLimit=2),
}


def test_every_catalogue_entry_has_a_failing_or_warning_scenario_here():
    assert {spec.id for spec in CATALOGUE} == set(FAILING) | set(WARNING)


@pytest.mark.parametrize("check_id", [spec.id for spec in CATALOGUE])
def test_check_passes_on_a_hardened_cluster(check_id):
    outcome = result(hardened(), check_id)
    assert outcome.status is Status.PASS, outcome.detail


@pytest.mark.parametrize("check_id", sorted(FAILING))
def test_check_fails_on_its_misconfiguration(check_id):
    outcome = result(mutate(FAILING[check_id]), check_id)
    assert outcome.status is Status.FAIL, outcome.detail


def test_extended_upgrade_policy_warns():
    assert result(mutate(WARNING["EKS-UPGRADE-POLICY"]), "EKS-UPGRADE-POLICY").status is Status.WARN


def imds(tokens: str | None, hop_limit: int | None) -> Callable[[ClusterFacts], None]:
    def change(facts: ClusterFacts) -> None:
        options = {"HttpTokens": tokens, "HttpPutResponseHopLimit": hop_limit}
        facts.launch_templates["lt-1"]["MetadataOptions"] = {k: v for k, v in options.items() if v is not None}

    return change


def test_imdsv2_passes_when_every_launch_template_requires_tokens_with_hop_limit_1():
    outcome = result(mutate(imds("required", 1)), "EKS-IMDSV2")
    assert outcome.status is Status.PASS, outcome.detail
    assert outcome.detail == "1 launch template(s) require IMDSv2 with hop limit 1"


def test_imdsv2_passes_when_the_hop_limit_is_unset_because_the_default_is_1():
    assert result(mutate(imds("required", None)), "EKS-IMDSV2").status is Status.PASS


def test_imdsv2_warns_at_hop_limit_2_naming_the_node_group_and_template_and_why():
    outcome = result(mutate(imds("required", 2)), "EKS-IMDSV2")
    assert outcome.status is Status.WARN, outcome.detail
    assert outcome.objects == ("nodegroup/general launch-template/lt-1 (HttpTokens=required, hop limit 2)",)
    assert "node role's credentials" in outcome.detail and "needs IMDS" in outcome.detail


def test_imdsv2_fails_at_hop_limit_3():
    outcome = result(mutate(imds("required", 3)), "EKS-IMDSV2")
    assert outcome.status is Status.FAIL, outcome.detail
    assert outcome.objects == ("nodegroup/general launch-template/lt-1 (HttpTokens=required, hop limit 3)",)


def test_imdsv2_fails_when_tokens_are_optional_even_at_hop_limit_1():
    outcome = result(mutate(imds("optional", 1)), "EKS-IMDSV2")
    assert outcome.status is Status.FAIL, outcome.detail
    assert outcome.objects == ("nodegroup/general launch-template/lt-1 (HttpTokens=optional, hop limit 1)",)


def test_imdsv2_fails_when_tokens_are_unset_in_the_launch_template():
    assert result(mutate(imds(None, 1)), "EKS-IMDSV2").status is Status.FAIL


def test_imdsv2_failure_also_lists_the_node_groups_at_hop_limit_2():
    def two_groups(facts: ClusterFacts) -> None:
        facts.nodegroups.append({**facts.nodegroups[0], "nodegroupName": "gpu", "launchTemplate": {"id": "lt-2"}})
        facts.launch_templates["lt-2"] = {"MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2}}
        imds("optional", 1)(facts)

    outcome = result(mutate(two_groups), "EKS-IMDSV2")
    assert outcome.status is Status.FAIL
    assert outcome.objects == (
        "nodegroup/general launch-template/lt-1 (HttpTokens=optional, hop limit 1)",
        "nodegroup/gpu launch-template/lt-2 (HttpTokens=required, hop limit 2)",
    )
    assert "1 more at hop limit 2" in outcome.detail


def test_imdsv2_is_skipped_without_custom_launch_templates():
    outcome = result(mutate(lambda f: f.nodegroups[0].pop("launchTemplate")), "EKS-IMDSV2")
    assert outcome.status is Status.SKIP


def test_extended_support_warns_with_its_cost_and_standard_support_counts_days_left():
    assert result(hardened(), "EKS-VERSION-SUPPORT").detail == "1.34 in standard support, 11 day(s) left"
    extended = result(
        mutate(lambda f: f.cluster_versions[0].update(versionStatus="EXTENDED_SUPPORT")), "EKS-VERSION-SUPPORT"
    )
    assert extended.status is Status.WARN and "$0.60/h" in extended.detail and "about $365 a month" in extended.detail


def test_leftover_aws_auth_mappings_are_reported_in_mixed_mode():
    def mixed(facts: ClusterFacts) -> None:
        facts.cluster["accessConfig"]["authenticationMode"] = "API_AND_CONFIG_MAP"
        facts.kubernetes["ConfigMap"].append({"metadata": {"name": "aws-auth"}, "data": {"mapRoles": "- rolearn: x"}})

    outcome = result(mutate(mixed), "EKS-AUTH-MODE")
    assert outcome.status is Status.WARN and "mapRoles" in outcome.detail


def test_workload_findings_name_the_owning_workload_not_the_pod():
    outcome = result(mutate(FAILING["K8S-PRIVILEGED"]), "K8S-PRIVILEGED")
    assert outcome.objects == ("payments/Deployment/store: privileged container redis",)


def test_an_old_ami_release_warns_with_its_age():
    outcome = result(mutate(lambda f: f.nodegroups[0].update(releaseVersion="1.34.1-20260101")), "EKS-NODE-AMI")
    assert outcome.status is Status.WARN and "324 days" in outcome.objects[0]


def test_a_fact_that_could_not_be_read_makes_its_checks_error_and_leaves_the_others():
    facts = mutate(lambda f: f.errors.update(kubernetes="Unauthorized (401) from https://.../api"))
    results = {r.id: r for r in audit_cluster(facts, CATALOGUE)}
    assert results["K8S-PRIVILEGED"].status is Status.ERROR
    assert "kubernetes: Unauthorized" in results["K8S-PRIVILEGED"].detail
    assert results["EKS-AUTH-MODE"].status is Status.ERROR  # it reads aws-auth too
    assert results["EKS-ENDPOINT-PUBLIC"].status is Status.PASS


def test_a_waiver_turns_a_fail_into_waived_until_it_expires():
    waivers = parse_waivers(
        [
            {
                "check": "EKS-DELETION-PROTECTION",
                "cluster": "payments-*",
                "reason": "migration CHG-9",
                "expires": "2026-11-30",
            }
        ]
    )
    failing = audit_cluster(mutate(FAILING["EKS-DELETION-PROTECTION"]), CATALOGUE, only=["EKS-DELETION-PROTECTION"])

    (before,) = apply_waivers("payments-prod", failing, waivers, date(2026, 11, 30))
    (after,) = apply_waivers("payments-prod", failing, waivers, date(2026, 12, 1))
    (other,) = apply_waivers("edge-dev", failing, waivers, date(2026, 11, 21))
    assert before.status is Status.WAIVED and before.waiver == "migration CHG-9 (until 2026-11-30)"
    assert after.status is Status.FAIL and other.status is Status.FAIL


def test_a_malformed_waiver_is_refused_naming_its_index():
    with pytest.raises(ValueError, match=r"eks_compliance_waivers\[1\]"):
        parse_waivers([{"check": "A-B", "reason": "r", "expires": "2027-01-01"}, {"check": "A-B", "expires": "soon"}])


PRIVILEGED = {"containers": [{"name": "agent", "securityContext": {"privileged": True}}]}
NODE_PATHS = {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}


def with_pods(*pods: dict) -> ClusterFacts:
    return mutate(lambda f: f.kubernetes["Pod"].extend(pods))


def test_kube_system_is_audited_and_an_extra_privileged_daemonset_there_is_flagged():
    outcome = result(with_pods(daemon_pod("log-shipper", hostNetwork=True, **PRIVILEGED)), "K8S-PRIVILEGED")
    assert outcome.status is Status.FAIL
    assert outcome.objects == ("kube-system/DaemonSet/log-shipper: privileged container agent, hostNetwork",)


def test_known_eks_addon_workloads_may_use_the_node_access_they_are_listed_with():
    addons = with_pods(
        daemon_pod("aws-node", hostNetwork=True, **PRIVILEGED, **NODE_PATHS),
        daemon_pod("kube-proxy", hostNetwork=True, **PRIVILEGED, **NODE_PATHS),
        daemon_pod("ebs-csi-node", **PRIVILEGED, **NODE_PATHS),
        daemon_pod("eks-pod-identity-agent", hostNetwork=True, **PRIVILEGED),
    )
    outcome = result(addons, "K8S-PRIVILEGED")
    assert outcome.status is Status.PASS and "4 known EKS add-on workload(s)" in outcome.detail


def test_an_addon_name_asking_for_more_access_or_in_another_namespace_is_flagged():
    outcome = result(
        with_pods(
            daemon_pod("eks-pod-identity-agent", hostNetwork=True, **NODE_PATHS),  # hostPath is not listed for it
            daemon_pod("aws-node", namespace="payments", hostNetwork=True),
        ),
        "K8S-PRIVILEGED",
    )
    assert outcome.objects == (
        "kube-system/DaemonSet/eks-pod-identity-agent: hostPath root, hostNetwork",
        "payments/DaemonSet/aws-node: hostNetwork",
    )


def test_every_known_node_access_workload_has_a_source_and_known_access():
    from eks_runbooks.core.kubernetes.node_access import known_node_access_workloads

    known = known_node_access_workloads()
    assert {"kube-system/DaemonSet/aws-node", "kube-system/DaemonSet/kube-proxy"} <= set(known)
    assert "kube-system/DaemonSet/ebs-csi-node" in known and "kube-system/DaemonSet/eks-pod-identity-agent" in known


def nodegroup(name: str, ami_type: str, release: str) -> dict:
    return {"nodegroupName": name, "amiType": ami_type, "releaseVersion": release, "subnets": []}


def test_an_old_release_of_a_current_ami_type_is_told_to_update_the_release_not_to_leave_al2():
    facts = mutate(
        lambda f: f.nodegroups.__setitem__(
            slice(None), [nodegroup("general", "AL2023_x86_64_STANDARD", "1.32.3-20250101")]
        )
    )
    outcome = result(facts, "EKS-NODE-AMI")
    assert outcome.status is Status.WARN
    assert "update-nodegroup-version" in outcome.detail
    assert "AL2023" not in outcome.detail and "Amazon Linux 2" not in outcome.detail


def test_an_al2_node_group_is_told_to_move_to_a_new_ami_type_and_old_releases_are_still_named():
    facts = mutate(
        lambda f: f.nodegroups.__setitem__(
            slice(None),
            [
                nodegroup("legacy", "AL2_x86_64", "1.31.9-20261101"),
                nodegroup("general", "AL2023_x86_64_STANDARD", "1.31.3-20250101"),
            ],
        )
    )
    outcome = result(facts, "EKS-NODE-AMI")
    assert outcome.status is Status.FAIL
    assert "AL2023 or Bottlerocket" in outcome.detail and "cannot be changed in place" in outcome.detail
    assert outcome.objects[0] == "nodegroup/legacy (AL2_x86_64)"
    assert outcome.objects[1].startswith("nodegroup/general (1.31.3-20250101")
