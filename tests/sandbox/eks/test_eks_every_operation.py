"""Every simulated EKS operation answers a shape-valid response, in one compact scenario of a cluster's life.

The fixture's EKS client checks each successful response against botocore's output shape
(conftest ``validate_every_response``); this test records which operations it got answers from, so it
holds on its own, in any order and when run alone.
"""

from __future__ import annotations

from typing import Any

from eks_sandbox.eks.operations import OPERATIONS

ADMIN = "arn:aws:iam::123456789012:role/platform-admins"
POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


def test_every_simulated_operation_returns_a_shape_valid_response(simulated_fleet):
    eks, settle = simulated_fleet.eks, simulated_fleet.sandbox.settle
    answered: set[str] = set()

    def record(http_response: Any, model: Any, **_: Any) -> None:
        if http_response.status_code == 200:
            answered.add(model.name)

    eks.meta.events.register("after-call.eks", record)

    # catalogues
    eks.describe_cluster_versions()
    eks.describe_addon_versions(kubernetesVersion="1.31")
    eks.describe_addon_configuration(addonName="vpc-cni", addonVersion="v1.20.1-eksbuild.3")
    eks.list_access_policies()

    # cluster, tags, configuration updates
    arn = simulated_fleet.create_cluster(version="1.31", accessConfig={"authenticationMode": "API"})["arn"]
    eks.list_clusters()
    eks.describe_cluster(name="prod")
    eks.tag_resource(resourceArn=arn, tags={"team": "payments"})
    eks.list_tags_for_resource(resourceArn=arn)
    eks.untag_resource(resourceArn=arn, tagKeys=["team"])
    eks.update_cluster_config(name="prod", logging={"clusterLogging": [{"types": ["api"], "enabled": True}]})
    settle()
    key = simulated_fleet.client("kms").create_key()["KeyMetadata"]["Arn"]
    eks.associate_encryption_config(
        clusterName="prod", encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": key}}]
    )
    settle()

    # node group
    simulated_fleet.create_nodegroup()
    eks.list_nodegroups(clusterName="prod")
    eks.describe_nodegroup(clusterName="prod", nodegroupName="ng-1")
    eks.update_nodegroup_config(
        clusterName="prod", nodegroupName="ng-1", scalingConfig={"minSize": 1, "maxSize": 4, "desiredSize": 3}
    )
    settle()

    # add-on
    eks.create_addon(clusterName="prod", addonName="kube-proxy", addonVersion="v1.31.10-eksbuild.2")
    settle()
    eks.list_addons(clusterName="prod")
    eks.describe_addon(clusterName="prod", addonName="kube-proxy")
    eks.update_addon(clusterName="prod", addonName="kube-proxy", addonVersion="v1.31.14-eksbuild.9")
    settle()

    # Fargate
    eks.create_fargate_profile(
        clusterName="prod",
        fargateProfileName="batch",
        podExecutionRoleArn=simulated_fleet.role("fp", "eks-fargate-pods.amazonaws.com"),
        selectors=[{"namespace": "batch"}],
    )
    settle()
    eks.list_fargate_profiles(clusterName="prod")
    eks.describe_fargate_profile(clusterName="prod", fargateProfileName="batch")
    eks.delete_fargate_profile(clusterName="prod", fargateProfileName="batch")
    settle()

    # access entries
    simulated_fleet.role(ADMIN.rpartition("/")[2])
    eks.create_access_entry(clusterName="prod", principalArn=ADMIN)
    eks.list_access_entries(clusterName="prod")
    eks.describe_access_entry(clusterName="prod", principalArn=ADMIN)
    eks.update_access_entry(clusterName="prod", principalArn=ADMIN, kubernetesGroups=["ops"])
    eks.associate_access_policy(
        clusterName="prod", principalArn=ADMIN, policyArn=POLICY, accessScope={"type": "namespace", "namespaces": ["a"]}
    )
    eks.list_associated_access_policies(clusterName="prod", principalArn=ADMIN)
    eks.disassociate_access_policy(clusterName="prod", principalArn=ADMIN, policyArn=POLICY)
    eks.delete_access_entry(clusterName="prod", principalArn=ADMIN)

    # Pod Identity
    association = eks.create_pod_identity_association(
        clusterName="prod",
        namespace="payments",
        serviceAccount="ledger",
        roleArn=simulated_fleet.role("a", "pods.eks.amazonaws.com"),
    )["association"]["associationId"]
    eks.list_pod_identity_associations(clusterName="prod")
    eks.describe_pod_identity_association(clusterName="prod", associationId=association)
    eks.update_pod_identity_association(
        clusterName="prod", associationId=association, roleArn=simulated_fleet.role("b", "pods.eks.amazonaws.com")
    )
    eks.delete_pod_identity_association(clusterName="prod", associationId=association)

    # insights
    eks.start_insights_refresh(clusterName="prod")
    eks.describe_insights_refresh(clusterName="prod")
    insight = eks.list_insights(clusterName="prod")["insights"][0]["id"]
    eks.describe_insight(clusterName="prod", id=insight)

    # upgrades
    update = eks.update_cluster_version(name="prod", version="1.32")["update"]["id"]
    settle()
    eks.list_updates(name="prod")
    eks.describe_update(name="prod", updateId=update)
    eks.update_nodegroup_version(clusterName="prod", nodegroupName="ng-1")
    settle()

    # teardown
    eks.delete_addon(clusterName="prod", addonName="kube-proxy")
    eks.delete_nodegroup(clusterName="prod", nodegroupName="ng-1")
    settle()
    eks.delete_cluster(name="prod")
    settle()

    missing = sorted(set(OPERATIONS) - answered)
    assert not missing, f"the scenario got no successful response from: {', '.join(missing)}"
