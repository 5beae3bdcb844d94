"""A fleet task reads many clusters of one connection and region through one session: one AssumeRole, one
client per service, the region's catalogue and load balancers read once."""

from __future__ import annotations

from collections import Counter

from eks_runbooks.hooks.ec2 import Ec2NetworkHook
from eks_runbooks.hooks.eks import EksRunbookHook
from eks_runbooks.hooks.elb import ClassicLoadBalancersHook, LoadBalancersHook

CLUSTERS = ("payments-prod", "analytics-staging")


def calls_during(sandbox, read) -> Counter:
    before = sandbox.api_calls.copy()
    read()
    return sandbox.api_calls - before


def test_reading_two_clusters_through_a_hook_and_its_siblings_assumes_the_role_once(demo_fleet, monkeypatch):
    import botocore.session

    created = Counter()
    create_client = botocore.session.Session.create_client

    def counted(session, service_name, *args, **kwargs):
        created[service_name] += 1
        return create_client(session, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counted)
    hook = EksRunbookHook(aws_conn_id="aws_platform_admin", region_name="us-east-1")

    def read_two_clusters():
        for name in CLUSTERS:
            vpc = hook.get_cluster(name)["resourcesVpcConfig"]["vpcId"]
            hook.sibling(Ec2NetworkHook).describe_route_tables(vpc)
            hook.sibling(LoadBalancersHook).load_balancers_with_tags()
            hook.sibling(ClassicLoadBalancersHook).load_balancers_with_tags()
            assert hook.kubernetes_token(name).startswith("k8s-aws-v1.")

    calls = calls_during(demo_fleet, read_two_clusters)

    assert calls[("sts", "AssumeRole")] == 1
    assert created == {"sts": 2, "eks": 1, "ec2": 1, "elbv2": 1, "elb": 1}  # STS: the role's, the token's endpoint
    assert hook.sibling(Ec2NetworkHook).get_session() is hook.get_session()


def test_the_regions_version_calendar_add_on_versions_and_load_balancers_are_read_once_per_hook(demo_fleet):
    hook = EksRunbookHook(aws_conn_id="aws_default", region_name="us-east-1")

    def read_twice():
        for _ in range(2):
            hook.describe_cluster_versions()
            hook.describe_cluster_version("1.32")
            hook.describe_addon_versions("1.32")
            hook.sibling(LoadBalancersHook).load_balancers_with_tags()

    calls = calls_during(demo_fleet, read_twice)

    assert calls[("eks", "DescribeClusterVersions")] == 2  # the calendar, and the one version
    assert calls[("eks", "DescribeAddonVersions")] >= 1
    assert calls[("elasticloadbalancing", "DescribeLoadBalancers")] == 1
    assert hook.describe_addon_versions("1.32") == EksRunbookHook(
        aws_conn_id="aws_default", region_name="us-east-1"
    ).describe_addon_versions("1.32")


def test_a_fresh_hook_reads_the_catalogue_again(demo_fleet):
    first = EksRunbookHook(aws_conn_id="aws_default", region_name="us-east-1")
    second = EksRunbookHook(aws_conn_id="aws_default", region_name="us-east-1")
    calls = calls_during(demo_fleet, lambda: (first.describe_cluster_versions(), second.describe_cluster_versions()))
    assert calls[("eks", "DescribeClusterVersions")] == 2
