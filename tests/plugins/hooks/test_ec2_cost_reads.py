"""The EC2 reads the cost audit makes: the instance types its nodes run, the EBS volumes behind its claims."""

from __future__ import annotations

import boto3

from eks_runbooks.hooks.ec2 import Ec2NetworkHook


def test_a_persistent_volume_whose_ebs_volume_is_gone_does_not_hide_the_others(sandbox):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    kept = ec2.create_volume(AvailabilityZone="us-east-1a", Size=100, VolumeType="gp2")["VolumeId"]

    found = Ec2NetworkHook(aws_conn_id="aws_default", region_name="us-east-1").find_volumes(
        [kept, "vol-0123456789abcdef0"]
    )

    assert [(volume["VolumeId"], volume["Size"], volume["VolumeType"]) for volume in found] == [(kept, 100, "gp2")]


def test_instance_types_are_described_each_once(sandbox):
    described = Ec2NetworkHook(aws_conn_id="aws_default", region_name="us-east-1").describe_instance_types(
        ["m5.large", "t3.medium", "m5.large"]
    )

    assert sorted(entry["InstanceType"] for entry in described) == ["m5.large", "t3.medium"]
