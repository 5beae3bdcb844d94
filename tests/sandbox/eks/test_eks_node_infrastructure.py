"""The infrastructure behind managed node groups, read through the APIs a tool would use: the Auto Scaling group
DescribeNodegroup names, its EC2 instances, the subnets' free addresses, and the SSM public parameters naming the
EKS optimized AMIs."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from eks_sandbox import moto_compat
from eks_sandbox.kube.store import clone
from tests.sandbox.eks.kube_api import KubeApi, deployment

AL2023_X86 = "/aws/service/eks/optimized-ami/{}/amazon-linux-2023/x86_64/standard/recommended/"


def _error(excinfo: pytest.ExceptionInfo) -> tuple[str, str]:
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def _nodegroup(fleet, name="ng-1") -> dict:
    return fleet.eks.describe_nodegroup(clusterName="prod", nodegroupName=name)["nodegroup"]


def _free_ips(fleet, subnet_ids) -> dict[str, int]:
    subnets = fleet.ec2.describe_subnets(SubnetIds=list(subnet_ids))["Subnets"]
    return {subnet["SubnetId"]: subnet["AvailableIpAddressCount"] for subnet in subnets}


def _running(fleet, nodegroup: str = "ng-1") -> dict[str, dict]:
    reservations = fleet.ec2.describe_instances(
        Filters=[
            {"Name": "tag:eks:nodegroup-name", "Values": [nodegroup]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )["Reservations"]
    return {instance["InstanceId"]: instance for r in reservations for instance in r["Instances"]}


def _group(fleet, nodegroup: dict) -> dict:
    name = nodegroup["resources"]["autoScalingGroups"][0]["name"]
    return fleet.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][
        0
    ]


def _small_subnet(fleet, cidr: str, free: int) -> str:
    """A /28 in us-east-1a (11 usable addresses) with only ``free`` of them left."""
    vpc = fleet.ec2.describe_subnets(SubnetIds=[fleet.subnets[0]])["Subnets"][0]["VpcId"]
    subnet = fleet.ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    for _ in range(11 - free):
        fleet.ec2.create_network_interface(SubnetId=subnet)
    return subnet


def test_nodegroup_owns_a_tagged_auto_scaling_group_whose_instances_are_its_nodes(simulated_fleet):
    fleet = simulated_fleet
    fleet.create_cluster(version="1.31")
    before = _free_ips(fleet, fleet.subnets[:2])
    nodegroup = fleet.create_nodegroup(size=3)
    group = _group(fleet, _nodegroup(fleet))
    tags = {tag["Key"]: tag["Value"] for tag in group["Tags"]}
    assert tags["eks:cluster-name"] == "prod" and tags["eks:nodegroup-name"] == "ng-1"
    assert tags["kubernetes.io/cluster/prod"] == "owned"
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (1, 5, 3)
    assert set(group["VPCZoneIdentifier"].split(",")) == set(nodegroup["subnets"])
    instances = _running(fleet)
    assert {i["InstanceId"] for i in group["Instances"]} == set(instances)
    nodes = {node["spec"]["providerID"]: node for node in fleet.kube("prod").list("v1", "Node")}
    assert len(nodes) == 3
    for instance in instances.values():
        zone = instance["Placement"]["AvailabilityZone"]
        node = nodes[f"aws:///{zone}/{instance['InstanceId']}"]
        labels = node["metadata"]["labels"]
        assert instance["InstanceType"] == "m5.large" and instance["SubnetId"] in fleet.subnets[:2]
        assert instance["ImageId"] == labels["eks.amazonaws.com/nodegroup-image"]
        assert node["metadata"]["name"] == instance["PrivateDnsName"] == labels["kubernetes.io/hostname"]
        assert node["metadata"]["name"] == f"ip-{instance['PrivateIpAddress'].replace('.', '-')}.ec2.internal"
        assert {"type": "InternalIP", "address": instance["PrivateIpAddress"]} in node["status"]["addresses"]
        assert labels["topology.kubernetes.io/zone"] == zone
    # each node took one address of its subnet: three nodes over two subnets, two in one and one in the other
    taken = {subnet: before[subnet] - free for subnet, free in _free_ips(fleet, fleet.subnets[:2]).items()}
    assert sorted(taken.values()) == [1, 2]


def test_pods_take_addresses_of_their_nodes_subnet_that_no_node_or_other_pod_holds(simulated_fleet, tmp_path):
    fleet = simulated_fleet
    fleet.create_cluster(version="1.31")
    fleet.create_nodegroup(size=3)
    kube = KubeApi(fleet, "prod", tmp_path)
    kube.create(deployment("web", "default", replicas=12))
    kube.create(deployment("agent", "default", replicas=2, hostNetwork=True))
    fleet.sandbox.settle()
    cidrs = {s["SubnetId"]: ipaddress.ip_network(s["CidrBlock"]) for s in fleet.ec2.describe_subnets()["Subnets"]}
    subnet_of = {i["PrivateIpAddress"]: cidrs[i["SubnetId"]] for i in _running(fleet).values()}
    host_of = {node["metadata"]["name"]: node["status"]["addresses"][0]["address"] for node in kube.nodes()}
    pods = kube.pods("default") + kube.pods("kube-system")
    pod_ips = [pod["status"]["podIP"] for pod in pods if not pod["spec"].get("hostNetwork")]
    assert len(pod_ips) >= 12 and len(set(pod_ips)) == len(pod_ips), "no two pods share an address"
    assert not set(pod_ips) & set(host_of.values()), "no pod holds a node's address"
    for pod in pods:
        host_ip, pod_ip = host_of[pod["spec"]["nodeName"]], pod["status"]["podIP"]
        assert pod["status"]["hostIP"] == host_ip and pod["status"]["podIPs"] == [{"ip": pod_ip}]
        if pod["spec"].get("hostNetwork"):
            assert pod_ip == host_ip
        else:
            # The VPC CNI gives a pod a secondary address of its node's ENI, out of the node's subnet.
            subnet = subnet_of[host_ip]
            assert ipaddress.ip_address(pod_ip) in subnet
            assert pod_ip not in {str(subnet.network_address + n) for n in range(4)} | {str(subnet[-1])}


def test_a_node_launched_later_does_not_take_an_address_a_pod_holds(simulated_fleet, tmp_path):
    fleet = simulated_fleet
    fleet.create_cluster(version="1.31")
    subnet = fleet.subnets[0]
    fleet.eks.create_nodegroup(
        clusterName="prod",
        nodegroupName="ng-1",
        subnets=[subnet],
        nodeRole=fleet.node_role,
        instanceTypes=["m5.large"],
        scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 1},
    )
    fleet.sandbox.settle()
    KubeApi(fleet, "prod", tmp_path).create(deployment("web", "default", replicas=1))
    fleet.sandbox.settle()
    kube = fleet.kube("prod")
    # The address the next instance would take is the one this pod holds (pods' addresses are not ENIs').
    next_free = moto_compat.free_private_ip("123456789012", "us-east-1", subnet)
    (pod,) = [clone(p) for p in kube.store.all("", "Pod", "default")]
    pod["status"]["podIP"], pod["status"]["podIPs"] = next_free, [{"ip": next_free}]
    kube.store.save("", "Pod", pod)
    fleet.eks.update_nodegroup_config(clusterName="prod", nodegroupName="ng-1", scalingConfig={"desiredSize": 2})
    fleet.sandbox.settle()
    addresses = {i["PrivateIpAddress"] for i in _running(fleet).values()}
    assert len(addresses) == 2 and next_free not in addresses


def test_scaling_in_terminates_instances_and_gives_their_addresses_back(simulated_fleet):
    fleet = simulated_fleet
    fleet.create_cluster(version="1.31")
    before = _free_ips(fleet, fleet.subnets[:2])
    fleet.create_nodegroup(size=3)
    fleet.eks.update_nodegroup_config(clusterName="prod", nodegroupName="ng-1", scalingConfig={"desiredSize": 1})
    fleet.sandbox.settle()
    assert len(_running(fleet)) == 1 == len(fleet.kube("prod").list("v1", "Node"))
    assert _group(fleet, _nodegroup(fleet))["DesiredCapacity"] == 1
    assert sum(before.values()) - sum(_free_ips(fleet, fleet.subnets[:2]).values()) == 1
    fleet.eks.delete_nodegroup(clusterName="prod", nodegroupName="ng-1")
    fleet.sandbox.settle()
    assert _running(fleet) == {} and _free_ips(fleet, fleet.subnets[:2]) == before
    groups = fleet.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert groups == []


def test_version_update_launches_new_instances_and_terminates_the_old_ones(simulated_fleet):
    fleet = simulated_fleet
    fleet.create_cluster(version="1.31")
    fleet.create_nodegroup(size=2, version="1.30")
    old = set(_running(fleet))
    free = sum(_free_ips(fleet, fleet.subnets[:2]).values())
    update = fleet.eks.update_nodegroup_version(clusterName="prod", nodegroupName="ng-1")["update"]
    fleet.sandbox.settle()
    described = fleet.eks.describe_update(name="prod", nodegroupName="ng-1", updateId=update["id"])["update"]
    assert described["status"] == "Successful"
    new = _running(fleet)
    assert len(new) == 2 and not old & set(new)
    assert {i["InstanceId"] for i in _group(fleet, _nodegroup(fleet))["Instances"]} == set(new)
    assert sum(_free_ips(fleet, fleet.subnets[:2]).values()) == free
    release = _nodegroup(fleet)["releaseVersion"]
    assert release.startswith("1.31.")
    images = {
        node["metadata"]["labels"]["eks.amazonaws.com/nodegroup-image"]
        for node in fleet.kube("prod").list("v1", "Node")
    }
    assert {instance["ImageId"] for instance in new.values()} == images


def test_nodegroup_in_subnets_without_free_addresses_fails_to_create(simulated_fleet):
    fleet = simulated_fleet
    fleet.create_cluster(version="1.31")
    full = _small_subnet(fleet, "10.0.48.0/28", free=0)
    fleet.eks.create_nodegroup(
        clusterName="prod",
        nodegroupName="ng-1",
        subnets=[full],
        nodeRole="arn:aws:iam::123456789012:role/eks-node",
        scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1},
    )
    fleet.sandbox.settle()
    nodegroup = _nodegroup(fleet)
    assert nodegroup["status"] == "CREATE_FAILED"
    assert [(i["code"], i["resourceIds"]) for i in nodegroup["health"]["issues"]] == [
        ("InsufficientFreeAddresses", [full])
    ]
    assert _running(fleet) == {} and fleet.kube("prod").list("v1", "Node") == []


def test_scaling_past_the_free_addresses_fails_the_update_and_degrades_the_nodegroup(simulated_fleet):
    fleet = simulated_fleet
    fleet.create_cluster(version="1.31")
    tight = _small_subnet(fleet, "10.0.48.0/28", free=2)
    fleet.eks.create_nodegroup(
        clusterName="prod",
        nodegroupName="ng-1",
        subnets=[tight],
        nodeRole="arn:aws:iam::123456789012:role/eks-node",
        scalingConfig={"minSize": 1, "maxSize": 4, "desiredSize": 1},
    )
    fleet.sandbox.settle()
    update = fleet.eks.update_nodegroup_config(
        clusterName="prod", nodegroupName="ng-1", scalingConfig={"desiredSize": 4}
    )["update"]
    fleet.sandbox.settle()
    described = fleet.eks.describe_update(name="prod", nodegroupName="ng-1", updateId=update["id"])["update"]
    assert described["status"] == "Failed"
    assert [(e["errorCode"], e["resourceIds"]) for e in described["errors"]] == [("InsufficientFreeAddresses", [tight])]
    nodegroup = _nodegroup(fleet)
    assert nodegroup["status"] == "DEGRADED"
    assert nodegroup["health"]["issues"][0]["code"] == "InsufficientFreeAddresses"
    # the one address left went to a second node; there was none for the other two
    assert len(_running(fleet)) == 2 and _free_ips(fleet, [tight]) == {tight: 0}


def test_version_update_without_an_address_for_a_new_node_fails_before_draining(simulated_fleet):
    fleet = simulated_fleet
    fleet.create_cluster(version="1.31")
    tight = _small_subnet(fleet, "10.0.48.0/28", free=1)
    fleet.eks.create_nodegroup(
        clusterName="prod",
        nodegroupName="ng-1",
        subnets=[tight],
        nodeRole="arn:aws:iam::123456789012:role/eks-node",
        scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1},
        version="1.30",
    )
    fleet.sandbox.settle()
    old = set(_running(fleet))
    update = fleet.eks.update_nodegroup_version(clusterName="prod", nodegroupName="ng-1")["update"]
    fleet.sandbox.settle()
    described = fleet.eks.describe_update(name="prod", nodegroupName="ng-1", updateId=update["id"])["update"]
    assert (described["status"], described["errors"][0]["errorCode"]) == ("Failed", "InsufficientFreeAddresses")
    nodegroup = _nodegroup(fleet)
    assert (nodegroup["status"], nodegroup["version"]) == ("ACTIVE", "1.30")
    assert set(_running(fleet)) == old
    assert not fleet.kube("prod").list("v1", "Node")[0]["spec"].get("unschedulable")


def test_ssm_public_parameters_name_the_eks_optimized_amis_of_the_world_date(simulated_fleet):
    fleet = simulated_fleet
    ssm = fleet.client("ssm")
    fleet.create_cluster(version="1.31")
    nodegroup = fleet.create_nodegroup(size=1)
    image = ssm.get_parameter(Name=AL2023_X86.format("1.31") + "image_id")["Parameter"]
    release = ssm.get_parameter(Name=AL2023_X86.format("1.31") + "release_version")["Parameter"]["Value"]
    assert release == nodegroup["releaseVersion"]
    node = fleet.kube("prod").list("v1", "Node")[0]
    assert image["Value"] == node["metadata"]["labels"]["eks.amazonaws.com/nodegroup-image"]
    names = [
        "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/arm64/standard/recommended/image_id",
        "/aws/service/eks/optimized-ami/1.32/amazon-linux-2/recommended/image_id",
        "/aws/service/eks/optimized-ami/1.32/amazon-linux-2-arm64/recommended/release_version",
        "/aws/service/bottlerocket/aws-k8s-1.33/x86_64/latest/image_id",
        "/aws/service/bottlerocket/aws-k8s-1.33/arm64/latest/image_id",
        # AL2 ends at 1.32; 1.34 is not released on the simulated date (2025-09-01)
        "/aws/service/eks/optimized-ami/1.33/amazon-linux-2/recommended/image_id",
        "/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/standard/recommended/image_id",
    ]
    found = ssm.get_parameters(Names=names)
    assert {p["Name"] for p in found["Parameters"]} == set(names[:5])
    assert set(found["InvalidParameters"]) == set(names[5:])
    by_path = ssm.get_paginator("get_parameters_by_path").paginate(
        Path="/aws/service/eks/optimized-ami/1.31/amazon-linux-2023", Recursive=True
    )
    listed = {p["Name"] for page in by_path for p in page["Parameters"]}
    assert AL2023_X86.format("1.31") + "image_id" in listed and len(listed) == 6
    # a new release comes out every 14 days: the parameter moves to it, as a new version
    fleet.sandbox.clock.skip(timedelta(days=14))
    newer = ssm.get_parameter(Name=AL2023_X86.format("1.31") + "image_id")["Parameter"]
    assert newer["Value"] != image["Value"] and newer["Version"] == image["Version"] + 1
    newer_release = ssm.get_parameter(Name=AL2023_X86.format("1.31") + "release_version")["Parameter"]["Value"]
    assert newer_release > release


def test_release_version_must_be_published_for_the_version_by_the_world_date(simulated_fleet):
    fleet = simulated_fleet
    ssm = fleet.client("ssm")
    fleet.create_cluster(version="1.31")
    latest = ssm.get_parameter(Name=AL2023_X86.format("1.31") + "release_version")["Parameter"]["Value"]
    patch = latest.split("-")[0]
    for unpublished in (f"{patch}-20990101", "1.31.0-20250101"):
        with pytest.raises(ClientError) as excinfo:
            fleet.create_nodegroup(releaseVersion=unpublished)
        assert _error(excinfo) == (
            "InvalidParameterException",
            f"Requested release version {unpublished} is not valid for kubernetes version 1.31",
        )
    fleet.create_nodegroup(size=1, version="1.30")
    with pytest.raises(ClientError) as excinfo:
        fleet.eks.update_nodegroup_version(clusterName="prod", nodegroupName="ng-1", releaseVersion=f"{patch}-20990101")
    assert _error(excinfo)[0] == "InvalidParameterException"
    fleet.eks.update_nodegroup_version(clusterName="prod", nodegroupName="ng-1", releaseVersion=latest)
    fleet.sandbox.settle()
    assert _nodegroup(fleet)["releaseVersion"] == latest


def test_launch_template_nodegroup_moves_to_the_ami_a_new_release_publishes(simulated_fleet):
    fleet = simulated_fleet
    ssm = fleet.client("ssm")
    fleet.create_cluster(version="1.31")
    first = ssm.get_parameter(Name=AL2023_X86.format("1.31") + "image_id")["Parameter"]["Value"]
    template = fleet.ec2.create_launch_template(
        LaunchTemplateName="nodes", LaunchTemplateData={"ImageId": first, "InstanceType": "m5.large"}
    )["LaunchTemplate"]
    fleet.eks.create_nodegroup(
        clusterName="prod",
        nodegroupName="ng-1",
        subnets=fleet.subnets[:2],
        nodeRole="arn:aws:iam::123456789012:role/eks-node",
        launchTemplate={"id": template["LaunchTemplateId"]},
        scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2},
    )
    fleet.sandbox.settle()
    assert {i["ImageId"] for i in _running(fleet).values()} == {first}
    fleet.sandbox.clock.skip(timedelta(days=14))
    second = ssm.get_parameter(Name=AL2023_X86.format("1.31") + "image_id")["Parameter"]["Value"]
    version = fleet.ec2.create_launch_template_version(
        LaunchTemplateId=template["LaunchTemplateId"], SourceVersion="1", LaunchTemplateData={"ImageId": second}
    )["LaunchTemplateVersion"]["VersionNumber"]
    target = {"id": template["LaunchTemplateId"], "version": str(version)}
    with pytest.raises(ClientError) as excinfo:
        fleet.eks.update_nodegroup_version(
            clusterName="prod", nodegroupName="ng-1", launchTemplate=target, releaseVersion="1.31.14-20251120"
        )
    assert _error(excinfo)[0] == "InvalidParameterException" and "custom AMI" in _error(excinfo)[1]
    fleet.eks.update_nodegroup_version(clusterName="prod", nodegroupName="ng-1", launchTemplate=target)
    fleet.sandbox.settle()
    nodegroup = _nodegroup(fleet)
    assert (nodegroup["releaseVersion"], nodegroup["launchTemplate"]["version"]) == (second, str(version))
    assert {i["ImageId"] for i in _running(fleet).values()} == {second}
    images = {
        n["metadata"]["labels"]["eks.amazonaws.com/nodegroup-image"] for n in fleet.kube("prod").list("v1", "Node")
    }
    assert images == {second}


def _tight_fleet(region: str, free_a: int, free_b: int) -> dict:
    """Two /28 subnets (11 usable addresses each) and a four-node group spread over them."""
    subnets = [
        {"name": "tight-a", "az": f"{region}a", "cidr": "10.50.0.0/28", "free_ips": free_a},
        {"name": "tight-b", "az": f"{region}b", "cidr": "10.50.0.16/28", "free_ips": free_b},
    ]
    cluster = {"name": "edge", "version": "1.31", "nodegroups": [{"name": "small", "size": 4}]}
    network = {"vpc_cidr": "10.50.0.0/16", "subnets": subnets}
    return {"accounts": [{"id": "123456789012", "regions": {region: {"network": network, "clusters": [cluster]}}}]}


def test_a_fleet_files_free_ips_are_what_describe_subnets_answers_once_its_nodes_joined(simulated_fleet):
    from eks_sandbox.fleet import load_fleet

    fleet = simulated_fleet
    region = "us-east-2"
    load_fleet(fleet.sandbox, _tight_fleet(region, free_a=3, free_b=0))
    ec2 = fleet.client("ec2", region=region)
    subnets = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": ["tight-a", "tight-b"]}])["Subnets"]
    assert sorted(s["AvailableIpAddressCount"] for s in subnets) == [0, 3]
    reservations = ec2.describe_instances()["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert len(instances) == 4
    # the fill never takes an address an instance holds
    addresses = [i["PrivateIpAddress"] for i in instances] + [
        a["PrivateIpAddress"]
        for eni in ec2.describe_network_interfaces()["NetworkInterfaces"]
        if not eni.get("Attachment")
        for a in eni["PrivateIpAddresses"]
    ]
    assert len(addresses) == len(set(addresses)) == 4 + (11 - 2 - 3) + (11 - 2 - 0)


def test_a_fleet_asking_for_more_free_ips_than_its_nodes_left_is_refused(simulated_fleet):
    from eks_sandbox.fleet import FleetError, load_fleet

    with pytest.raises(FleetError) as excinfo:
        load_fleet(simulated_fleet.sandbox, _tight_fleet("us-east-2", free_a=10, free_b=3))
    assert "free IPs of the subnets of account 123456789012 in us-east-2" in str(excinfo.value)
    assert "has 9 free IPs once the fleet's nodes joined, fewer than its free_ips: 10" in str(excinfo.value)
