"""Managed node groups: nodes in the Kubernetes API, configuration updates, version updates that replace nodes,
PodDisruptionBudgets that block drains, launch templates with custom AMIs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError


def _error(excinfo: pytest.ExceptionInfo) -> tuple[str, str]:
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def _nodes(kube, nodegroup="ng-1"):
    return kube.list("v1", "Node", label_selector=f"eks.amazonaws.com/nodegroup={nodegroup}")


def _web(kube, replicas=2, max_unavailable=None):
    kube.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                },
            },
        }
    )
    if max_unavailable is not None:
        kube.apply(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "web-pdb", "namespace": "default"},
                "spec": {"maxUnavailable": max_unavailable, "selector": {"matchLabels": {"app": "web"}}},
            }
        )


def test_create_nodegroup_registers_ready_nodes_with_eks_labels(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    created = simulated_fleet.eks.create_nodegroup(
        clusterName="prod",
        nodegroupName="ng-1",
        subnets=simulated_fleet.subnets[:2],
        instanceTypes=["m5.large"],
        nodeRole="arn:aws:iam::123456789012:role/eks-node",
        labels={"team": "a"},
        taints=[{"key": "dedicated", "value": "a", "effect": "NO_SCHEDULE"}],
        scalingConfig={"minSize": 1, "maxSize": 4, "desiredSize": 3},
    )["nodegroup"]
    assert created["status"] == "CREATING"
    assert (created["amiType"], created["version"]) == ("AL2023_x86_64_STANDARD", "1.31")
    assert created["releaseVersion"].startswith("1.31.")
    kube = simulated_fleet.kube("prod")
    assert _nodes(kube) == []
    simulated_fleet.sandbox.clock.skip(timedelta(minutes=4, seconds=1))
    assert (
        simulated_fleet.eks.describe_nodegroup(clusterName="prod", nodegroupName="ng-1")["nodegroup"]["status"]
        == "ACTIVE"
    )
    nodes = _nodes(kube)
    assert len(nodes) == 3
    node = nodes[0]
    labels = node["metadata"]["labels"]
    assert node["metadata"]["name"].endswith(".ec2.internal")
    assert labels["eks.amazonaws.com/capacityType"] == "ON_DEMAND"
    assert labels["node.kubernetes.io/instance-type"] == "m5.large"
    assert labels["topology.kubernetes.io/zone"] in ("us-east-1a", "us-east-1b")
    assert (labels["kubernetes.io/os"], labels["kubernetes.io/arch"], labels["team"]) == ("linux", "amd64", "a")
    assert labels["eks.amazonaws.com/nodegroup-image"].startswith("ami-")
    assert node["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.31.")
    # m5.large: 2 vCPUs, 8 GiB, 3 ENIs x (10 - 1) + 2 = 29 pods
    assert node["status"]["capacity"]["cpu"] == "2"
    assert node["status"]["capacity"]["pods"] == "29"
    assert node["spec"]["providerID"].startswith(f"aws:///{labels['topology.kubernetes.io/zone']}/i-")
    assert {"key": "dedicated", "value": "a", "effect": "NoSchedule"} in node["spec"]["taints"]
    # CONFIG_MAP cluster: the node role is mapped in aws-auth, as EKS does for managed node groups
    aws_auth = kube.get("v1", "ConfigMap", "aws-auth", "kube-system")
    assert "arn:aws:iam::123456789012:role/eks-node" in aws_auth["data"]["mapRoles"]


def test_nodegroup_rules_on_versions_ami_types_and_launch_templates(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.create_nodegroup(version="1.32")
    assert _error(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.create_nodegroup(version="1.31", releaseVersion="1.30.14-20251120")
    assert _error(excinfo) == (
        "InvalidParameterException",
        "Requested release version 1.30.14-20251120 is not valid for kubernetes version 1.31",
    )
    simulated_fleet.create_nodegroup(name="al2", amiType="AL2_x86_64")  # AL2 AMIs exist up to 1.32
    template = simulated_fleet.ec2.create_launch_template(
        LaunchTemplateName="custom", LaunchTemplateData={"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"}
    )["LaunchTemplate"]
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_nodegroup(
            clusterName="prod",
            nodegroupName="custom",
            subnets=simulated_fleet.subnets[:2],
            nodeRole="arn:aws:iam::123456789012:role/eks-node",
            amiType="AL2023_x86_64_STANDARD",
            launchTemplate={"id": template["LaunchTemplateId"]},
        )
    assert "custom AMI" in _error(excinfo)[1]
    custom = simulated_fleet.eks.create_nodegroup(
        clusterName="prod",
        nodegroupName="custom",
        subnets=simulated_fleet.subnets[:2],
        nodeRole="arn:aws:iam::123456789012:role/eks-node",
        launchTemplate={"id": template["LaunchTemplateId"]},
    )["nodegroup"]
    assert (custom["amiType"], custom["releaseVersion"]) == ("CUSTOM", "ami-0123456789abcdef0")
    assert custom["launchTemplate"] == {"name": "custom", "version": "1", "id": template["LaunchTemplateId"]}
    simulated_fleet.sandbox.settle()
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_nodegroup_version(clusterName="prod", nodegroupName="custom", version="1.31")
    assert _error(excinfo)[0] == "InvalidParameterException"


def test_update_nodegroup_config_scales_and_relabels_running_nodes(simulated_fleet):
    simulated_fleet.create_cluster()
    simulated_fleet.create_nodegroup(size=2)
    update = simulated_fleet.eks.update_nodegroup_config(
        clusterName="prod",
        nodegroupName="ng-1",
        scalingConfig={"desiredSize": 3},
        labels={"addOrUpdateLabels": {"tier": "web"}},
    )["update"]
    assert (update["type"], update["status"]) == ("ConfigUpdate", "InProgress")
    assert {"type": "DesiredSize", "value": "3"} in update["params"]
    assert simulated_fleet.eks.list_updates(name="prod", nodegroupName="ng-1")["updateIds"] == [update["id"]]
    assert simulated_fleet.eks.list_updates(name="prod")["updateIds"] == []
    simulated_fleet.sandbox.settle()
    nodes = _nodes(simulated_fleet.kube("prod"))
    assert len(nodes) == 3
    assert all(n["metadata"]["labels"]["tier"] == "web" for n in nodes)
    described = simulated_fleet.eks.describe_update(name="prod", updateId=update["id"], nodegroupName="ng-1")["update"]
    assert described["status"] == "Successful"
    simulated_fleet.eks.update_nodegroup_config(
        clusterName="prod", nodegroupName="ng-1", scalingConfig={"desiredSize": 1}
    )
    simulated_fleet.sandbox.settle()
    assert len(_nodes(simulated_fleet.kube("prod"))) == 1


def test_version_update_replaces_every_node_and_moves_pods(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    simulated_fleet.create_nodegroup(version="1.30", size=2)
    kube = simulated_fleet.kube("prod")
    _web(kube, replicas=2, max_unavailable=1)
    old_names = {n["metadata"]["name"] for n in _nodes(kube)}
    update = simulated_fleet.eks.update_nodegroup_version(clusterName="prod", nodegroupName="ng-1")["update"]
    assert update["type"] == "VersionUpdate"
    assert {"type": "Version", "value": "1.31"} in update["params"]
    assert (
        simulated_fleet.eks.describe_nodegroup(clusterName="prod", nodegroupName="ng-1")["nodegroup"]["status"]
        == "UPDATING"
    )
    simulated_fleet.sandbox.settle()
    described = simulated_fleet.eks.describe_update(name="prod", updateId=update["id"], nodegroupName="ng-1")["update"]
    assert described["status"] == "Successful"
    nodegroup = simulated_fleet.eks.describe_nodegroup(clusterName="prod", nodegroupName="ng-1")["nodegroup"]
    assert (nodegroup["status"], nodegroup["version"]) == ("ACTIVE", "1.31")
    nodes = _nodes(kube)
    assert len(nodes) == 2
    assert not old_names & {n["metadata"]["name"] for n in nodes}
    assert all(n["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.31.") for n in nodes)
    pods = kube.list("v1", "Pod", "default", label_selector="app=web")
    assert len(pods) == 2 and all(p["spec"].get("nodeName") not in old_names for p in pods)


def test_a_drain_comes_out_the_same_when_no_request_arrives_while_it_runs(simulated_fleet):
    # Nobody asks for half an hour: the next request runs the whole drain at once. Each replacement pod is
    # timed from the eviction that made it, not from that late request, so the budget lets the drain through.
    simulated_fleet.create_cluster(version="1.31")
    simulated_fleet.create_nodegroup(version="1.30", size=2)
    _web(simulated_fleet.kube("prod"), replicas=2, max_unavailable=1)
    update = simulated_fleet.eks.update_nodegroup_version(clusterName="prod", nodegroupName="ng-1")["update"]
    simulated_fleet.sandbox.clock.skip(timedelta(minutes=30))
    described = simulated_fleet.eks.describe_update(name="prod", updateId=update["id"], nodegroupName="ng-1")["update"]
    assert (described["status"], described["errors"]) == ("Successful", [])


def test_pdb_that_allows_no_disruption_fails_the_update_after_fifteen_minutes(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    simulated_fleet.create_nodegroup(version="1.30", size=1)
    kube = simulated_fleet.kube("prod")
    _web(kube, replicas=1, max_unavailable=0)
    pod = kube.list("v1", "Pod", "default", label_selector="app=web")[0]["metadata"]["name"]
    update = simulated_fleet.eks.update_nodegroup_version(clusterName="prod", nodegroupName="ng-1")["update"]
    simulated_fleet.sandbox.clock.skip(timedelta(minutes=14))  # setup 1 + join 3 + 10 minutes of refused evictions
    assert (
        simulated_fleet.eks.describe_update(name="prod", updateId=update["id"], nodegroupName="ng-1")["update"][
            "status"
        ]
        == "InProgress"
    )
    simulated_fleet.sandbox.clock.skip(timedelta(minutes=6))
    failed = simulated_fleet.eks.describe_update(name="prod", updateId=update["id"], nodegroupName="ng-1")["update"]
    assert failed["status"] == "Failed"
    error = failed["errors"][0]
    assert error["errorCode"] == "PodEvictionFailure"
    # EKS's message names the node group only; the nodes are the resourceIds (aws/containers-roadmap#1282)
    assert error["errorMessage"] == "Reached max retries while trying to evict pods from nodes in node group ng-1"
    assert kube.get("v1", "Pod", pod, "default")["spec"]["nodeName"] in error["resourceIds"]
    nodegroup = simulated_fleet.eks.describe_nodegroup(clusterName="prod", nodegroupName="ng-1")["nodegroup"]
    assert (nodegroup["status"], nodegroup["version"]) == ("ACTIVE", "1.30")
    nodes = _nodes(kube)
    assert len(nodes) == 2  # the new node stays, the blocked old one stays cordoned
    assert [n["spec"].get("unschedulable", False) for n in nodes if n["metadata"]["name"] in error["resourceIds"]] == [
        True
    ]

    forced = simulated_fleet.eks.update_nodegroup_version(clusterName="prod", nodegroupName="ng-1", force=True)[
        "update"
    ]
    simulated_fleet.sandbox.settle()
    assert (
        simulated_fleet.eks.describe_update(name="prod", updateId=forced["id"], nodegroupName="ng-1")["update"][
            "status"
        ]
        == "Successful"
    )
    nodes = _nodes(kube)
    assert len(nodes) == 1 and nodes[0]["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.31.")
    assert (
        simulated_fleet.eks.describe_nodegroup(clusterName="prod", nodegroupName="ng-1")["nodegroup"]["version"]
        == "1.31"
    )


def test_delete_nodegroup_removes_its_nodes(simulated_fleet):
    simulated_fleet.create_cluster()
    simulated_fleet.create_nodegroup(size=2)
    assert simulated_fleet.eks.list_nodegroups(clusterName="prod")["nodegroups"] == ["ng-1"]
    assert (
        simulated_fleet.eks.delete_nodegroup(clusterName="prod", nodegroupName="ng-1")["nodegroup"]["status"]
        == "DELETING"
    )
    simulated_fleet.sandbox.settle()
    assert _nodes(simulated_fleet.kube("prod")) == []
    assert simulated_fleet.eks.list_nodegroups(clusterName="prod")["nodegroups"] == []
