"""Clusters: lifecycle, configuration updates, the version calendar, tags, Fargate profiles."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError


def _error(excinfo: pytest.ExceptionInfo) -> tuple[str, str]:
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def test_create_cluster_is_creating_then_active_after_the_create_duration(simulated_fleet):
    created = simulated_fleet.create_cluster(settle=False)
    assert created["status"] == "CREATING"
    assert "endpoint" not in created
    assert created["accessConfig"] == {
        "bootstrapClusterCreatorAdminPermissions": True,
        "authenticationMode": "CONFIG_MAP",
    }
    assert created["upgradePolicy"] == {"supportType": "EXTENDED"}
    simulated_fleet.sandbox.clock.skip(timedelta(minutes=9))
    assert simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["status"] == "CREATING"
    simulated_fleet.sandbox.clock.skip(timedelta(minutes=1, seconds=1))
    cluster = simulated_fleet.eks.describe_cluster(name="prod")["cluster"]
    assert cluster["status"] == "ACTIVE"
    cluster_id = cluster["identity"]["oidc"]["issuer"].rpartition("/")[2].lower()
    assert len(cluster_id) == 32
    assert cluster["identity"]["oidc"]["issuer"] == f"https://oidc.eks.us-east-1.amazonaws.com/id/{cluster_id.upper()}"
    assert cluster["endpoint"] == simulated_fleet.sandbox.kube_endpoint(cluster_id)
    assert urlsplit(cluster["endpoint"]).path == ""  # as on EKS: clients build absolute paths on it
    assert cluster["platformVersion"].startswith("eks.")
    assert simulated_fleet.sandbox.kube_clusters[cluster_id].version == "1.31"


def test_bootstrap_installs_self_managed_networking_addons(simulated_fleet):
    simulated_fleet.create_cluster()
    kube = simulated_fleet.kube("prod")
    assert {d["metadata"]["name"] for d in kube.list("apps/v1", "DaemonSet", "kube-system")} >= {
        "aws-node",
        "kube-proxy",
    }
    coredns = kube.get("apps/v1", "Deployment", "coredns", "kube-system")
    assert coredns["spec"]["replicas"] == 2
    assert simulated_fleet.eks.list_addons(clusterName="prod")["addons"] == []


def test_create_cluster_refuses_versions_outside_the_calendar_and_unknown_subnets(simulated_fleet):
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.create_cluster(version="1.27")  # end of extended support 2025-07-24
    assert _error(excinfo) == (
        "InvalidParameterException",
        "unsupported Kubernetes version 1.27: 1.27 reached the end of extended support on 2025-07-24 "
        "(today is 2025-09-01)",
    )
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.create_cluster(version="1.34")  # released 2025-10-02
    assert _error(excinfo) == (
        "InvalidParameterException",
        "unsupported Kubernetes version 1.34: 1.34 is not available on Amazon EKS before 2025-10-02 "
        "(today is 2025-09-01)",
    )
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_cluster(
            name="x", roleArn=simulated_fleet.cluster_role, resourcesVpcConfig={"subnetIds": ["subnet-nope"]}
        )
    assert "subnet-nope" in _error(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_cluster(
            name="x",
            roleArn=simulated_fleet.cluster_role,
            resourcesVpcConfig={"subnetIds": simulated_fleet.subnets[:1]},
        )
    assert "two different AZs" in _error(excinfo)[1]


def test_list_clusters_paginates(simulated_fleet):
    for name in ("a", "b", "c"):
        simulated_fleet.create_cluster(name=name, settle=False)
    first = simulated_fleet.eks.list_clusters(maxResults=2)
    assert first["clusters"] == ["a", "b"]
    assert simulated_fleet.eks.list_clusters(maxResults=2, nextToken=first["nextToken"])["clusters"] == ["c"]


def test_describe_cluster_versions_reports_support_status_at_the_simulated_date(simulated_fleet):
    versions = simulated_fleet.eks.describe_cluster_versions()["clusterVersions"]
    by_version = {v["clusterVersion"]: v for v in versions}
    assert set(by_version) == {"1.28", "1.29", "1.30", "1.31", "1.32", "1.33"}
    assert by_version["1.29"]["versionStatus"] == "EXTENDED_SUPPORT"
    assert by_version["1.29"]["status"] == "extended-support"
    assert by_version["1.33"]["versionStatus"] == "STANDARD_SUPPORT"
    assert [v["clusterVersion"] for v in versions if v["defaultVersion"]] == ["1.33"]
    everything = simulated_fleet.eks.describe_cluster_versions(includeAll=True)["clusterVersions"]
    assert {v["clusterVersion"]: v["versionStatus"] for v in everything}["1.27"] == "UNSUPPORTED"
    only = simulated_fleet.eks.describe_cluster_versions(versionStatus="EXTENDED_SUPPORT")["clusterVersions"]
    assert [v["clusterVersion"] for v in only] == ["1.30", "1.29", "1.28"]
    assert (
        simulated_fleet.eks.describe_cluster_versions(defaultOnly=True)["clusterVersions"][0]["clusterVersion"]
        == "1.33"
    )
    assert len(simulated_fleet.eks.describe_cluster_versions(clusterVersions=["1.31"])["clusterVersions"]) == 1


def test_update_cluster_config_allows_one_kind_of_change_per_call(simulated_fleet):
    simulated_fleet.create_cluster()
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_cluster_config(
            name="prod",
            logging={"clusterLogging": [{"types": ["api"], "enabled": True}]},
            resourcesVpcConfig={"endpointPrivateAccess": True},
        )
    assert _error(excinfo) == ("InvalidParameterException", "Only one type of update can be allowed.")
    update = simulated_fleet.eks.update_cluster_config(
        name="prod", logging={"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]}
    )["update"]
    assert (update["type"], update["status"]) == ("LoggingUpdate", "InProgress")
    assert simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["status"] == "UPDATING"
    simulated_fleet.sandbox.settle()
    cluster = simulated_fleet.eks.describe_cluster(name="prod")["cluster"]
    assert cluster["status"] == "ACTIVE"
    assert {"types": ["api", "audit"], "enabled": True} in cluster["logging"]["clusterLogging"]
    assert simulated_fleet.eks.describe_update(name="prod", updateId=update["id"])["update"]["status"] == "Successful"

    endpoint = simulated_fleet.eks.update_cluster_config(
        name="prod", resourcesVpcConfig={"endpointPrivateAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}
    )["update"]
    assert endpoint["type"] == "EndpointAccessUpdate"
    simulated_fleet.sandbox.settle()
    vpc = simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["resourcesVpcConfig"]
    assert (vpc["endpointPrivateAccess"], vpc["publicAccessCidrs"]) == (True, ["203.0.113.0/24"])
    policy = simulated_fleet.eks.update_cluster_config(name="prod", upgradePolicy={"supportType": "STANDARD"})["update"]
    assert policy["type"] == "UpgradePolicyUpdate"
    simulated_fleet.sandbox.settle()
    assert simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["upgradePolicy"] == {"supportType": "STANDARD"}


def test_authentication_mode_moves_only_towards_access_entries(simulated_fleet):
    simulated_fleet.create_cluster()
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_cluster_config(name="prod", accessConfig={"authenticationMode": "API"})
    assert _error(excinfo) == (
        "InvalidParameterException",
        "Unsupported authentication mode update from CONFIG_MAP to API",
    )
    update = simulated_fleet.eks.update_cluster_config(
        name="prod", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"}
    )
    assert update["update"]["type"] == "AccessConfigUpdate"
    simulated_fleet.sandbox.settle()
    assert (
        simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["accessConfig"]["authenticationMode"]
        == "API_AND_CONFIG_MAP"
    )


def test_delete_cluster_is_refused_with_deletion_protection_or_node_groups(simulated_fleet):
    simulated_fleet.create_cluster(deletionProtection=True)
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.delete_cluster(name="prod")
    assert _error(excinfo)[0] == "InvalidRequestException"
    update = simulated_fleet.eks.update_cluster_config(name="prod", deletionProtection=False)["update"]
    assert update["type"] == "DeletionProtectionUpdate"
    simulated_fleet.sandbox.settle()
    simulated_fleet.create_nodegroup()
    simulated_fleet.eks.create_fargate_profile(
        clusterName="prod",
        fargateProfileName="batch",
        podExecutionRoleArn=simulated_fleet.role("fp", "eks-fargate-pods.amazonaws.com"),
        selectors=[{"namespace": "batch"}],
    )
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.delete_cluster(name="prod")
    assert _error(excinfo) == ("ResourceInUseException", "Cluster has nodegroups attached: ng-1")
    simulated_fleet.eks.delete_nodegroup(clusterName="prod", nodegroupName="ng-1")
    simulated_fleet.sandbox.settle()
    assert simulated_fleet.eks.list_fargate_profiles(clusterName="prod")["fargateProfileNames"] == ["batch"]
    assert (
        simulated_fleet.eks.describe_fargate_profile(clusterName="prod", fargateProfileName="batch")["fargateProfile"][
            "status"
        ]
        == "ACTIVE"
    )
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.delete_cluster(name="prod")
    assert _error(excinfo)[0] == "ResourceInUseException"
    simulated_fleet.eks.delete_fargate_profile(clusterName="prod", fargateProfileName="batch")
    simulated_fleet.sandbox.settle()
    issuer = simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["identity"]["oidc"]["issuer"]
    cluster_id = issuer.rpartition("/")[2].lower()
    assert cluster_id in simulated_fleet.sandbox.kube_clusters
    assert simulated_fleet.eks.delete_cluster(name="prod")["cluster"]["status"] == "DELETING"
    simulated_fleet.sandbox.settle()
    assert simulated_fleet.eks.list_clusters()["clusters"] == []
    assert cluster_id not in simulated_fleet.sandbox.kube_clusters
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.describe_cluster(name="prod")
    assert _error(excinfo) == ("ResourceNotFoundException", "No cluster found for name: prod.")


def test_tags_on_clusters_and_node_groups(simulated_fleet):
    arn = simulated_fleet.create_cluster(tags={"team": "payments"})["arn"]
    simulated_fleet.eks.tag_resource(resourceArn=arn, tags={"env": "prod"})
    assert simulated_fleet.eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "payments", "env": "prod"}
    simulated_fleet.eks.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["tags"] == {"env": "prod"}
    nodegroup_arn = simulated_fleet.create_nodegroup(tags={"a": "b"})["nodegroupArn"]
    assert simulated_fleet.eks.list_tags_for_resource(resourceArn=nodegroup_arn)["tags"] == {"a": "b"}
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.list_tags_for_resource(resourceArn="arn:aws:eks:us-east-1:123456789012:cluster/nope")
    assert _error(excinfo)[0] == "NotFoundException"


def test_associate_encryption_config_is_an_update(simulated_fleet):
    simulated_fleet.create_cluster()
    key = simulated_fleet.client("kms").create_key()["KeyMetadata"]["Arn"]
    update = simulated_fleet.eks.associate_encryption_config(
        clusterName="prod", encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": key}}]
    )["update"]
    assert update["type"] == "AssociateEncryptionConfig"
    simulated_fleet.sandbox.settle()
    assert (
        simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["encryptionConfig"][0]["provider"]["keyArn"] == key
    )
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.associate_encryption_config(
            clusterName="prod", encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": key}}]
        )
    assert _error(excinfo)[0] == "InvalidRequestException"
