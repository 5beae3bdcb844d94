"""EksRunbookHook and Ec2NetworkHook read every page: proven on the sandbox with one item per page."""

from __future__ import annotations

import pytest


@pytest.fixture
def hook(demo_fleet):
    from eks_runbooks.hooks.eks import EksRunbookHook

    return EksRunbookHook(aws_conn_id="aws_default", region_name="us-east-1", page_size=1)


def calls(sandbox, operation: str) -> int:
    return sandbox.api_calls[("eks", operation)]


def test_node_groups_and_add_ons_are_read_past_the_first_page(hook, demo_fleet):
    demo_fleet.api_calls.clear()
    assert [ng["nodegroupName"] for ng in hook.describe_nodegroups("payments-prod")] == ["batch", "general"]
    assert calls(demo_fleet, "ListNodegroups") == 2
    addons = sorted(addon["addonName"] for addon in hook.describe_addons("payments-prod"))
    assert addons == ["coredns", "eks-pod-identity-agent", "kube-proxy", "vpc-cni"]
    assert calls(demo_fleet, "ListAddons") == 4


def test_add_on_versions_and_the_calendar_are_read_past_the_first_page(hook, demo_fleet):
    demo_fleet.api_calls.clear()
    published = {entry["addonName"] for entry in hook.describe_addon_versions("1.33")}
    assert {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"} <= published
    assert calls(demo_fleet, "DescribeAddonVersions") >= len(published)
    calendar = {row["clusterVersion"]: row["versionStatus"] for row in hook.describe_cluster_versions()}
    assert calendar["1.32"] == "STANDARD_SUPPORT" and calendar["1.28"] == "UNSUPPORTED"
    assert calls(demo_fleet, "DescribeClusterVersions") >= len(calendar)


def test_the_whole_add_on_catalogue_is_read_across_pages_of_ten(demo_fleet):
    from eks_runbooks.hooks.eks import EksRunbookHook

    demo_fleet.api_calls.clear()
    whole = EksRunbookHook(aws_conn_id="aws_default", region_name="us-east-1").describe_addon_versions("1.33")
    assert calls(demo_fleet, "DescribeAddonVersions") == 1  # EKS's default page holds 100 add-ons
    paged = EksRunbookHook(aws_conn_id="aws_default", region_name="us-east-1", page_size=10)
    read = paged.describe_addon_versions("1.33")
    assert [entry["addonName"] for entry in read] == [entry["addonName"] for entry in whole]
    assert {"metrics-server", "amazon-cloudwatch-observability", "aws-ebs-csi-driver"} <= {e["addonName"] for e in read}
    assert calls(demo_fleet, "DescribeAddonVersions") == 1 + -(-len(whole) // 10) > 2


def test_recent_updates_are_newest_first_across_pages(hook, demo_fleet):
    eks = hook.conn
    eks.update_cluster_config(name="payments-prod", logging={"clusterLogging": [{"types": ["api"], "enabled": False}]})
    demo_fleet.settle()
    eks.update_cluster_config(name="payments-prod", deletionProtection=False)
    demo_fleet.settle()
    recent = hook.recent_updates("payments-prod")
    assert [update["type"] for update in recent][:2] == ["DeletionProtectionUpdate", "LoggingUpdate"]
    assert hook.recent_updates("payments-prod", limit=1) == recent[:1]


def test_upgrade_insights_are_described_after_a_refresh(hook):
    insights = hook.describe_insights("payments-prod", ["UPGRADE_READINESS"], refresh=True, waiter_delay=0.01)
    assert insights and {insight["category"] for insight in insights} == {"UPGRADE_READINESS"}


def test_an_update_operation_outside_the_three_is_refused(hook):
    with pytest.raises(ValueError, match="delete_cluster is not an EKS update"):
        hook.start_update("delete_cluster", {"name": "payments-prod"})


def test_network_reads_follow_every_page(demo_fleet):
    from eks_runbooks.hooks.ec2 import Ec2NetworkHook
    from eks_runbooks.hooks.eks import EksRunbookHook

    cluster = EksRunbookHook(aws_conn_id="aws_default", region_name="us-east-1").get_cluster("payments-prod")
    network = Ec2NetworkHook(aws_conn_id="aws_default", region_name="us-east-1", page_size=5)
    tables = network.describe_route_tables(cluster["resourcesVpcConfig"]["vpcId"])
    assert any(route.get("GatewayId", "").startswith("igw-") for table in tables for route in table["Routes"])
    subnets = network.describe_subnets(cluster["resourcesVpcConfig"]["subnetIds"])
    assert sorted(s["SubnetId"] for s in subnets) == sorted(cluster["resourcesVpcConfig"]["subnetIds"])
