"""Access entries and access policies, refused while the cluster authenticates through aws-auth only."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

ADMIN = "arn:aws:iam::123456789012:role/platform-admins"
POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def test_access_entries_are_refused_in_config_map_mode(simulated_fleet):
    simulated_fleet.role("platform-admins")
    simulated_fleet.create_cluster()
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_access_entry(clusterName="prod", principalArn=ADMIN)
    assert excinfo.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "authentication mode" in excinfo.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        simulated_fleet.eks.list_access_entries(clusterName="prod")


def test_access_entries_and_policies_in_api_mode(simulated_fleet):
    simulated_fleet.role("platform-admins")
    simulated_fleet.create_cluster(accessConfig={"authenticationMode": "API"})
    # bootstrapClusterCreatorAdminPermissions (default true) gives the creator an admin entry
    creator_entries = simulated_fleet.eks.list_access_entries(clusterName="prod", associatedPolicyArn=POLICY)[
        "accessEntries"
    ]
    assert len(creator_entries) == 1
    entry = simulated_fleet.eks.create_access_entry(clusterName="prod", principalArn=ADMIN, kubernetesGroups=["ops"])
    assert entry["accessEntry"]["username"] == "arn:aws:sts::123456789012:assumed-role/platform-admins/{{SessionName}}"
    associated = simulated_fleet.eks.associate_access_policy(
        clusterName="prod", principalArn=ADMIN, policyArn=POLICY, accessScope={"type": "cluster"}
    )
    assert associated["associatedAccessPolicy"]["policyArn"] == POLICY
    policies = simulated_fleet.eks.list_associated_access_policies(clusterName="prod", principalArn=ADMIN)
    assert [p["policyArn"] for p in policies["associatedAccessPolicies"]] == [POLICY]
    simulated_fleet.eks.update_access_entry(clusterName="prod", principalArn=ADMIN, kubernetesGroups=["ops", "audit"])
    assert simulated_fleet.eks.describe_access_entry(clusterName="prod", principalArn=ADMIN)["accessEntry"][
        "kubernetesGroups"
    ] == ["ops", "audit"]
    simulated_fleet.eks.disassociate_access_policy(clusterName="prod", principalArn=ADMIN, policyArn=POLICY)
    assert (
        simulated_fleet.eks.list_associated_access_policies(clusterName="prod", principalArn=ADMIN)[
            "associatedAccessPolicies"
        ]
        == []
    )
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_access_entry(clusterName="prod", principalArn=ADMIN)
    assert excinfo.value.response["Error"]["Code"] == "ResourceInUseException"
    simulated_fleet.eks.delete_access_entry(clusterName="prod", principalArn=ADMIN)
    assert ADMIN not in simulated_fleet.eks.list_access_entries(clusterName="prod")["accessEntries"]
    names = {p["name"] for p in simulated_fleet.eks.list_access_policies()["accessPolicies"]}
    assert {"AmazonEKSClusterAdminPolicy", "AmazonEKSViewPolicy", "AmazonEKSClusterInsightsPolicy"} <= names


def test_managed_node_group_role_gets_an_ec2_linux_entry_in_api_mode(simulated_fleet):
    simulated_fleet.create_cluster(accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    simulated_fleet.create_nodegroup()
    entry = simulated_fleet.eks.describe_access_entry(
        clusterName="prod", principalArn="arn:aws:iam::123456789012:role/eks-node"
    )
    assert (entry["accessEntry"]["type"], entry["accessEntry"]["username"]) == (
        "EC2_LINUX",
        "system:node:{{EC2PrivateDNSName}}",
    )
