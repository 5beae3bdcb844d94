"""UpdateClusterVersion: one minor at a time, rollback within 7 days, free IPs, kubelet skew, idempotency,
injected failures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from eks_sandbox.faults import UpdateFailureFault


def _error(excinfo: pytest.ExceptionInfo) -> tuple[str, str]:
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def test_version_update_runs_for_ten_minutes_then_the_api_server_reports_the_new_version(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    kube = simulated_fleet.kube("prod")
    update = simulated_fleet.eks.update_cluster_version(name="prod", version="1.32")["update"]
    assert (update["type"], update["status"]) == ("VersionUpdate", "InProgress")
    assert {"type": "Version", "value": "1.32"} in update["params"]
    assert simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["status"] == "UPDATING"
    simulated_fleet.sandbox.clock.skip(timedelta(minutes=9))
    assert simulated_fleet.eks.describe_update(name="prod", updateId=update["id"])["update"]["status"] == "InProgress"
    assert kube.version_info()["minor"] == "31"
    simulated_fleet.sandbox.clock.skip(timedelta(minutes=1, seconds=1))
    assert simulated_fleet.eks.describe_update(name="prod", updateId=update["id"])["update"]["status"] == "Successful"
    cluster = simulated_fleet.eks.describe_cluster(name="prod")["cluster"]
    assert (cluster["status"], cluster["version"]) == ("ACTIVE", "1.32")
    assert kube.version_info()["minor"] == "32"
    assert simulated_fleet.eks.list_updates(name="prod")["updateIds"] == [update["id"]]


def test_second_update_while_one_runs_is_resource_in_use(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    update = simulated_fleet.eks.update_cluster_version(name="prod", version="1.32")["update"]
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_cluster_version(name="prod", version="1.32")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert _error(excinfo) == (
        "ResourceInUseException",
        f"Cannot UpdateClusterVersion because cluster prod currently has update {update['id']} in progress",
    )
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_cluster_config(name="prod", deletionProtection=True)
    assert _error(excinfo)[0] == "ResourceInUseException"
    # tagging is still allowed during an update (aws/aws-cdk#33452)
    simulated_fleet.eks.tag_resource(
        resourceArn=simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["arn"], tags={"a": "b"}
    )


@pytest.mark.parametrize("target", ["1.33", "1.31", "1.30"])
def test_skipping_a_minor_repeating_or_downgrading_is_refused(simulated_fleet, target):
    simulated_fleet.create_cluster(version="1.31")
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_cluster_version(name="prod", version=target)
    code, message = _error(excinfo)
    assert code == "InvalidParameterException"
    assert message.startswith(f"Unsupported Kubernetes minor version update from 1.31 to {target}")


def test_rollback_to_the_previous_minor_within_seven_days_of_the_upgrade(simulated_fleet):
    simulated_fleet.create_cluster(version="1.30")
    simulated_fleet.eks.update_cluster_version(name="prod", version="1.31")
    simulated_fleet.sandbox.settle()
    simulated_fleet.sandbox.clock.skip(timedelta(days=6))
    rollback = simulated_fleet.eks.update_cluster_version(name="prod", version="1.30")["update"]
    assert rollback["type"] == "VersionRollback"
    simulated_fleet.sandbox.settle()
    assert simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["version"] == "1.30"
    assert simulated_fleet.kube("prod").version == "1.30"
    # a rollback is not itself rolled back: 1.30 → 1.29 is a downgrade again
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_cluster_version(name="prod", version="1.29")
    assert _error(excinfo)[0] == "InvalidParameterException"


def test_rollback_after_seven_days_is_refused(simulated_fleet):
    simulated_fleet.create_cluster(version="1.30")
    simulated_fleet.eks.update_cluster_version(name="prod", version="1.31")
    simulated_fleet.sandbox.settle()
    simulated_fleet.sandbox.clock.skip(timedelta(days=7, minutes=1))
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_cluster_version(name="prod", version="1.30")
    code, message = _error(excinfo)
    assert code == "InvalidParameterException"
    assert "within 7 days" in message


def test_update_needs_five_free_ips_in_two_cluster_subnets(simulated_fleet):
    vpc = simulated_fleet.ec2.describe_subnets(SubnetIds=simulated_fleet.subnets[:1])["Subnets"][0]["VpcId"]
    # /28 subnets: 11 usable addresses each
    small = [
        simulated_fleet.ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (
            ("10.0.200.0/28", "us-east-1a"),
            ("10.0.201.0/28", "us-east-1b"),
            ("10.0.202.0/28", "us-east-1c"),
        )
    ]
    simulated_fleet.eks.create_cluster(
        name="prod",
        version="1.31",
        roleArn="arn:aws:iam::123456789012:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": small},
    )
    simulated_fleet.sandbox.settle()

    def fill(subnet_id, keep_free):
        while (
            simulated_fleet.ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["AvailableIpAddressCount"]
            > keep_free
        ):
            simulated_fleet.ec2.create_network_interface(SubnetId=subnet_id)

    fill(small[0], 4)
    # two of the three subnets with room left are still enough
    update = simulated_fleet.eks.update_cluster_version(name="prod", version="1.32")["update"]
    simulated_fleet.sandbox.settle()
    assert simulated_fleet.eks.describe_update(name="prod", updateId=update["id"])["update"]["status"] == "Successful"
    fill(small[1], 3)
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_cluster_version(name="prod", version="1.33")
    code, message = _error(excinfo)
    assert code == "InvalidRequestException"
    assert f"{small[0]} Free IPs: 4" in message and f"{small[1]} Free IPs: 3" in message
    assert "need at least 5 IPs in each subnet to be free for this operation" in message


def test_client_request_token_makes_the_update_idempotent(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    first = simulated_fleet.eks.update_cluster_version(name="prod", version="1.32", clientRequestToken="tok-1")[
        "update"
    ]
    again = simulated_fleet.eks.update_cluster_version(name="prod", version="1.32", clientRequestToken="tok-1")[
        "update"
    ]
    assert again["id"] == first["id"]
    simulated_fleet.sandbox.settle()
    replay = simulated_fleet.eks.update_cluster_version(name="prod", version="1.32", clientRequestToken="tok-1")[
        "update"
    ]
    assert (replay["id"], replay["status"]) == (first["id"], "Successful")
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_cluster_version(name="prod", version="1.33", clientRequestToken="tok-1")
    assert _error(excinfo)[0] == "InvalidParameterException"
    assert len(simulated_fleet.eks.list_updates(name="prod")["updateIds"]) == 1


def test_node_groups_too_far_behind_block_the_control_plane(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    simulated_fleet.create_nodegroup(name="old", version="1.28")
    simulated_fleet.create_nodegroup(name="current")
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_cluster_version(name="prod", version="1.32")
    code, message = _error(excinfo)
    assert code == "InvalidParameterException"
    assert "old (1.28)" in message and "current" not in message


def test_injected_failure_ends_the_update_failed_at_the_old_version(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    simulated_fleet.sandbox.faults.add(
        UpdateFailureFault(
            cluster="prod", update_type="VersionUpdate", error_code="ClusterUnreachable", message="Health checks failed"
        )
    )
    update = simulated_fleet.eks.update_cluster_version(name="prod", version="1.32")["update"]
    simulated_fleet.sandbox.settle()
    failed = simulated_fleet.eks.describe_update(name="prod", updateId=update["id"])["update"]
    assert failed["status"] == "Failed"
    assert failed["errors"] == [
        {"errorCode": "ClusterUnreachable", "errorMessage": "Health checks failed", "resourceIds": ["prod"]}
    ]
    cluster = simulated_fleet.eks.describe_cluster(name="prod")["cluster"]
    assert (cluster["status"], cluster["version"]) == ("ACTIVE", "1.31")
    assert simulated_fleet.kube("prod").version == "1.31"
    # the rule was consumed (count 1): the retry succeeds
    simulated_fleet.eks.update_cluster_version(name="prod", version="1.32")
    simulated_fleet.sandbox.settle()
    assert simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["version"] == "1.32"
