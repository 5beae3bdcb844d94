"""Upgrade insights computed from the simulated cluster: deprecated API usage, version skew, add-ons."""

from __future__ import annotations

import base64
import ssl
import urllib.request
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from tests.helpers import eks_token


def _by_name(simulated_fleet, cluster="prod"):
    insights = simulated_fleet.eks.list_insights(clusterName=cluster)["insights"]
    return {i["name"]: i for i in insights}


def test_flowschema_v1beta3_usage_is_an_error_before_upgrading_to_1_32(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    cluster = simulated_fleet.eks.describe_cluster(name="prod")["cluster"]
    trusted = ssl.create_default_context(cadata=base64.b64decode(cluster["certificateAuthority"]["data"]).decode())
    request = urllib.request.Request(
        f"{cluster['endpoint']}/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas",
        headers={"User-Agent": "helm/v3.14.0", "Authorization": f"Bearer {eks_token('prod', simulated_fleet.url)}"},
    )
    with urllib.request.urlopen(request, context=trusted) as response:
        assert response.status == 200
    simulated_fleet.eks.start_insights_refresh(clusterName="prod")
    assert simulated_fleet.eks.describe_insights_refresh(clusterName="prod")["status"] == "IN_PROGRESS"
    simulated_fleet.sandbox.clock.skip(timedelta(minutes=1, seconds=1))
    assert simulated_fleet.eks.describe_insights_refresh(clusterName="prod")["status"] == "COMPLETED"
    insight = _by_name(simulated_fleet)["Deprecated APIs removed in Kubernetes v1.32"]
    assert insight["insightStatus"]["status"] == "ERROR"
    assert insight["kubernetesVersion"] == "1.32"
    detail = simulated_fleet.eks.describe_insight(clusterName="prod", id=insight["id"])["insight"]
    (deprecation,) = detail["categorySpecificSummary"]["deprecationDetails"]
    assert deprecation["usage"] == "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas"
    assert deprecation["replacedWith"] == "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"
    assert (deprecation["stopServingVersion"], deprecation["startServingReplacementVersion"]) == ("1.32", "1.29")
    assert deprecation["clientStats"][0]["userAgent"] == "helm/v3.14.0"
    assert deprecation["clientStats"][0]["numberOfRequestsLast30Days"] == 1
    errors = simulated_fleet.eks.list_insights(clusterName="prod", filter={"statuses": ["ERROR"]})["insights"]
    assert [i["name"] for i in errors] == ["Deprecated APIs removed in Kubernetes v1.32"]


def test_version_skew_and_addon_compatibility_insights(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    simulated_fleet.create_nodegroup(version="1.29")
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="kube-proxy")
    simulated_fleet.sandbox.settle()
    insights = _by_name(simulated_fleet)
    kubelet = simulated_fleet.eks.describe_insight(clusterName="prod", id=insights["Kubelet version skew"]["id"])[
        "insight"
    ]
    assert kubelet["insightStatus"]["status"] == "WARNING"
    assert kubelet["resources"][0]["kubernetesResourceUri"].startswith("/api/v1/nodes/ip-")
    assert insights["kube-proxy version skew"]["insightStatus"]["status"] == "PASSING"
    addons = simulated_fleet.eks.describe_insight(
        clusterName="prod", id=insights["EKS add-on version compatibility"]["id"]
    )["insight"]
    # kube-proxy builds exist per minor and move after the control plane: skew decides, not compatibility.
    assert addons["insightStatus"]["status"] == "PASSING"
    assert addons["categorySpecificSummary"]["addonCompatibilityDetails"] == []
    assert insights["Cluster health issues"]["insightStatus"]["status"] == "PASSING"


def test_addon_without_a_version_for_the_next_minor_is_an_error_insight(simulated_fleet):
    simulated_fleet.create_cluster(version="1.32")
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="kube-proxy")
    simulated_fleet.eks.create_addon(
        clusterName="prod", addonName="aws-ebs-csi-driver", addonVersion="v1.37.0-eksbuild.1"
    )
    simulated_fleet.sandbox.settle()
    summary = _by_name(simulated_fleet)["EKS add-on version compatibility"]
    insight = simulated_fleet.eks.describe_insight(clusterName="prod", id=summary["id"])["insight"]
    assert insight["insightStatus"]["status"] == "ERROR"
    assert insight["insightStatus"]["reason"] == "Add-ons not compatible with v1.33: aws-ebs-csi-driver."
    details = insight["categorySpecificSummary"]["addonCompatibilityDetails"]
    assert [detail["name"] for detail in details] == ["aws-ebs-csi-driver"]


def _refresh(simulated_fleet, cluster="prod"):
    simulated_fleet.eks.start_insights_refresh(clusterName=cluster)
    simulated_fleet.sandbox.clock.skip(timedelta(minutes=1, seconds=1))
    assert simulated_fleet.eks.describe_insights_refresh(clusterName=cluster)["status"] == "COMPLETED"


def test_amazon_linux_2_node_groups_warn_two_minors_ahead_and_fail_one_ahead(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    simulated_fleet.create_nodegroup(name="legacy", amiType="AL2_x86_64")
    insight = _by_name(simulated_fleet)["Amazon Linux 2 compatibility"]
    # 1.32 still has AL2 AMIs; 1.33 (N+2) has none: a warning, not an error [UG cluster-insights.adoc].
    assert (insight["kubernetesVersion"], insight["insightStatus"]["status"]) == ("1.32", "WARNING")
    simulated_fleet.eks.update_cluster_version(name="prod", version="1.32")
    simulated_fleet.sandbox.settle()
    simulated_fleet.eks.update_nodegroup_version(clusterName="prod", nodegroupName="legacy")
    simulated_fleet.sandbox.settle()
    insight = _by_name(simulated_fleet)["Amazon Linux 2 compatibility"]
    assert (insight["kubernetesVersion"], insight["insightStatus"]["status"]) == ("1.33", "ERROR")
    detail = simulated_fleet.eks.describe_insight(clusterName="prod", id=insight["id"])["insight"]
    (resource,) = detail["resources"]
    assert resource["arn"].startswith("arn:aws:eks:us-east-1:123456789012:nodegroup/prod/legacy/")
    assert detail["additionalInfo"] and all(link.startswith("https://") for link in detail["additionalInfo"].values())
    errors = simulated_fleet.eks.list_insights(
        clusterName="prod", filter={"categories": ["UPGRADE_READINESS"], "statuses": ["ERROR"]}
    )["insights"]
    assert [i["name"] for i in errors] == ["Amazon Linux 2 compatibility"]
    # Fixed: the node group moves to AL2023; the insight passes after the next refresh, with a new transition time.
    simulated_fleet.eks.delete_nodegroup(clusterName="prod", nodegroupName="legacy")
    simulated_fleet.sandbox.settle()
    simulated_fleet.create_nodegroup(name="current", amiType="AL2023_x86_64_STANDARD")
    _refresh(simulated_fleet)
    fixed = _by_name(simulated_fleet)["Amazon Linux 2 compatibility"]
    assert fixed["insightStatus"]["status"] == "PASSING"
    assert fixed["lastTransitionTime"] > insight["lastTransitionTime"]


def test_list_insights_filters_by_category_version_and_status(simulated_fleet):
    simulated_fleet.create_cluster(version="1.32")
    every = simulated_fleet.eks.list_insights(clusterName="prod")["insights"]
    assert {i["category"] for i in every} == {"UPGRADE_READINESS"}
    assert {i["kubernetesVersion"] for i in every} == {"1.33"}
    assert (
        simulated_fleet.eks.list_insights(clusterName="prod", filter={"categories": ["MISCONFIGURATION"]})["insights"]
        == []
    )
    assert (
        simulated_fleet.eks.list_insights(clusterName="prod", filter={"kubernetesVersions": ["1.34"]})["insights"] == []
    )
    passing = simulated_fleet.eks.list_insights(clusterName="prod", filter={"statuses": ["PASSING"]})["insights"]
    assert len(passing) == len(every)
    page = simulated_fleet.eks.list_insights(clusterName="prod", maxResults=2)
    assert len(page["insights"]) == 2 and page["nextToken"]


def test_update_cluster_version_is_refused_while_an_upgrade_insight_is_in_error(simulated_fleet):
    simulated_fleet.create_cluster(version="1.32")
    simulated_fleet.create_nodegroup(name="legacy", amiType="AL2_x86_64")
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.update_cluster_version(name="prod", version="1.33")
    error = excinfo.value.response["Error"]
    assert error["Code"] == "InvalidStateException"
    assert error["Message"].startswith("Upgrade readiness issues detected. Call the EKS ListInsights API")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["status"] == "ACTIVE"
    forced = simulated_fleet.eks.update_cluster_version(name="prod", version="1.33", force=True)["update"]
    assert (forced["type"], forced["status"]) == ("VersionUpdate", "InProgress")
    simulated_fleet.sandbox.settle()
    assert simulated_fleet.eks.describe_cluster(name="prod")["cluster"]["version"] == "1.33"


def test_a_fixed_cluster_upgrades_without_force_once_insights_refresh(simulated_fleet):
    simulated_fleet.create_cluster(version="1.32")
    simulated_fleet.create_nodegroup(name="legacy", amiType="AL2_x86_64")
    _by_name(simulated_fleet)  # insights computed with the AL2 node group
    simulated_fleet.eks.delete_nodegroup(clusterName="prod", nodegroupName="legacy")
    simulated_fleet.sandbox.settle()
    # EKS decides on the insights it has: still ERROR until they refresh.
    with pytest.raises(ClientError, match="InvalidStateException"):
        simulated_fleet.eks.update_cluster_version(name="prod", version="1.33")
    _refresh(simulated_fleet)
    update = simulated_fleet.eks.update_cluster_version(name="prod", version="1.33")["update"]
    assert update["status"] == "InProgress"


def test_demo_fleet_insights_warn_of_amazon_linux_2_on_analytics_staging_and_block_nothing(demo_fleet):
    import boto3

    eks = boto3.client("eks", endpoint_url=demo_fleet.base_url, region_name="us-east-1")
    statuses = {
        cluster: {i["name"]: i["insightStatus"]["status"] for i in eks.list_insights(clusterName=cluster)["insights"]}
        for cluster in ("payments-prod", "analytics-staging")
    }
    assert set(statuses["payments-prod"].values()) == {"PASSING"}
    # AL2 node group "workers" on 1.31: 1.32 still has AL2 AMIs, 1.33 has none — a warning for the next hop.
    assert statuses["analytics-staging"].pop("Amazon Linux 2 compatibility") == "WARNING"
    assert set(statuses["analytics-staging"].values()) == {"PASSING"}
