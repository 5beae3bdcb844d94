"""Add-ons on Pod Identity, as EKS answers: which versions support it, the associations an add-on owns, and the
rolling restart that moves its pods onto them."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.eks.kube_api import KubeApi

EBS = "aws-ebs-csi-driver"
CONTROLLER_SA = "ebs-csi-controller-sa"


def _env(pod):
    return {e["name"] for c in pod["spec"]["containers"] for e in c.get("env") or []}


def _error(excinfo):
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def test_describe_addon_configuration_lists_pod_identity_only_from_the_first_version_supporting_it(simulated_fleet):
    eks = simulated_fleet.eks
    old = eks.describe_addon_configuration(addonName=EBS, addonVersion="v1.25.0-eksbuild.1")
    new = eks.describe_addon_configuration(addonName=EBS, addonVersion="v1.37.0-eksbuild.1")
    assert old["podIdentityConfiguration"] == []
    assert [c["serviceAccount"] for c in new["podIdentityConfiguration"]] == [CONTROLLER_SA]
    assert (
        eks.describe_addon_configuration(addonName="vpc-cni", addonVersion="v1.15.1-eksbuild.1")[
            "podIdentityConfiguration"
        ]
        == []
    )


def test_associations_on_an_addon_version_without_pod_identity_are_refused(simulated_fleet):
    simulated_fleet.create_cluster(version="1.28")
    role = simulated_fleet.role("cni", "pods.eks.amazonaws.com")
    associations = [{"serviceAccount": "aws-node", "roleArn": role}]
    with pytest.raises(ClientError) as created:
        simulated_fleet.eks.create_addon(
            clusterName="prod",
            addonName="vpc-cni",
            addonVersion="v1.15.1-eksbuild.1",
            podIdentityAssociations=associations,
        )
    # wording: terraform-aws-modules/terraform-aws-eks#3520
    assert _error(created) == (
        "InvalidParameterException",
        "Pod Identity feature is not supported for addon version: v1.15.1-eksbuild.1",
    )
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="vpc-cni", addonVersion="v1.15.1-eksbuild.1")
    simulated_fleet.sandbox.settle()
    with pytest.raises(ClientError) as updated:
        simulated_fleet.eks.update_addon(clusterName="prod", addonName="vpc-cni", podIdentityAssociations=associations)
    assert _error(updated)[0] == "InvalidParameterException"
    assert simulated_fleet.eks.list_pod_identity_associations(clusterName="prod")["associations"] == []


def test_a_service_account_the_addon_does_not_use_is_refused(simulated_fleet):
    simulated_fleet.create_cluster()
    role = simulated_fleet.role("ebs", "pods.eks.amazonaws.com")
    with pytest.raises(ClientError) as refused:
        simulated_fleet.eks.create_addon(
            clusterName="prod",
            addonName=EBS,
            podIdentityAssociations=[{"serviceAccount": "ebs-csi-node-sa", "roleArn": role}],
        )
    assert _error(refused) == (
        "InvalidParameterException",
        f"Service account ebs-csi-node-sa in pod identity configuration is not supported for addon {EBS}",
    )


def test_an_addon_does_not_adopt_an_association_it_does_not_own(simulated_fleet):
    simulated_fleet.create_cluster()
    role = simulated_fleet.role("ebs", "pods.eks.amazonaws.com")
    existing = simulated_fleet.eks.create_pod_identity_association(
        clusterName="prod", namespace="kube-system", serviceAccount=CONTROLLER_SA, roleArn=role
    )["association"]
    simulated_fleet.eks.create_addon(clusterName="prod", addonName=EBS)
    simulated_fleet.sandbox.settle()
    with pytest.raises(ClientError) as refused:
        simulated_fleet.eks.update_addon(
            clusterName="prod",
            addonName=EBS,
            podIdentityAssociations=[{"serviceAccount": CONTROLLER_SA, "roleArn": role}],
        )
    assert _error(refused) == ("ResourceInUseException", f"Association already exists: {existing['associationId']}")
    (kept,) = simulated_fleet.eks.list_pod_identity_associations(clusterName="prod")["associations"]
    assert kept["associationId"] == existing["associationId"] and "ownerArn" not in kept


def test_update_addon_replaces_its_associations_and_rolls_its_pods_onto_pod_identity(simulated_fleet, tmp_path):
    fleet = simulated_fleet
    fleet.create_cluster()
    fleet.create_nodegroup(size=1)
    irsa_role = fleet.role("ebs-irsa")
    fleet.eks.create_addon(clusterName="prod", addonName="eks-pod-identity-agent")
    fleet.eks.create_addon(clusterName="prod", addonName=EBS, serviceAccountRoleArn=irsa_role)
    fleet.sandbox.settle()
    kube = KubeApi(fleet, "prod", tmp_path)
    before = {p["metadata"]["name"]: p for p in kube.pods("kube-system", "k8s-app=ebs-csi-controller")}
    node_pods = {p["metadata"]["name"] for p in kube.pods("kube-system", "k8s-app=ebs-csi-node")}
    assert before and all("AWS_ROLE_ARN" in _env(p) for p in before.values())

    first = fleet.role("ebs-pod-identity", "pods.eks.amazonaws.com")
    fleet.eks.update_addon(
        clusterName="prod", addonName=EBS, podIdentityAssociations=[{"serviceAccount": CONTROLLER_SA, "roleArn": first}]
    )
    fleet.sandbox.settle()
    addon = fleet.eks.describe_addon(clusterName="prod", addonName=EBS)["addon"]
    (association,) = fleet.eks.list_pod_identity_associations(clusterName="prod")["associations"]
    assert association["ownerArn"] == addon["addonArn"]
    assert addon["podIdentityAssociations"] == [association["associationArn"]]
    after = kube.pods("kube-system", "k8s-app=ebs-csi-controller")
    assert after and not set(before) & {p["metadata"]["name"] for p in after}, "the controller pods were rolled"
    assert all("AWS_CONTAINER_CREDENTIALS_FULL_URI" in _env(p) for p in after)
    assert {p["metadata"]["name"] for p in kube.pods("kube-system", "k8s-app=ebs-csi-node")} == node_pods

    second = fleet.role("ebs-pod-identity-2", "pods.eks.amazonaws.com")
    fleet.eks.update_addon(
        clusterName="prod",
        addonName=EBS,
        podIdentityAssociations=[{"serviceAccount": CONTROLLER_SA, "roleArn": second}],
    )
    fleet.sandbox.settle()
    (replaced,) = fleet.eks.list_pod_identity_associations(clusterName="prod")["associations"]
    assert replaced["associationId"] != association["associationId"]
    described = fleet.eks.describe_pod_identity_association(clusterName="prod", associationId=replaced["associationId"])
    assert described["association"]["roleArn"] == second


@pytest.mark.parametrize("preserve", [False, True])
def test_delete_addon_deletes_its_associations_unless_preserve(simulated_fleet, preserve):
    simulated_fleet.create_cluster()
    role = simulated_fleet.role("ebs", "pods.eks.amazonaws.com")
    simulated_fleet.eks.create_addon(
        clusterName="prod", addonName=EBS, podIdentityAssociations=[{"serviceAccount": CONTROLLER_SA, "roleArn": role}]
    )
    simulated_fleet.sandbox.settle()
    simulated_fleet.eks.delete_addon(clusterName="prod", addonName=EBS, preserve=preserve)
    simulated_fleet.sandbox.settle()
    remaining = simulated_fleet.eks.list_pod_identity_associations(clusterName="prod")["associations"]
    assert len(remaining) == (1 if preserve else 0)


@pytest.mark.parametrize("agent", [False, True])
def test_service_account_role_arn_is_ignored_while_the_agent_is_installed(simulated_fleet, tmp_path, agent):
    simulated_fleet.create_cluster()
    if agent:
        simulated_fleet.eks.create_addon(clusterName="prod", addonName="eks-pod-identity-agent")
    irsa_role = simulated_fleet.role("ebs-irsa")
    role = simulated_fleet.role("ebs", "pods.eks.amazonaws.com")
    simulated_fleet.eks.create_addon(
        clusterName="prod",
        addonName=EBS,
        serviceAccountRoleArn=irsa_role,
        podIdentityAssociations=[{"serviceAccount": CONTROLLER_SA, "roleArn": role}],
    )
    simulated_fleet.sandbox.settle()
    account = KubeApi(simulated_fleet, "prod", tmp_path).core.read_namespaced_service_account(
        CONTROLLER_SA, "kube-system"
    )
    annotations = account.metadata.annotations or {}
    assert annotations.get("eks.amazonaws.com/role-arn") == (None if agent else irsa_role)
