"""Each pre-flight check on its own: a passing and a failing scenario at least, on plain AWS/Kubernetes dicts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from eks_runbooks.core.catalogue import Outcome, Status
from eks_runbooks.core.upgrade.preflight import PREFLIGHT_CHECKS
from tests.plugins.core.upgrade.preflight_builders import (
    addon,
    addon_catalogue,
    deployment,
    healthy_inputs,
    insight,
    node,
    nodegroup,
    pdb,
    pod,
)


def run(check_id: str, **overrides) -> list[Outcome]:
    return PREFLIGHT_CHECKS[check_id](healthy_inputs(**overrides))


def statuses(outcomes: list[Outcome]) -> list[Status]:
    return [outcome.status for outcome in outcomes]


@pytest.mark.parametrize("check_id", sorted(PREFLIGHT_CHECKS))
def test_a_healthy_cluster_passes_every_check(check_id):
    outcomes = run(check_id)
    assert statuses(outcomes) == [Status.PASS], outcomes
    assert "payments" in outcomes[0].detail


# EKS-CLUSTER-ACTIVE


def test_update_in_progress_blocks_naming_the_update():
    updates = [{"id": "u-42", "type": "ConfigUpdate", "status": "InProgress", "params": []}]
    [outcome] = run("EKS-CLUSTER-ACTIVE", updates=updates, cluster={**healthy_inputs().cluster, "status": "UPDATING"})
    assert outcome.status is Status.FAIL
    assert "ConfigUpdate u-42" in outcome.detail and "ResourceInUseException" in outcome.detail
    assert outcome.objects == ("update/u-42",)


def test_cluster_not_active_blocks():
    [outcome] = run("EKS-CLUSTER-ACTIVE", cluster={**healthy_inputs().cluster, "status": "UPDATING"})
    assert outcome.status is Status.FAIL and "payments is UPDATING, not ACTIVE" in outcome.detail


def test_version_update_to_the_hop_already_in_flight_is_attached_to_not_blocked():
    updates = [
        {"id": "u-7", "type": "VersionUpdate", "status": "InProgress", "params": [{"type": "Version", "value": "1.32"}]}
    ]
    [outcome] = run("EKS-CLUSTER-ACTIVE", updates=updates, cluster={**healthy_inputs().cluster, "status": "UPDATING"})
    assert outcome.status is Status.INFO and "attaches" in outcome.detail and outcome.objects == ("update/u-7",)


def test_cluster_at_another_version_than_the_hop_blocks_asking_to_replan():
    [outcome] = run("EKS-CLUSTER-ACTIVE", cluster={**healthy_inputs().cluster, "version": "1.30"})
    assert outcome.status is Status.FAIL and "runs 1.30" in outcome.detail and "re-plan" in outcome.detail


# EKS-SUBNET-FREE-IPS


def test_only_one_subnet_with_five_free_ips_blocks_listing_the_short_ones():
    subnets = [
        {"SubnetId": "subnet-a", "AvailableIpAddressCount": 5},
        {"SubnetId": "subnet-b", "AvailableIpAddressCount": 4},
    ]
    [outcome] = run("EKS-SUBNET-FREE-IPS", subnets=subnets)  # subnet-c no longer exists
    assert outcome.status is Status.FAIL
    assert "only 1 of its 3 subnets" in outcome.detail and "subnet-b: 4, subnet-c: 0" in outcome.detail
    assert outcome.objects == ("subnet-b", "subnet-c")


def test_a_short_subnet_beside_two_with_free_ips_is_only_a_warning():
    subnets = [
        {"SubnetId": s, "AvailableIpAddressCount": n} for s, n in (("subnet-a", 5), ("subnet-b", 9), ("subnet-c", 1))
    ]
    [outcome] = run("EKS-SUBNET-FREE-IPS", subnets=subnets)
    assert outcome.status is Status.WARN and outcome.objects == ("subnet-c",)


# EKS-KUBELET-SKEW


def test_kubelet_three_minors_behind_the_new_control_plane_is_allowed_four_is_not():
    outcomes = run("EKS-KUBELET-SKEW", nodegroups=[nodegroup("three-behind", "1.29"), nodegroup("four-behind", "1.28")])
    assert statuses(outcomes) == [Status.FAIL]
    assert outcomes[0].objects == ("nodegroup/four-behind",)
    assert "four-behind runs 1.28, more than 3 minors behind 1.32" in outcomes[0].detail


def test_kubelet_may_trail_only_two_minors_up_to_1_24():
    nodegroups = [nodegroup("two-behind", "1.22"), nodegroup("three-behind", "1.21")]
    outcomes = run("EKS-KUBELET-SKEW", hop_from="1.23", hop_to="1.24", nodegroups=nodegroups, nodes=[])
    assert [outcome.objects for outcome in outcomes] == [("nodegroup/three-behind",)]


def test_self_managed_node_too_far_behind_blocks_naming_the_node():
    nodes = [node("ip-10-0-1-1"), node("old-box", labels={}, kubelet="v1.28.3"), node("new-box", labels={})]
    [outcome] = run("EKS-KUBELET-SKEW", nodes=nodes)
    assert outcome.status is Status.FAIL and outcome.objects == ("node/old-box",)
    assert "old-box (self-managed, v1.28.3)" in outcome.detail


# EKS-ADDON-COMPATIBLE


def test_compatible_addons_pass_naming_where_they_will_go():
    [outcome] = run("EKS-ADDON-COMPATIBLE")
    assert "coredns → v1.11.4-eksbuild.40" in outcome.detail and "vpc-cni → v1.20.1-eksbuild.3" in outcome.detail


def test_addon_without_a_version_for_the_hop_blocks_naming_it():
    catalogue = [
        *healthy_inputs().addon_versions,
        addon_catalogue("aws-ebs-csi-driver", ("v1.30.0-eksbuild.1", ["1.31"])),
    ]
    outcomes = run(
        "EKS-ADDON-COMPATIBLE",
        addons=[*healthy_inputs().addons, addon("aws-ebs-csi-driver", "v1.30.0-eksbuild.1")],
        addon_versions=catalogue,
    )
    assert statuses(outcomes) == [Status.FAIL]
    assert outcomes[0].objects == ("addon/aws-ebs-csi-driver",)
    assert "no version of add-on aws-ebs-csi-driver is compatible with Kubernetes 1.32" in outcomes[0].detail


def test_one_minor_at_a_time_addon_without_the_intermediate_minor_blocks():
    catalogue = [addon_catalogue("vpc-cni", ("v1.18.0-eksbuild.1", ["1.31"]), ("v1.20.1-eksbuild.3", ["1.32"]))]
    outcomes = run("EKS-ADDON-COMPATIBLE", addons=[addon("vpc-cni", "v1.18.0-eksbuild.1")], addon_versions=catalogue)
    assert statuses(outcomes) == [Status.FAIL] and "one minor version at a time" in outcomes[0].detail


def test_addon_with_an_unparseable_version_is_only_a_warning():
    catalogue = [addon_catalogue("vendor-agent", ("v2.0.0-eksbuild.1", ["1.32"]))]
    outcomes = run("EKS-ADDON-COMPATIBLE", addons=[addon("vendor-agent", "v2.0-rc1")], addon_versions=catalogue)
    assert statuses(outcomes) == [Status.WARN] and "vendor-agent" in outcomes[0].detail


# EKS-ADDON-HEALTH / EKS-NODEGROUP-HEALTH


def test_degraded_addon_blocks_with_its_health_issues():
    issue = {"code": "InsufficientNumberOfReplicas", "message": "1 of 2 ready", "resourceIds": ["coredns"]}
    addons = [addon("coredns", "v1.11.4-eksbuild.22", "DEGRADED", [issue]), addon("vpc-cni", "v1.19.0-eksbuild.1")]
    [outcome] = run("EKS-ADDON-HEALTH", addons=addons)
    assert outcome.status is Status.FAIL and outcome.objects == ("addon/coredns",)
    assert "coredns is DEGRADED — InsufficientNumberOfReplicas: 1 of 2 ready (coredns)" in outcome.detail


def test_active_addon_with_health_issues_still_blocks():
    issue = {"code": "AccessDenied", "message": "role missing"}
    [outcome] = run("EKS-ADDON-HEALTH", addons=[addon("vpc-cni", "v1.19.0-eksbuild.1", issues=[issue])])
    assert outcome.status is Status.FAIL and "AccessDenied: role missing" in outcome.detail


def test_degraded_or_updating_node_group_blocks():
    degraded = {
        **nodegroup("batch"),
        "status": "DEGRADED",
        "health": {"issues": [{"code": "AsgInstanceLaunchFailures", "message": "no capacity"}]},
    }
    outcomes = run(
        "EKS-NODEGROUP-HEALTH", nodegroups=[nodegroup("general"), degraded, nodegroup("gpu", status="UPDATING")]
    )
    assert [outcome.objects for outcome in outcomes] == [("nodegroup/batch",), ("nodegroup/gpu",)]
    assert "batch is DEGRADED — AsgInstanceLaunchFailures: no capacity" in outcomes[0].detail


# EKS-INSIGHTS-UPGRADE-READINESS


def test_insights_error_blocks_warning_is_reported():
    deprecation = {
        "deprecationDetails": [
            {
                "usage": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas",
                "clientStats": [{"userAgent": "old-operator/1.0", "numberOfRequestsLast30Days": 12}],
            }
        ]
    }
    insights = [
        insight("Deprecated APIs removed in Kubernetes v1.32", "ERROR", categorySpecificSummary=deprecation),
        insight("Kubelet version skew", "WARNING"),
        insight("Add-on compatibility", "UNKNOWN"),
        insight("Cluster health issues", "PASSING"),
        insight("Deprecated APIs removed in Kubernetes v1.33", "ERROR", version="1.33"),  # a later hop's business
        insight("Misconfigured", "ERROR", category="MISCONFIGURATION"),
    ]
    outcomes = run("EKS-INSIGHTS-UPGRADE-READINESS", insights=insights)
    assert statuses(outcomes) == [Status.FAIL, Status.WARN, Status.WARN]
    assert (
        "v1.32" in outcomes[0].detail
        and "old-operator/1.0" in outcomes[0].detail
        and "12 requests" in outcomes[0].detail
    )
    assert outcomes[0].objects[0].startswith("insight/")


def test_no_upgrade_insights_is_noted_not_passed():
    assert statuses(run("EKS-INSIGHTS-UPGRADE-READINESS", insights=[])) == [Status.INFO]


# K8S-REMOVED-APIS


def removed(kind: str, namespace: str | None, name: str, removed_in: str = "1.32", **extra) -> dict:
    return {
        "api_version": "flowcontrol.apiserver.k8s.io/v1beta3",
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "sources": ["helm-release:payments/ledger.v3", "last-applied"],
        "removed_in": removed_in,
        "replacement": "flowcontrol.apiserver.k8s.io/v1",
        **extra,
    }


def test_object_of_a_removed_api_blocks_naming_it_its_source_and_replacement():
    outcomes = run("K8S-REMOVED-APIS", deprecation_findings=[removed("FlowSchema", None, "ledger-priority")])
    assert statuses(outcomes) == [Status.FAIL]
    assert outcomes[0].objects == ("FlowSchema/ledger-priority",)
    detail = outcomes[0].detail
    assert "flowcontrol.apiserver.k8s.io/v1beta3, removed in 1.32" in detail
    assert (
        "helm-release:payments/ledger.v3, last-applied" in detail
        and "migrate it to flowcontrol.apiserver.k8s.io/v1" in detail
    )


def test_removed_api_findings_are_read_from_objects_as_well_as_dicts():
    finding = SimpleNamespace(**removed("CronJob", "batch", "nightly", removed_in="1.25", replacement=None))
    finding.api_version = "batch/v1beta1"
    [outcome] = run("K8S-REMOVED-APIS", deprecation_findings=[finding])
    assert outcome.objects == ("batch/CronJob/nightly",) and "no replacement" in outcome.detail


def test_api_removed_only_in_a_later_version_passes_this_hop_and_is_noted():
    outcomes = run("K8S-REMOVED-APIS", deprecation_findings=[removed("ValidatingAdmissionPolicy", None, "p", "1.34")])
    assert statuses(outcomes) == [Status.PASS, Status.INFO] and "removed in 1.34" in outcomes[1].detail


def test_an_object_only_served_through_a_removed_api_is_informational_and_does_not_block():
    finding = removed("FlowSchema", None, "tenant-a", sources=["live"])
    outcomes = run("K8S-REMOVED-APIS", deprecation_findings=[finding, removed("FlowSchema", None, "ledger")])
    assert statuses(outcomes) == [Status.FAIL, Status.INFO]
    assert outcomes[0].objects == ("FlowSchema/ledger",) and outcomes[1].objects == ("FlowSchema/tenant-a",)
    assert statuses(run("K8S-REMOVED-APIS", deprecation_findings=[finding])) == [Status.PASS, Status.INFO]


def test_a_managed_fields_entry_of_a_removed_api_blocks_naming_its_manager():
    finding = removed("FlowSchema", None, "tenant-a", sources=["managedFields:terraform", "live"])
    [outcome] = run("K8S-REMOVED-APIS", deprecation_findings=[finding])
    assert outcome.status is Status.FAIL and "managedFields:terraform" in outcome.detail


def test_clients_eks_insights_saw_calling_a_removed_api_are_named_next_to_the_objects():
    details = {
        "deprecationDetails": [
            {
                "usage": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas",
                "replacedWith": "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
                "stopServingVersion": "1.32",
                "clientStats": [{"userAgent": "old-operator/1.0", "numberOfRequestsLast30Days": 12}],
            }
        ]
    }
    insights = [insight("Deprecated APIs removed in Kubernetes v1.32", "ERROR", categorySpecificSummary=details)]
    outcomes = run("K8S-REMOVED-APIS", insights=insights, hop_from="1.31", hop_to="1.32")
    assert statuses(outcomes) == [Status.PASS, Status.WARN]
    assert "old-operator/1.0 (12 request(s) in 30 days)" in outcomes[1].detail
    assert outcomes[1].objects == ("/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas",)
    assert "move them to /apis/flowcontrol.apiserver.k8s.io/v1/flowschemas" in outcomes[1].detail


# K8S-PDB-BLOCKS-DRAIN


def test_pdb_with_max_unavailable_zero_blocks_the_drain_naming_the_pdb_and_its_pods():
    pdbs = [pdb("shop", "web", {"matchLabels": {"app": "web"}}, maxUnavailable=0)]
    [outcome] = run("K8S-PDB-BLOCKS-DRAIN", pdbs=pdbs)
    assert outcome.status is Status.FAIL
    assert outcome.objects == ("shop/PodDisruptionBudget/web", "shop/Pod/web-1", "shop/Pod/web-2")
    assert "shop/web has maxUnavailable 0" in outcome.detail and "node group(s) general" in outcome.detail
    assert "kubectl -n shop edit pdb web" in outcome.detail


def test_pdb_with_min_available_equal_to_the_replicas_blocks():
    for min_available in (2, "100%"):
        pdbs = [pdb("shop", "web", {"matchLabels": {"app": "web"}}, minAvailable=min_available)]
        [outcome] = run("K8S-PDB-BLOCKS-DRAIN", pdbs=pdbs)
        assert outcome.status is Status.FAIL and f"minAvailable {min_available} for 2 pod(s)" in outcome.detail


def test_pdb_allowing_no_disruption_right_now_blocks():
    pdbs = [pdb("shop", "web", {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}, allowed=0)]
    [outcome] = run("K8S-PDB-BLOCKS-DRAIN", pdbs=pdbs)
    assert outcome.status is Status.FAIL and "allows 0 disruptions now" in outcome.detail


def test_pdb_whose_pods_are_not_on_managed_nodes_does_not_block():
    nodes = [node("ip-10-0-1-1"), node("fargate-ip-1", labels={"eks.amazonaws.com/compute-type": "fargate"})]
    pods = [
        pod("shop", "web-1", {"app": "web"}, "fargate-ip-1"),
        pod("shop", "web-2", {"app": "web"}, phase="Succeeded"),
    ]
    pdbs = [pdb("shop", "web", {"matchLabels": {"app": "web"}}, maxUnavailable=0)]
    assert statuses(run("K8S-PDB-BLOCKS-DRAIN", nodes=nodes, pods=pods, pdbs=pdbs)) == [Status.PASS]


def test_pdb_selecting_no_pod_does_not_block():
    pdbs = [
        pdb("shop", "other", {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, allowed=0),
        pdb("shop", "null-selector", None, allowed=0),
        pdb("billing", "web", {}, allowed=0),  # empty selector: every pod of billing, which has none
    ]
    assert statuses(run("K8S-PDB-BLOCKS-DRAIN", pdbs=pdbs)) == [Status.PASS]


def test_force_node_drain_turns_a_blocking_pdb_into_a_warning():
    pdbs = [pdb("shop", "web", {"matchLabels": {"app": "web"}}, maxUnavailable="0%")]
    [outcome] = run("K8S-PDB-BLOCKS-DRAIN", pdbs=pdbs, force_node_drain=True)
    assert outcome.status is Status.WARN and "evicted regardless" in outcome.detail


# K8S-SINGLE-REPLICA / K8S-READINESS-PROBE


def test_single_replica_workloads_are_warnings_listing_them():
    workloads = [
        deployment("shop", "web"),
        deployment("shop", "cart", replicas=1),
        deployment("ops", "cron", replicas=None),
    ]
    statefulset = {**deployment("shop", "db", replicas=1)}
    outcomes = run("K8S-SINGLE-REPLICA", deployments=workloads, statefulsets=[statefulset, deployment("x", "off", 0)])
    assert statuses(outcomes) == [Status.WARN]
    assert outcomes[0].objects == ("ops/Deployment/cron", "shop/Deployment/cart", "shop/StatefulSet/db")


def test_containers_without_readiness_probe_outside_kube_system_are_warnings():
    workloads = [deployment("shop", "cart", probe=False), deployment("kube-system", "metrics", probe=False)]
    [outcome] = run("K8S-READINESS-PROBE", deployments=workloads)
    assert outcome.status is Status.WARN and outcome.objects == ("shop/Deployment/cart",)
    assert "shop/Deployment/cart (app)" in outcome.detail


# EKS-AL2-NODES


def test_al2_node_group_blocks_a_hop_to_1_33():
    nodegroups = [
        nodegroup("general", "1.32"),
        nodegroup("legacy", "1.32", "AL2_x86_64"),
        nodegroup("gpu", "1.32", "AL2_x86_64_GPU"),
    ]
    outcomes = run("EKS-AL2-NODES", hop_from="1.32", hop_to="1.33", nodegroups=nodegroups)
    assert statuses(outcomes) == [Status.FAIL]
    assert outcomes[0].objects == ("nodegroup/gpu", "nodegroup/legacy") and "no AL2 AMI for 1.33" in outcomes[0].detail


def test_al2_node_group_only_warns_on_the_hop_to_1_32():
    outcomes = run("EKS-AL2-NODES", nodegroups=[nodegroup("legacy", ami_type="AL2_ARM_64")])
    assert statuses(outcomes) == [Status.WARN] and "last version with AL2 AMIs" in outcomes[0].detail


def test_custom_ami_and_self_managed_al2_nodes_are_reported_past_1_32():
    nodes = [node("ip-10-0-1-1"), node("old-al2", labels={}, kubelet="v1.32.1", os_image="Amazon Linux 2")]
    outcomes = run(
        "EKS-AL2-NODES", hop_from="1.32", hop_to="1.33", nodegroups=[nodegroup("custom", "1.32", "CUSTOM")], nodes=nodes
    )
    assert statuses(outcomes) == [Status.INFO, Status.WARN]
    assert outcomes[0].objects == ("nodegroup/custom",) and outcomes[1].objects == ("node/old-al2",)


# EKS-FOLLOW-UPS


def test_self_managed_fargate_and_karpenter_nodes_are_info_follow_ups():
    nodes = [
        node("ip-10-0-1-1"),
        node("self-1", labels={}),
        node("fargate-1", labels={"eks.amazonaws.com/compute-type": "fargate"}),
        node("karp-1", labels={"karpenter.sh/nodepool": "default"}),
        node("karp-old", labels={"karpenter.sh/provisioner-name": "default"}),
        node("auto-1", labels={"eks.amazonaws.com/compute-type": "auto", "karpenter.sh/nodepool": "system"}),
    ]
    outcomes = run("EKS-FOLLOW-UPS", nodes=nodes)
    assert statuses(outcomes) == [Status.INFO] * 4
    assert [outcome.objects for outcome in outcomes] == [
        ("node/self-1",),
        ("node/fargate-1",),
        ("node/karp-1", "node/karp-old"),
        ("node/auto-1",),
    ]
    assert "self-managed" in outcomes[0].detail and "AMI for 1.32" in outcomes[0].detail
    # Each node is named with the kubelet it runs, as owner-managed, with what its owner must do.
    kubelet = nodes[1]["status"]["nodeInfo"]["kubeletVersion"]
    assert f"self-1 ({kubelet})" in outcomes[0].detail
    assert "owner-managed" in outcomes[0].detail and "their owner must replace them" in outcomes[0].detail
