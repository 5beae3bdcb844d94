"""A cluster built from nothing, in the order a bootstrap runbook builds it, fails where EKS fails: add-ons whose
pods no node can run stay DEGRADED, nodes without the cluster network stay NotReady, node groups whose node role
lacks its policies never join, and the regional cluster quota is served."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.helpers import create_role

NETWORK_NOT_READY = (
    "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin "
    "returns error: cni plugin not initialized"
)


def _bare_cluster(fleet, *addons: str) -> None:
    """A cluster without self-managed add-ons, then ``addons`` as EKS add-ons, all settled."""
    fleet.create_cluster(bootstrapSelfManagedAddons=False)
    for addon in addons:
        fleet.eks.create_addon(clusterName="prod", addonName=addon)
    fleet.sandbox.settle()


def _addon(fleet, name: str) -> dict:
    return fleet.eks.describe_addon(clusterName="prod", addonName=name)["addon"]


def _nodegroup(fleet, name: str = "ng-1") -> dict:
    return fleet.eks.describe_nodegroup(clusterName="prod", nodegroupName=name)["nodegroup"]


def _instance_ids(fleet, nodegroup: str = "ng-1") -> list[str]:
    reservations = fleet.ec2.describe_instances(
        Filters=[
            {"Name": "tag:eks:nodegroup-name", "Values": [nodegroup]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )["Reservations"]
    return sorted(instance["InstanceId"] for r in reservations for instance in r["Instances"])


def _ready_condition(node: dict) -> dict:
    return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")


def _node_role(fleet, name: str, policies: list[str]) -> str:
    """A node role trusting ec2.amazonaws.com with exactly ``policies`` (AWS managed) attached."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    arn = fleet.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    for policy in policies:
        fleet.iam.attach_role_policy(RoleName=name, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
    return arn


# --- add-ons whose pods need a node ---------------------------------------------------------------------------


def test_coredns_stays_degraded_until_a_node_can_run_it(simulated_fleet):
    _bare_cluster(simulated_fleet, "vpc-cni", "kube-proxy", "eks-pod-identity-agent")
    # DaemonSets with no node to run on want no pod: nothing is missing.
    for name in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
        assert (_addon(simulated_fleet, name)["status"], _addon(simulated_fleet, name)["health"]["issues"]) == (
            "ACTIVE",
            [],
        )
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="coredns")
    simulated_fleet.sandbox.settle()
    coredns = _addon(simulated_fleet, "coredns")
    assert coredns["status"] == "DEGRADED"
    assert [(i["code"], i["message"]) for i in coredns["health"]["issues"]] == [
        (
            "InsufficientNumberOfReplicas",
            "The add-on is unhealthy because it doesn't have the desired number of replicas.",
        )
    ]
    kube = simulated_fleet.kube("prod")
    pods = kube.list("v1", "Pod", "kube-system", label_selector="k8s-app=kube-dns")
    assert {pod["status"]["phase"] for pod in pods} == {"Pending"}

    simulated_fleet.create_nodegroup()
    assert _nodegroup(simulated_fleet)["status"] == "ACTIVE"
    coredns = _addon(simulated_fleet, "coredns")
    assert (coredns["status"], coredns["health"]["issues"]) == ("ACTIVE", [])


@pytest.mark.parametrize(
    ("addon", "deployment"), [("metrics-server", "metrics-server"), ("aws-ebs-csi-driver", "ebs-csi-controller")]
)
def test_an_addon_running_a_deployment_is_degraded_while_no_node_can_run_it(simulated_fleet, addon, deployment):
    _bare_cluster(simulated_fleet, "vpc-cni", "kube-proxy", addon)
    assert simulated_fleet.kube("prod").get("apps/v1", "Deployment", deployment, "kube-system") is not None
    assert _addon(simulated_fleet, addon)["health"]["issues"][0]["code"] == "InsufficientNumberOfReplicas"
    simulated_fleet.create_nodegroup()
    assert _addon(simulated_fleet, addon)["status"] == "ACTIVE"


def test_an_injected_degradation_is_not_healed_by_running_pods(simulated_fleet):
    simulated_fleet.create_cluster()
    simulated_fleet.create_nodegroup()
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="coredns")
    simulated_fleet.sandbox.settle()
    simulated_fleet.sandbox.eks.degrade_addon("123456789012", "us-east-1", "prod", "coredns", "AccessDenied", "no")
    assert _addon(simulated_fleet, "coredns")["status"] == "DEGRADED"


# --- nodes join only a working cluster network ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("installed", "missing"),
    [(("kube-proxy",), "vpc-cni"), (("vpc-cni",), "kube-proxy")],
    ids=["no-vpc-cni", "no-kube-proxy"],
)
def test_nodes_stay_not_ready_without_vpc_cni_or_kube_proxy(simulated_fleet, installed, missing):
    _bare_cluster(simulated_fleet, *installed)
    simulated_fleet.create_nodegroup()
    kube = simulated_fleet.kube("prod")
    nodes = kube.list("v1", "Node")
    assert len(nodes) == 2
    for node in nodes:
        ready = _ready_condition(node)
        assert (ready["status"], ready["reason"]) == ("False", "KubeletNotReady")
        assert NETWORK_NOT_READY in ready["message"]
        assert {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}.items() <= node["spec"]["taints"][
            0
        ].items()
    nodegroup = _nodegroup(simulated_fleet)
    assert nodegroup["status"] == "CREATE_FAILED"
    (issue,) = nodegroup["health"]["issues"]
    assert (issue["code"], issue["message"]) == ("NodeCreationFailure", "Unhealthy nodes in the kubernetes cluster")
    assert sorted(issue["resourceIds"]) == _instance_ids(simulated_fleet)

    # The missing add-on arrives: the nodes that are still there turn Ready; the node group stays CREATE_FAILED.
    simulated_fleet.eks.create_addon(clusterName="prod", addonName=missing)
    simulated_fleet.sandbox.settle()
    for node in kube.list("v1", "Node"):
        assert (_ready_condition(node)["status"], _ready_condition(node)["reason"]) == ("True", "KubeletReady")
        assert not any(t["key"] == "node.kubernetes.io/not-ready" for t in node["spec"].get("taints") or [])
    assert _nodegroup(simulated_fleet)["status"] == "CREATE_FAILED"


def test_self_managed_networking_lets_nodes_join(simulated_fleet):
    simulated_fleet.create_cluster()  # bootstrapSelfManagedAddons defaults to true: aws-node and kube-proxy run
    simulated_fleet.create_nodegroup()
    assert _nodegroup(simulated_fleet)["status"] == "ACTIVE"
    assert {_ready_condition(n)["status"] for n in simulated_fleet.kube("prod").list("v1", "Node")} == {"True"}


# --- the node role ------------------------------------------------------------------------------------------

WORKER = "AmazonEKSWorkerNodePolicy"
CNI = "AmazonEKS_CNI_Policy"
ECR_READ = "AmazonEC2ContainerRegistryReadOnly"
ECR_PULL = "AmazonEC2ContainerRegistryPullOnly"


def test_a_node_role_that_does_not_exist_or_does_not_trust_ec2_is_refused_by_create_nodegroup(simulated_fleet):
    _bare_cluster(simulated_fleet, "vpc-cni", "kube-proxy")
    # Unlike missing policies, EKS checks these at once (eksctl-io/eksctl#3290): nothing is created.
    for role in ("arn:aws:iam::123456789012:role/nobody", simulated_fleet.cluster_role):
        with pytest.raises(ClientError) as excinfo:
            simulated_fleet.eks.create_nodegroup(
                clusterName="prod", nodegroupName="ng-1", subnets=simulated_fleet.subnets[:2], nodeRole=role
            )
        assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"
    assert simulated_fleet.eks.list_nodegroups(clusterName="prod")["nodegroups"] == []
    assert _instance_ids(simulated_fleet) == []


@pytest.mark.parametrize(
    "policies",
    [[CNI, ECR_READ], [WORKER, CNI], [WORKER, ECR_PULL]],
    ids=["without-worker-policy", "without-registry-policy", "without-cni-policy"],
)
def test_nodegroup_with_a_node_role_without_worker_policy_fails_with_node_creation_failure(simulated_fleet, policies):
    _bare_cluster(simulated_fleet, "vpc-cni", "kube-proxy")
    role = _node_role(simulated_fleet, "thin-node", policies)
    created = simulated_fleet.eks.create_nodegroup(
        clusterName="prod",
        nodegroupName="ng-1",
        subnets=simulated_fleet.subnets[:2],
        nodeRole=role,
        instanceTypes=["m5.large"],
        scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2},
    )["nodegroup"]
    assert created["status"] == "CREATING"  # accepted: EKS checks only that the role exists and trusts EC2
    simulated_fleet.sandbox.settle()
    nodegroup = _nodegroup(simulated_fleet)
    assert nodegroup["status"] == "CREATE_FAILED"
    (issue,) = nodegroup["health"]["issues"]
    assert (issue["code"], issue["message"]) == (
        "NodeCreationFailure",
        "Instances failed to join the kubernetes cluster",
    )
    instances = _instance_ids(simulated_fleet)
    assert len(instances) == 2
    assert sorted(issue["resourceIds"]) == instances
    assert simulated_fleet.kube("prod").list("v1", "Node") == []
    # A failed node group can still be deleted, instances and all.
    simulated_fleet.eks.delete_nodegroup(clusterName="prod", nodegroupName="ng-1")
    simulated_fleet.sandbox.settle()
    assert _instance_ids(simulated_fleet) == []


def test_a_node_role_with_the_pull_only_registry_policy_and_no_cni_policy_joins_when_vpc_cni_has_its_own_role(
    simulated_fleet,
):
    simulated_fleet.create_cluster(bootstrapSelfManagedAddons=False)
    cni_role = create_role(simulated_fleet.iam, "vpc-cni", "pods.eks.amazonaws.com")
    simulated_fleet.eks.create_addon(
        clusterName="prod",
        addonName="vpc-cni",
        podIdentityAssociations=[{"serviceAccount": "aws-node", "roleArn": cni_role}],
    )
    for addon in ("kube-proxy", "eks-pod-identity-agent"):
        simulated_fleet.eks.create_addon(clusterName="prod", addonName=addon)
    simulated_fleet.sandbox.settle()
    role = _node_role(simulated_fleet, "lean-node", [WORKER, ECR_PULL])
    simulated_fleet.eks.create_nodegroup(
        clusterName="prod",
        nodegroupName="ng-1",
        subnets=simulated_fleet.subnets[:2],
        nodeRole=role,
        instanceTypes=["m5.large"],
        scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2},
    )
    simulated_fleet.sandbox.settle()
    assert (_nodegroup(simulated_fleet)["status"], _nodegroup(simulated_fleet)["health"]["issues"]) == ("ACTIVE", [])


# --- Service Quotas -----------------------------------------------------------------------------------------


def test_service_quotas_serves_the_regional_eks_cluster_quota(simulated_fleet):
    quotas = simulated_fleet.client("service-quotas")
    quota = quotas.get_service_quota(ServiceCode="eks", QuotaCode="L-1194D53C")["Quota"]
    assert (quota["QuotaName"], quota["Value"], quota["Adjustable"]) == ("Clusters", 100.0, True)
    assert quota["QuotaArn"] == "arn:aws:servicequotas:us-east-1:123456789012:eks/L-1194D53C"


def test_service_quotas_refuses_an_eks_quota_code_it_does_not_know(simulated_fleet):
    quotas = simulated_fleet.client("service-quotas")
    with pytest.raises(ClientError) as excinfo:
        quotas.get_service_quota(ServiceCode="eks", QuotaCode="L-00000000")
    assert excinfo.value.response["Error"]["Code"] == "NoSuchResourceException"
