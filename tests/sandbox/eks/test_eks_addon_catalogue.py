"""The add-on catalogue as DescribeAddonVersions serves it: every entry of include/eks/addons.yaml, its filters,
and pages of at most ``maxResults`` add-ons followed by an opaque ``nextToken``."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.helpers import REPO

CATALOGUE = yaml.safe_load((REPO / "include" / "eks" / "addons.yaml").read_text())["addons"]
#: The add-ons the issue names as published by EKS (AWS and community ones).
PUBLISHED = {
    "vpc-cni",
    "coredns",
    "kube-proxy",
    "eks-pod-identity-agent",
    "aws-ebs-csi-driver",
    "aws-efs-csi-driver",
    "aws-mountpoint-s3-csi-driver",
    "snapshot-controller",
    "amazon-cloudwatch-observability",
    "adot",
    "aws-guardduty-agent",
    "eks-node-monitoring-agent",
    "metrics-server",
    "cert-manager",
    "external-dns",
    "aws-network-flow-monitoring-agent",
    "aws-secrets-store-csi-driver-provider",
}


def _all_pages(eks: Any, **arguments: Any) -> tuple[list[dict[str, Any]], int]:
    addons, pages, token = [], 0, None
    while True:
        page = eks.describe_addon_versions(**arguments, **({"nextToken": token} if token else {}))
        addons += page["addons"]
        pages += 1
        token = page.get("nextToken")
        if not token:
            return addons, pages


@pytest.mark.parametrize("cluster_version", ["1.29", "1.31", "1.33", "1.35"])
def test_every_catalogue_entry_is_answered_as_the_data_file_says(simulated_fleet, cluster_version):
    served, _ = _all_pages(simulated_fleet.eks, kubernetesVersion=cluster_version)
    by_name = {addon["addonName"]: addon for addon in served}
    expected = {
        name
        for name, spec in CATALOGUE.items()
        if any(cluster_version in entry["cluster_versions"] for entry in spec["versions"])
    }
    assert set(by_name) == expected and expected >= PUBLISHED
    for name, addon in by_name.items():
        spec = CATALOGUE[name]
        assert (addon["type"], addon["owner"], addon["publisher"], addon["defaultNamespace"]) == (
            spec["type"],
            spec["owner"],
            spec["publisher"],
            spec["namespace"],
        )
        versions = {v["addonVersion"]: v["compatibilities"][0]["defaultVersion"] for v in addon["addonVersions"]}
        assert versions == {
            entry["version"]: cluster_version in entry["default_for"]
            for entry in spec["versions"]
            if cluster_version in entry["cluster_versions"]
        }
        assert sum(versions.values()) == 1, f"{name} has one default for {cluster_version}"


def test_owners_and_publishers_tell_aws_community_and_marketplace_add_ons_apart(simulated_fleet):
    eks = simulated_fleet.eks
    community, _ = _all_pages(eks, owners=["community"])
    assert {"metrics-server", "cert-manager", "external-dns"} <= {a["addonName"] for a in community}
    assert {a["owner"] for a in community} == {"community"}
    aws, _ = _all_pages(eks, owners=["aws"], publishers=["eks"])
    assert {"vpc-cni", "amazon-cloudwatch-observability", "aws-guardduty-agent"} <= {a["addonName"] for a in aws}
    marketplace, _ = _all_pages(eks, owners=["aws-marketplace"])
    assert marketplace and all(a["publisher"] != "eks" for a in marketplace)
    datadog, _ = _all_pages(eks, publishers=["datadog"])
    assert [a["addonName"] for a in datadog] == ["datadog_operator"]
    (cloudwatch,) = eks.describe_addon_versions(addonName="amazon-cloudwatch-observability")["addons"]
    assert cloudwatch["type"] == "observability" and cloudwatch["defaultNamespace"] == "amazon-cloudwatch"
    observability, _ = _all_pages(eks, types=["observability"], kubernetesVersion="1.33")
    assert "metrics-server" in {a["addonName"] for a in observability}


def test_describe_addon_versions_pages_through_the_catalogue(simulated_fleet):
    eks = simulated_fleet.eks
    whole = eks.describe_addon_versions(kubernetesVersion="1.33")
    # EKS's default page is 100 add-ons [botocore model, DescribeAddonVersionsRequest.maxResults]: one page here.
    assert "nextToken" not in whole or whole["nextToken"] is None
    paged, pages = _all_pages(eks, kubernetesVersion="1.33", maxResults=7)
    assert pages == -(-len(whole["addons"]) // 7) > 1
    assert [a["addonName"] for a in paged] == [a["addonName"] for a in whole["addons"]]
    first = eks.describe_addon_versions(kubernetesVersion="1.33", maxResults=7)
    assert len(first["addons"]) == 7 and first["nextToken"]
    by_paginator = [
        addon["addonName"]
        for page in eks.get_paginator("describe_addon_versions").paginate(
            kubernetesVersion="1.33", PaginationConfig={"PageSize": 5}
        )
        for addon in page["addons"]
    ]
    assert by_paginator == [a["addonName"] for a in whole["addons"]]


@pytest.mark.parametrize("max_results", [0, 101])
def test_max_results_outside_1_to_100_is_refused(simulated_fleet, max_results):
    client = simulated_fleet.client("eks", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as excinfo:
        client.describe_addon_versions(maxResults=max_results)
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"


def test_a_catalogue_only_add_on_installs_without_workloads(simulated_fleet):
    simulated_fleet.create_cluster(version="1.33")
    created = simulated_fleet.eks.create_addon(clusterName="prod", addonName="kube-state-metrics")["addon"]
    assert created["addonVersion"] == "v2.16.0-eksbuild.1"
    simulated_fleet.sandbox.settle()
    addon = simulated_fleet.eks.describe_addon(clusterName="prod", addonName="kube-state-metrics")["addon"]
    assert addon["status"] == "ACTIVE" and addon["owner"] == "community"
    configuration = simulated_fleet.eks.describe_addon_configuration(
        addonName="amazon-cloudwatch-observability", addonVersion="v4.4.0-eksbuild.1"
    )
    assert configuration["podIdentityConfiguration"][0]["serviceAccount"] == "cloudwatch-agent"
