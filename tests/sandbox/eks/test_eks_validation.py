"""Input EKS refuses: constraints from botocore's model, ARNs, IAM roles and their trust, KMS keys, access entry
names, Auto Mode; and the errors for what the sandbox does not simulate, which clients must not retry.

boto3 validates parameters itself, so requests that break the model go through a client with
``parameter_validation=False``, as the AWS CLI's ``--cli-input-json`` or another SDK would send them.
"""

from __future__ import annotations

import json

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from eks_sandbox.fleet import SERVICE_ROLE_POLICIES


def _raw_eks(simulated_fleet):
    return simulated_fleet.client("eks", config=Config(parameter_validation=False))


def _error(excinfo) -> tuple[str, str]:
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def _role_trusting(simulated_fleet, name: str, service: str, actions: list[str]) -> str:
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}]}
    return simulated_fleet.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def test_model_constraints_are_refused_with_every_violation_listed(simulated_fleet):
    eks = _raw_eks(simulated_fleet)
    with pytest.raises(ClientError) as excinfo:
        eks.create_cluster(name="bad name!", resourcesVpcConfig={"subnetIds": simulated_fleet.subnets[:2]})
    code, message = _error(excinfo)
    assert code == "InvalidParameterException"
    assert message.startswith("2 validation errors detected: ")
    assert "Value 'bad name!' at 'name' failed to satisfy constraint: Member must satisfy regular expression" in message
    assert "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" in message
    with pytest.raises(ClientError) as excinfo:
        eks.list_clusters(maxResults=500)
    assert "Member must have value less than or equal to 100" in _error(excinfo)[1]
    simulated_fleet.create_cluster()
    with pytest.raises(ClientError) as excinfo:
        eks.create_nodegroup(
            clusterName="prod",
            nodegroupName="ng",
            subnets=simulated_fleet.subnets[:2],
            nodeRole=simulated_fleet.node_role,
            capacityType="CHEAP",
        )
    assert (
        "Value 'CHEAP' at 'capacityType' failed to satisfy constraint: Member must satisfy enum value set"
        in (_error(excinfo)[1])
    )


def test_pod_identity_association_refuses_a_role_arn_that_is_not_an_arn(simulated_fleet):
    simulated_fleet.create_cluster()
    with pytest.raises(ClientError) as excinfo:
        _raw_eks(simulated_fleet).create_pod_identity_association(
            clusterName="prod", namespace="payments", serviceAccount="ledger", roleArn="notanarn"
        )
    code, message = _error(excinfo)
    assert code == "InvalidParameterException"
    assert "'notanarn' is not a valid ARN of an IAM role" in message
    assert simulated_fleet.eks.list_pod_identity_associations(clusterName="prod")["associations"] == []


def test_pod_identity_role_must_exist_and_trust_pods_eks_with_tag_session(simulated_fleet):
    simulated_fleet.create_cluster()
    missing = "arn:aws:iam::123456789012:role/nobody"
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_pod_identity_association(
            clusterName="prod", namespace="payments", serviceAccount="ledger", roleArn=missing
        )
    assert _error(excinfo) == ("InvalidParameterException", f"Role {missing} given as roleArn does not exist")
    no_tag_session = _role_trusting(simulated_fleet, "ledger", "pods.eks.amazonaws.com", ["sts:AssumeRole"])
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_pod_identity_association(
            clusterName="prod", namespace="payments", serviceAccount="ledger", roleArn=no_tag_session
        )
    assert _error(excinfo)[1].startswith("Trust policy of the role provided is invalid.")


def test_cluster_role_must_exist_and_trust_eks(simulated_fleet):
    for role in (
        "arn:aws:iam::123456789012:role/nobody",
        _role_trusting(simulated_fleet, "ec2-only", "ec2.amazonaws.com", ["sts:AssumeRole"]),
    ):
        with pytest.raises(ClientError) as excinfo:
            simulated_fleet.eks.create_cluster(
                name="prod", roleArn=role, resourcesVpcConfig={"subnetIds": simulated_fleet.subnets[:2]}
            )
        assert _error(excinfo) == (
            "InvalidParameterException",
            f"Role with arn: {role}, could not be assumed because it does not exist or the trusted entity is not "
            "correct",
        )
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_cluster(
            name="prod",
            roleArn="arn:aws:iam::210987654321:role/eks-cluster",
            resourcesVpcConfig={"subnetIds": simulated_fleet.subnets[:2]},
        )
    assert "belongs to account 210987654321" in _error(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_cluster(
            name="prod",
            roleArn=simulated_fleet.cluster_role.replace("arn:aws:", "arn:aws-cn:"),
            resourcesVpcConfig={"subnetIds": simulated_fleet.subnets[:2]},
        )
    assert "is not in partition aws of region us-east-1" in _error(excinfo)[1]


def test_addon_service_account_role_must_be_an_iam_role_arn(simulated_fleet):
    simulated_fleet.create_cluster()
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_addon(
            clusterName="prod",
            addonName="vpc-cni",
            serviceAccountRoleArn="arn:aws:iam::123456789012:policy/not-a-role",
        )
    assert "is not a valid ARN of an IAM role" in _error(excinfo)[1]


def test_node_group_and_fargate_roles_must_trust_their_service(simulated_fleet):
    simulated_fleet.create_cluster()
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_nodegroup(
            clusterName="prod",
            nodegroupName="ng",
            subnets=simulated_fleet.subnets[:2],
            nodeRole=simulated_fleet.cluster_role,
        )
    assert _error(excinfo)[1] == (
        "Following required service principals [ec2.amazonaws.com] were not found in the trust relationships of "
        f"nodeRole {simulated_fleet.cluster_role}"
    )
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_fargate_profile(
            clusterName="prod",
            fargateProfileName="batch",
            podExecutionRoleArn=simulated_fleet.node_role,
            selectors=[{"namespace": "batch"}],
        )
    assert "[eks-fargate-pods.amazonaws.com] were not found" in _error(excinfo)[1]


def test_access_entries_refuse_system_groups_reserved_usernames_and_unknown_principals(simulated_fleet):
    simulated_fleet.create_cluster(accessConfig={"authenticationMode": "API"})
    admins = simulated_fleet.role("platform-admins")
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_access_entry(
            clusterName="prod", principalArn=admins, kubernetesGroups=["system:masters"]
        )
    assert _error(excinfo) == (
        "InvalidParameterException",
        "The kubernetes group name system:masters is invalid, it cannot start with system:",
    )
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_access_entry(clusterName="prod", principalArn=admins, username="eks:admin")
    assert "The username eks:admin is invalid" in _error(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_access_entry(clusterName="prod", principalArn="arn:aws:iam::123456789012:role/gone")
    assert "does not exist in IAM" in _error(excinfo)[1]
    simulated_fleet.eks.create_access_entry(clusterName="prod", principalArn=admins, kubernetesGroups=["ops"])
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_access_entry(
            clusterName="prod", principalArn=admins, kubernetesGroups=["system:nodes"]
        )
    assert _error(excinfo)[0] == "InvalidParameterException"


def test_create_cluster_refuses_a_kms_key_that_does_not_exist(simulated_fleet):
    key = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.create_cluster(encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": key}}])
    assert _error(excinfo) == (
        "InvalidParameterException",
        f"encryptionConfig.provider.keyArn {key} does not exist (Service: AWSKMS; Error Code: NotFoundException)",
    )
    assert simulated_fleet.eks.list_clusters()["clusters"] == []


def test_auto_mode_is_stored_and_described_and_enabled_all_together(simulated_fleet):
    auto_node_role = simulated_fleet.role("eks-auto-node", "ec2.amazonaws.com")
    auto_mode = {
        "computeConfig": {"enabled": True, "nodePools": ["general-purpose", "system"], "nodeRoleArn": auto_node_role},
        "storageConfig": {"blockStorage": {"enabled": True}},
        "kubernetesNetworkConfig": {"elasticLoadBalancing": {"enabled": True}},
    }
    cluster = simulated_fleet.create_cluster(**auto_mode)
    assert cluster["computeConfig"] == auto_mode["computeConfig"]
    assert cluster["storageConfig"] == {"blockStorage": {"enabled": True}}
    assert cluster["kubernetesNetworkConfig"]["elasticLoadBalancing"] == {"enabled": True}
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.create_cluster(name="mixed", computeConfig=auto_mode["computeConfig"])
    assert "all either fully enabled or fully disabled" in _error(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.create_cluster(
            name="no-role", **{**auto_mode, "computeConfig": {"enabled": True, "nodePools": ["system"]}}
        )
    assert _error(excinfo)[1] == "When Compute Config nodeRoleArn is null or empty, nodePool list cannot be populated."


def test_auto_mode_is_turned_on_for_an_existing_cluster_by_one_auto_mode_update(simulated_fleet):
    simulated_fleet.create_cluster()
    assert "computeConfig" not in simulated_fleet.eks.describe_cluster(name="prod")["cluster"]
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_cluster_config(name="prod", storageConfig={"blockStorage": {"enabled": True}})
    assert "fully enabled or fully disabled" in _error(excinfo)[1]
    update = simulated_fleet.eks.update_cluster_config(
        name="prod",
        computeConfig={"enabled": True},
        storageConfig={"blockStorage": {"enabled": True}},
        kubernetesNetworkConfig={"elasticLoadBalancing": {"enabled": True}},
    )["update"]
    assert update["type"] == "AutoModeUpdate"
    simulated_fleet.sandbox.settle()
    cluster = simulated_fleet.eks.describe_cluster(name="prod")["cluster"]
    assert cluster["computeConfig"] == {"enabled": True, "nodePools": []}
    assert cluster["kubernetesNetworkConfig"]["elasticLoadBalancing"] == {"enabled": True}


def test_aws_managed_policies_exist_and_attach(simulated_fleet):
    role = simulated_fleet.role("eks-cluster-2", "eks.amazonaws.com")
    attached = simulated_fleet.iam.list_attached_role_policies(RoleName=role.rpartition("/")[2])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"]
    for name in [
        *(policy for policies in SERVICE_ROLE_POLICIES.values() for policy in policies),
        "service-role/AmazonEBSCSIDriverPolicy",
        "AmazonEKSVPCResourceController",
        "AmazonEKSServicePolicy",
        "AmazonSSMManagedInstanceCore",
        "AmazonEKSBlockStoragePolicy",
        "AmazonEKSComputePolicy",
        "AmazonEKSLoadBalancingPolicy",
        "AmazonEKSNetworkingPolicy",
    ]:
        simulated_fleet.iam.get_policy(PolicyArn=f"arn:aws:iam::aws:policy/{name}")


@pytest.mark.parametrize(
    ("service", "call"),
    [
        ("ssm", lambda client: client.list_nodes()),  # awsJson: an action moto has not implemented
        ("ec2", lambda client: client.describe_capacity_block_offerings(CapacityDurationHours=24)),  # query
        ("codeartifact", lambda client: client.list_domains()),  # a service moto does not offer
    ],
)
def test_what_the_sandbox_does_not_simulate_answers_a_client_error_that_is_not_retried(simulated_fleet, service, call):
    client = simulated_fleet.client(service, config=Config(retries={"mode": "standard", "max_attempts": 5}))
    with pytest.raises(ClientError) as excinfo:
        call(client)
    response = excinfo.value.response
    assert 400 <= response["ResponseMetadata"]["HTTPStatusCode"] < 500
    assert response["ResponseMetadata"]["RetryAttempts"] == 0
    assert response["Error"]["Code"] in ("UnknownOperationException", "InvalidAction")
    assert "does not simulate" in response["Error"]["Message"]
