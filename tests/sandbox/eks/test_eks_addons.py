"""Managed add-ons: versions from the catalogue, workloads in kube-system, updates, the one-minor rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from eks_sandbox.faults import UpdateFailureFault


def _error(excinfo: pytest.ExceptionInfo) -> tuple[str, str]:
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def _image(kube, kind, name):
    return kube.get("apps/v1", kind, name, "kube-system")["spec"]["template"]["spec"]["containers"][0]["image"]


def test_create_addon_uses_the_default_version_and_applies_its_workloads(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31", bootstrapSelfManagedAddons=False)
    kube = simulated_fleet.kube("prod")
    assert kube.get("apps/v1", "DaemonSet", "kube-proxy", "kube-system") is None
    created = simulated_fleet.eks.create_addon(clusterName="prod", addonName="kube-proxy")["addon"]
    assert (created["status"], created["addonVersion"]) == ("CREATING", "v1.31.10-eksbuild.2")
    simulated_fleet.sandbox.settle()
    assert simulated_fleet.eks.describe_addon(clusterName="prod", addonName="kube-proxy")["addon"]["status"] == "ACTIVE"
    assert _image(kube, "DaemonSet", "kube-proxy") == (
        "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.31.10-minimal-eksbuild.2"
    )
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="coredns")
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="aws-ebs-csi-driver")
    simulated_fleet.sandbox.settle()
    assert kube.get("apps/v1", "Deployment", "coredns", "kube-system")["spec"]["replicas"] == 2
    assert kube.get("apps/v1", "Deployment", "ebs-csi-controller", "kube-system") is not None
    assert kube.get("apps/v1", "DaemonSet", "ebs-csi-node", "kube-system") is not None
    assert simulated_fleet.eks.list_addons(clusterName="prod")["addons"] == [
        "aws-ebs-csi-driver",
        "coredns",
        "kube-proxy",
    ]
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_addon(clusterName="prod", addonName="coredns")
    assert _error(excinfo)[0] == "ResourceInUseException"


def test_kube_proxy_image_tags_drop_the_minimal_infix_from_1_34(simulated_fleet):
    # 1.33 and earlier: <upstream>-minimal-<build>; from 1.34: the add-on version itself (v1.34.0-eksbuild.5,
    # awsdocs/amazon-eks-user-guide PR #1146). 2026-07 has 1.33 to 1.36 released.
    simulated_fleet.sandbox.clock.skip(datetime(2026, 7, 1, tzinfo=UTC) - simulated_fleet.sandbox.clock.now())
    expected = {
        "1.33": "kube-proxy:v1.33.10-minimal-eksbuild.2",
        "1.34": "kube-proxy:v1.34.6-eksbuild.2",
        "1.36": "kube-proxy:v1.36.0-eksbuild.14",
    }
    for version in expected:
        name = f"k{version.replace('.', '')}"
        simulated_fleet.create_cluster(name=name, version=version, bootstrapSelfManagedAddons=False)
        simulated_fleet.eks.create_addon(clusterName=name, addonName="kube-proxy")
    simulated_fleet.sandbox.settle()
    images = {
        version: _image(simulated_fleet.kube(f"k{version.replace('.', '')}"), "DaemonSet", "kube-proxy")
        for version in expected
    }
    assert images == {
        version: f"602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/{tag}" for version, tag in expected.items()
    }


def test_addon_versions_must_fit_the_cluster_version(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_addon(clusterName="prod", addonName="kube-proxy", addonVersion="v1.32.13-eksbuild.5")
    assert _error(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_addon(clusterName="prod", addonName="not-an-addon")
    assert _error(excinfo)[0] == "InvalidParameterException"


def test_update_addon_is_an_update_visible_with_addon_name(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="kube-proxy", addonVersion="v1.31.10-eksbuild.2")
    simulated_fleet.sandbox.settle()
    update = simulated_fleet.eks.update_addon(
        clusterName="prod", addonName="kube-proxy", addonVersion="v1.31.14-eksbuild.9", resolveConflicts="OVERWRITE"
    )["update"]
    assert (update["type"], update["status"]) == ("AddonUpdate", "InProgress")
    assert (
        simulated_fleet.eks.describe_addon(clusterName="prod", addonName="kube-proxy")["addon"]["status"] == "UPDATING"
    )
    assert simulated_fleet.eks.list_updates(name="prod", addonName="kube-proxy")["updateIds"] == [update["id"]]
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.describe_update(name="prod", updateId=update["id"])  # without addonName
    assert _error(excinfo)[0] == "ResourceNotFoundException"
    simulated_fleet.sandbox.settle()
    assert (
        simulated_fleet.eks.describe_update(name="prod", updateId=update["id"], addonName="kube-proxy")["update"][
            "status"
        ]
        == "Successful"
    )
    assert _image(simulated_fleet.kube("prod"), "DaemonSet", "kube-proxy").endswith(":v1.31.14-minimal-eksbuild.9")


def test_vpc_cni_moves_one_minor_version_at_a_time(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="vpc-cni", addonVersion="v1.18.6-eksbuild.1")
    simulated_fleet.sandbox.settle()
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_addon(clusterName="prod", addonName="vpc-cni", addonVersion="v1.20.1-eksbuild.3")
    code, message = _error(excinfo)
    assert code == "InvalidParameterException" and "one minor version at a time" in message
    simulated_fleet.eks.update_addon(clusterName="prod", addonName="vpc-cni", addonVersion="v1.19.6-eksbuild.7")
    simulated_fleet.sandbox.settle()
    assert _image(simulated_fleet.kube("prod"), "DaemonSet", "aws-node").endswith("amazon-k8s-cni:v1.19.6-eksbuild.7")


def test_configuration_values_and_service_account_role(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_addon(clusterName="prod", addonName="coredns", configurationValues='{"bogus": 1}')
    assert "bogus" in _error(excinfo)[1]
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="coredns", configurationValues='{"replicaCount": 3}')
    simulated_fleet.eks.create_addon(
        clusterName="prod", addonName="vpc-cni", serviceAccountRoleArn="arn:aws:iam::123456789012:role/cni"
    )
    simulated_fleet.sandbox.settle()
    kube = simulated_fleet.kube("prod")
    assert kube.get("apps/v1", "Deployment", "coredns", "kube-system")["spec"]["replicas"] == 3
    account = kube.get("v1", "ServiceAccount", "aws-node", "kube-system")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "arn:aws:iam::123456789012:role/cni"


def test_describe_addon_versions_and_configuration(simulated_fleet):
    addons = simulated_fleet.eks.describe_addon_versions(kubernetesVersion="1.31")["addons"]
    assert {"kube-proxy", "vpc-cni", "coredns", "eks-pod-identity-agent", "aws-ebs-csi-driver"} <= {
        a["addonName"] for a in addons
    }
    coredns = next(a for a in addons if a["addonName"] == "coredns")
    defaults = [v["addonVersion"] for v in coredns["addonVersions"] if v["compatibilities"][0]["defaultVersion"]]
    assert defaults == ["v1.11.4-eksbuild.40"]
    assert all(c["clusterVersion"] == "1.31" for v in coredns["addonVersions"] for c in v["compatibilities"])
    assert [a["addonName"] for a in simulated_fleet.eks.describe_addon_versions(types=["storage"])["addons"]] == [
        "aws-ebs-csi-driver",
        "aws-efs-csi-driver",
        "aws-fsx-csi-driver",
        "aws-mountpoint-s3-csi-driver",
        "snapshot-controller",
    ]
    page = simulated_fleet.eks.describe_addon_versions(maxResults=2)
    assert len(page["addons"]) == 2 and page["nextToken"]
    configuration = simulated_fleet.eks.describe_addon_configuration(
        addonName="vpc-cni", addonVersion="v1.20.1-eksbuild.3"
    )
    assert configuration["podIdentityConfiguration"] == [
        {"serviceAccount": "aws-node", "recommendedManagedPolicies": ["arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"]}
    ]
    assert json.loads(configuration["configurationSchema"])["type"] == "object"
    ebs = simulated_fleet.eks.describe_addon_configuration(
        addonName="aws-ebs-csi-driver", addonVersion="v1.44.0-eksbuild.1"
    )
    assert ebs["podIdentityConfiguration"][0]["serviceAccount"] == "ebs-csi-controller-sa"


def test_degrade_heal_delete_and_injected_update_failure(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31", bootstrapSelfManagedAddons=False)
    for addon in ("vpc-cni", "kube-proxy", "coredns"):
        simulated_fleet.eks.create_addon(clusterName="prod", addonName=addon)
    # Nodes for CoreDNS's pods: without them EKS's own health check keeps it DEGRADED.
    simulated_fleet.create_nodegroup()
    with simulated_fleet.sandbox.transaction():
        simulated_fleet.sandbox.eks.degrade_addon(
            "123456789012",
            "us-east-1",
            "prod",
            "coredns",
            "InsufficientNumberOfReplicas",
            "coredns has 0 of 2 replicas ready",
        )
    addon = simulated_fleet.eks.describe_addon(clusterName="prod", addonName="coredns")["addon"]
    assert addon["status"] == "DEGRADED"
    assert addon["health"]["issues"][0]["code"] == "InsufficientNumberOfReplicas"
    with simulated_fleet.sandbox.transaction():
        simulated_fleet.sandbox.eks.heal_addon("123456789012", "us-east-1", "prod", "coredns")
    assert simulated_fleet.eks.describe_addon(clusterName="prod", addonName="coredns")["addon"]["status"] == "ACTIVE"

    simulated_fleet.sandbox.faults.add(
        UpdateFailureFault(
            update_type="AddonUpdate", addon="coredns", error_code="ConfigurationConflict", message="Conflicts found"
        )
    )
    update = simulated_fleet.eks.update_addon(
        clusterName="prod", addonName="coredns", addonVersion="v1.11.4-eksbuild.22"
    )
    simulated_fleet.sandbox.settle()
    failed = simulated_fleet.eks.describe_update(name="prod", updateId=update["update"]["id"], addonName="coredns")[
        "update"
    ]
    assert (failed["status"], failed["errors"][0]["errorCode"]) == ("Failed", "ConfigurationConflict")
    addon = simulated_fleet.eks.describe_addon(clusterName="prod", addonName="coredns")["addon"]
    assert (addon["status"], addon["addonVersion"]) == ("UPDATE_FAILED", "v1.11.4-eksbuild.40")

    assert simulated_fleet.eks.delete_addon(clusterName="prod", addonName="coredns")["addon"]["status"] == "DELETING"
    simulated_fleet.sandbox.settle()
    assert simulated_fleet.kube("prod").get("apps/v1", "Deployment", "coredns", "kube-system") is None
    assert simulated_fleet.eks.list_addons(clusterName="prod")["addons"] == ["kube-proxy", "vpc-cni"]
