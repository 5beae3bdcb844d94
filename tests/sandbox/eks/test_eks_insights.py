"""Upgrade insights computed from the simulated cluster: deprecated API usage, version skew, add-ons."""

from __future__ import annotations

import base64
import ssl
import urllib.request
from datetime import timedelta

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
        clusterName="prod", id=insights["Amazon EKS add-on version compatibility"]["id"]
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
    summary = _by_name(simulated_fleet)["Amazon EKS add-on version compatibility"]
    insight = simulated_fleet.eks.describe_insight(clusterName="prod", id=summary["id"])["insight"]
    assert insight["insightStatus"]["status"] == "ERROR"
    assert insight["insightStatus"]["reason"] == "Add-ons not compatible with v1.33: aws-ebs-csi-driver."
    details = insight["categorySpecificSummary"]["addonCompatibilityDetails"]
    assert [detail["name"] for detail in details] == ["aws-ebs-csi-driver"]
