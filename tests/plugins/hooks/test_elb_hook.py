"""A region's load balancers with their tags, tagged 20 at a time as Elastic Load Balancing allows."""

from __future__ import annotations

import boto3

from eks_runbooks.hooks.elb import ClassicLoadBalancersHook, LoadBalancersHook
from tests.iam_policy import AwsCallRecorder


def subnets() -> list[str]:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    return [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]


def test_more_load_balancers_than_one_describe_tags_takes_each_get_their_own_tags(sandbox, monkeypatch):
    elbv2 = boto3.client("elbv2", region_name="us-east-1")
    zones = subnets()
    for i in range(23):
        elbv2.create_load_balancer(Name=f"lb-{i}", Subnets=zones, Tags=[{"Key": "index", "Value": str(i)}])
    calls = AwsCallRecorder().install(monkeypatch)

    found = LoadBalancersHook(
        aws_conn_id="aws_default", region_name="us-east-1", page_size=10
    ).load_balancers_with_tags()

    assert sorted((lb["LoadBalancerName"], tags["index"]) for lb, tags in found) == sorted(
        (f"lb-{i}", str(i)) for i in range(23)
    )
    actions = [call.action for call in calls.calls if call.action.startswith("elasticloadbalancing:")]
    assert actions.count("elasticloadbalancing:DescribeLoadBalancers") == 3  # pages of 10
    assert actions.count("elasticloadbalancing:DescribeTags") == 2  # 20, then 3


def test_classic_load_balancers_come_with_their_tags(sandbox):
    elb = boto3.client("elb", region_name="us-east-1")
    elb.create_load_balancer(
        LoadBalancerName="legacy",
        Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}],
        Subnets=subnets()[:1],
        Tags=[{"Key": "kubernetes.io/cluster/prod", "Value": "owned"}],
    )

    found = ClassicLoadBalancersHook(aws_conn_id="aws_default", region_name="us-east-1").load_balancers_with_tags()

    assert [(lb["LoadBalancerName"], tags) for lb, tags in found] == [
        ("legacy", {"kubernetes.io/cluster/prod": "owned"})
    ]
