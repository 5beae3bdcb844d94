"""EKS cluster insights (UPGRADE_READINESS), computed from the simulated cluster's real state.

Checks, each evaluated against the *next* Kubernetes minor (what an upgrade would meet):
- deprecated APIs removed in the next version, from the API server's request log (``KubeCluster.api_usage``,
  the last 30 days [UG clusters/update-cluster.adoc]) and its served-versions catalogue;
- kubelet version skew (3 minors from kubelet 1.25, 2 before [UG update-cluster.adoc]);
- kube-proxy version skew (never newer than the API server, at most 3 minors older
  [kubernetes.io/releases/version-skew-policy]);
- EKS add-on version compatibility with the next version (``include/eks/addons.yaml``);
- cluster health issues;
- Amazon Linux 2 compatibility: managed node groups on AL2 AMI types, which EKS does not publish after 1.32.

Names, descriptions and PASSING reasons follow the user guide's ListInsights example, recommendations and
additionalInfo links its DescribeInsight examples (deprecated APIs, kubelet skew) [awsdocs/amazon-eks-user-guide
latest/ug/clusters/cluster-insights.adoc @181a2b8]; the other insights' links name the user guide's page on the
matter (UNCONFIRMED). A status of ERROR means the next minor (N+1) is affected, WARNING a later one (N+2 or more)
[same page].
MISCONFIGURATION insights concern EKS Hybrid Nodes only and ROLLBACK_READINESS ones a rollback: the sandbox
simulates neither, so it has no insights of those categories.

Insights refresh on their own every 24 hours [BC] (here: lazily, on the first read after 24 simulated hours or
after the cluster's version changed) and on StartInsightsRefresh, which takes ``insights_refresh`` minutes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eks_sandbox.eks.catalogue import minor_of, minor_version
from eks_sandbox.eks.cluster_versions import kubelet_skew_limit
from eks_sandbox.eks.clusters import Cluster
from eks_sandbox.eks.errors import EksError, not_found
from eks_sandbox.eks.nodegroups import LAST_AL2_MINOR
from eks_sandbox.eks.operations import Request, operation, paginate

if TYPE_CHECKING:
    from eks_sandbox.eks.backend import EksBackend

AUTOMATIC_REFRESH = timedelta(hours=24)
USAGE_WINDOW = timedelta(days=30)
CATEGORY = "UPGRADE_READINESS"
UPDATE_CLUSTER_DOCS = "https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html"


@dataclass
class InsightsState:
    refreshed_at: datetime
    kubernetes_version: str
    insights: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: insight id → (status, when it took that status): lastTransitionTime
    transitions: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    refresh_status: str = "COMPLETED"
    refresh_started: datetime | None = None
    refresh_ended: datetime | None = None


def _insight(
    cluster: Cluster,
    check: str,
    name: str,
    description: str,
    recommendation: str,
    status: str,
    reason: str,
    additional_info: dict[str, str],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{cluster.arn}/insights/{check}")),
        "name": name,
        "category": CATEGORY,
        "kubernetesVersion": minor_version(minor_of(cluster.version) + 1),
        "description": description,
        "insightStatus": {"status": status, "reason": reason},
        "recommendation": recommendation,
        "additionalInfo": additional_info,
        "resources": extra.pop("resources", []),
        "categorySpecificSummary": extra.pop("summary", {}),
    }


def _deprecated_apis(cluster: Cluster, now: datetime) -> dict[str, Any]:
    current = (1, minor_of(cluster.version))
    upcoming = (1, current[1] + 1)
    details = []
    for (group, version, resource), agents in sorted(cluster.kube.api_usage.items()):
        resource_type = cluster.kube.catalogue.by_resource(group, resource)
        if resource_type is None or version not in resource_type.versions:
            continue
        if not resource_type.serves(version, current) or resource_type.serves(version, upcoming):
            continue
        recent = {agent: usage for agent, usage in agents.items() if now - usage.last_request <= USAGE_WINDOW}
        if not recent:
            continue
        replacement = next(iter(resource_type.served_versions(upcoming)), None)
        prefix = f"/apis/{group}" if group else "/api"
        detail: dict[str, Any] = {
            "usage": f"{prefix}/{version}/{resource}",
            "stopServingVersion": minor_version(upcoming[1]),
            "clientStats": [
                {"userAgent": agent, "numberOfRequestsLast30Days": usage.count, "lastRequestTime": usage.last_request}
                for agent, usage in sorted(recent.items())
            ],
        }
        if replacement:
            detail["replacedWith"] = f"{prefix}/{replacement}/{resource}"
            served_from = resource_type.versions[replacement][0]
            if served_from:
                detail["startServingReplacementVersion"] = f"{served_from[0]}.{served_from[1]}"
        details.append(detail)
    next_version = minor_version(upcoming[1])
    return _insight(
        cluster,
        "deprecated-apis",
        f"Deprecated APIs removed in Kubernetes v{next_version}",
        f"Checks for usage of deprecated APIs that are scheduled for removal in Kubernetes v{next_version}. "
        "Upgrading your cluster before migrating to the updated APIs supported by v"
        f"{next_version} could cause application impact.",
        "Update manifests and API clients to use newer Kubernetes APIs if applicable before upgrading to Kubernetes "
        f"v{next_version}.",
        "ERROR" if details else "PASSING",
        "Deprecated API usage detected within last 30 days."
        if details
        else "No deprecated API usage detected within the last 30 days.",
        {
            "EKS update cluster documentation": UPDATE_CLUSTER_DOCS,
            f"Kubernetes v{next_version} deprecation guide": "https://kubernetes.io/docs/reference/using-api/"
            f"deprecation-guide/#v1-{upcoming[1]}",
        },
        summary={"deprecationDetails": details, "addonCompatibilityDetails": []},
    )


def _kubelet_skew(cluster: Cluster) -> dict[str, Any]:
    upcoming = minor_of(cluster.version) + 1
    resources, worst = [], "PASSING"
    for node in cluster.kube.list("v1", "Node"):
        kubelet = node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")
        if not kubelet:
            continue
        status = "PASSING"
        if upcoming - minor_of(kubelet) > kubelet_skew_limit(kubelet):
            status = "ERROR"
        elif minor_of(kubelet) < minor_of(cluster.version):
            status = "WARNING"
        if status != "PASSING":
            resources.append(
                {
                    "insightStatus": {
                        "status": status,
                        "reason": f"kubelet {kubelet} on control plane {cluster.version}",
                    },
                    "kubernetesResourceUri": f"/api/v1/nodes/{node['metadata']['name']}",
                }
            )
            worst = "ERROR" if "ERROR" in (worst, status) else status
    reasons = {
        "PASSING": "Node kubelet versions match the cluster control plane version.",
        "WARNING": "Node kubelet versions are older than the control plane but within the supported skew.",
        "ERROR": f"Upgrading to v{minor_version(upcoming)} would put node kubelets beyond the supported skew.",
    }
    return _insight(
        cluster,
        "kubelet-version-skew",
        "Kubelet version skew",
        "Checks for kubelet versions of worker nodes in the cluster to see if upgrade would cause non compliance "
        "with supported Kubernetes kubelet version skew policy.",
        "Upgrade your worker nodes to match the Kubernetes version of your cluster control plane.",
        worst,
        reasons[worst],
        {
            "Kubelet version skew policy": "https://kubernetes.io/releases/version-skew-policy/#kubelet",
            "Updating a managed node group": "https://docs.aws.amazon.com/eks/latest/userguide/"
            "update-managed-node-group.html",
        },
        resources=resources,
    )


def _kube_proxy_skew(cluster: Cluster) -> dict[str, Any]:
    upcoming = minor_of(cluster.version) + 1
    daemonset = cluster.kube.get("apps/v1", "DaemonSet", "kube-proxy", "kube-system")
    status, reason, resources = "PASSING", "kube-proxy is not installed.", []
    if daemonset is not None:
        image = daemonset["spec"]["template"]["spec"]["containers"][0]["image"]
        proxy_minor = minor_of(image.rpartition(":")[2])
        if proxy_minor > minor_of(cluster.version) or upcoming - proxy_minor > 3:
            status, reason = "ERROR", f"kube-proxy {image.rpartition(':')[2]} would be outside the supported skew."
        elif proxy_minor < minor_of(cluster.version):
            status, reason = "WARNING", f"kube-proxy {image.rpartition(':')[2]} is older than the control plane."
        else:
            reason = "kube-proxy versions match the cluster control plane version."
        if status != "PASSING":
            resources.append(
                {
                    "insightStatus": {"status": status, "reason": reason},
                    "kubernetesResourceUri": "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy",
                }
            )
    return _insight(
        cluster,
        "kube-proxy-version-skew",
        "kube-proxy version skew",
        "Checks version of kube-proxy in cluster to see if upgrade would cause non compliance with supported "
        "Kubernetes kube-proxy version skew policy.",
        "Update kube-proxy to a version compatible with the control plane and the kubelets.",
        status,
        reason,
        {
            "Kubernetes version skew policy": "https://kubernetes.io/releases/version-skew-policy/#kube-proxy",
            "Updating kube-proxy": "https://docs.aws.amazon.com/eks/latest/userguide/managing-kube-proxy.html",
        },
        resources=resources,
    )


def _addon_compatibility(backend: EksBackend, cluster: Cluster) -> dict[str, Any]:
    upcoming = minor_version(minor_of(cluster.version) + 1)
    details, incompatible = [], []
    for addon in sorted(cluster.addons.values(), key=lambda a: a.name):
        spec = backend.catalogue.addons.get(addon.name)
        if spec.update_after_nodegroups:
            # kube-proxy builds exist per minor and follow the control plane; whether it may stay behind is a
            # version-skew question, answered by the kube-proxy skew insight, not by this one.
            continue
        compatible = [v.version for v in spec.versions if upcoming in v.cluster_versions]
        details.append({"name": addon.name, "compatibleVersions": compatible})
        if addon.version not in compatible:
            incompatible.append(addon.name)
    return _insight(
        cluster,
        "addon-version-compatibility",
        "EKS add-on version compatibility",
        "Checks version of installed EKS add-ons to ensure they are compatible with the next version of Kubernetes. ",
        f"Upgrade the EKS add-ons to versions compatible with Kubernetes v{upcoming} (see compatibleVersions).",
        "ERROR" if incompatible else "PASSING",
        f"Add-ons not compatible with v{upcoming}: {', '.join(incompatible)}."
        if incompatible
        else "All installed EKS add-on versions are compatible with next Kubernetes version.",
        {"Updating an Amazon EKS add-on": "https://docs.aws.amazon.com/eks/latest/userguide/updating-an-add-on.html"},
        summary={"deprecationDetails": [], "addonCompatibilityDetails": details},
    )


def _cluster_health(cluster: Cluster) -> dict[str, Any]:
    issues = cluster.health_issues
    return _insight(
        cluster,
        "cluster-health",
        "Cluster health issues",
        "Checks for any cluster health issues that prevent successful upgrade to the next Kubernetes version on EKS.",
        "Resolve the cluster health issues reported in DescribeCluster health.",
        "ERROR" if issues else "PASSING",
        "; ".join(i["message"] for i in issues) if issues else "No cluster health issues detected.",
        {"EKS cluster health": "https://docs.aws.amazon.com/eks/latest/userguide/troubleshooting.html"},
    )


def _amazon_linux_2(cluster: Cluster) -> dict[str, Any]:
    """Managed node groups on AL2 AMI types: ERROR when the next minor has no AL2 AMIs (EKS publishes none after
    1.32 [UG eks-ami-build-scripts; include/eks/node-amis.yaml]), WARNING while a later minor is the first without
    them (the N+2 rule of the insight statuses). The insight's name is UNCONFIRMED (AWS documents no list of
    insight names)."""
    upcoming = minor_of(cluster.version) + 1
    on_al2 = sorted(
        (ng for ng in cluster.nodegroups.values() if ng.ami_type.startswith("AL2_")), key=lambda ng: ng.name
    )
    status = "PASSING"
    if on_al2:
        status = "ERROR" if upcoming > LAST_AL2_MINOR else "WARNING"
    reasons = {
        "PASSING": "No managed node groups use Amazon Linux 2 AMIs.",
        "WARNING": f"Managed node groups use Amazon Linux 2 AMIs, which Amazon EKS does not publish after Kubernetes "
        f"1.{LAST_AL2_MINOR}.",
        "ERROR": f"Managed node groups use Amazon Linux 2 AMIs, which Amazon EKS does not publish for Kubernetes "
        f"v{minor_version(upcoming)}.",
    }
    resources = [
        {"insightStatus": {"status": status, "reason": f"{ng.name} uses {ng.ami_type}"}, "arn": ng.arn} for ng in on_al2
    ]
    return _insight(
        cluster,
        "amazon-linux-2-compatibility",
        "Amazon Linux 2 compatibility",
        "Checks for managed node groups using Amazon Linux 2 AMIs, which are not published for Kubernetes versions "
        f"after 1.{LAST_AL2_MINOR}.",
        "Migrate the node groups to Amazon Linux 2023 or Bottlerocket AMIs before upgrading to Kubernetes "
        f"1.{LAST_AL2_MINOR + 1}.",
        status,
        reasons[status],
        {
            "Upgrade from Amazon Linux 2 to Amazon Linux 2023": "https://docs.aws.amazon.com/eks/latest/userguide/"
            "al2023.html",
            "Amazon EKS AMI deprecation FAQs": "https://docs.aws.amazon.com/eks/latest/userguide/"
            "eks-ami-deprecation-faqs.html",
        },
        resources=resources,
    )


def refresh(backend: EksBackend, cluster: Cluster, at: datetime) -> InsightsState:
    """Re-evaluate every check now; keep lastTransitionTime where a status did not change."""
    stamp = backend.stamp(at)
    state = cluster.insights or InsightsState(refreshed_at=stamp, kubernetes_version=cluster.version)
    for insight in (
        _deprecated_apis(cluster, stamp),
        _kubelet_skew(cluster),
        _kube_proxy_skew(cluster),
        _addon_compatibility(backend, cluster),
        _cluster_health(cluster),
        _amazon_linux_2(cluster),
    ):
        status = insight["insightStatus"]["status"]
        previous = state.transitions.get(insight["id"])
        if previous is None or previous[0] != status:
            state.transitions[insight["id"]] = (status, stamp)
        insight["lastRefreshTime"] = stamp
        insight["lastTransitionTime"] = state.transitions[insight["id"]][1]
        state.insights[insight["id"]] = insight
    state.refreshed_at, state.kubernetes_version = stamp, cluster.version
    cluster.insights = state
    return state


def current_insights(request: Request, cluster: Cluster) -> InsightsState:
    state = cluster.insights
    if (
        state is None
        or state.kubernetes_version != cluster.version
        or request.now - state.refreshed_at >= AUTOMATIC_REFRESH
    ):
        state = refresh(request.backend, cluster, request.now)
    return state


def upgrade_blockers(request: Request, cluster: Cluster, target: str) -> list[dict[str, Any]]:
    """The UPGRADE_READINESS insights in ERROR for ``target``, as last refreshed: what UpdateClusterVersion refuses
    to upgrade past without ``force``. EKS reads the insights it has (refreshed every 24 hours or on request), so a
    fix shows only after a refresh [UG clusters/cluster-insights.adoc]."""
    return [
        insight
        for insight in current_insights(request, cluster).insights.values()
        if insight["category"] == CATEGORY
        and insight["kubernetesVersion"] == target
        and insight["insightStatus"]["status"] == "ERROR"
    ]


def refuse_blocked_upgrade(request: Request, cluster: Cluster, target: str) -> None:
    """InvalidStateException while an upgrade insight for ``target`` is in ERROR (UpdateClusterVersion without
    ``force``), with the message EKS sends (hashicorp/terraform-provider-aws#42031; launched 2025-03-27,
    aws/containers-roadmap#2570). AWS paused the enforcement the next day and documents it as "temporarily rolled
    back" [UG cluster-insights.adoc @181a2b8]; the sandbox enforces it, so a rehearsal meets the stricter EKS."""
    blockers = upgrade_blockers(request, cluster, target)
    if blockers:
        raise EksError(
            "InvalidStateException",
            400,
            "Upgrade readiness issues detected. Call the EKS ListInsights API to view upgrade blocking issues "
            "detected by EKS. Pass the force flag to override upgrade readiness errors and proceed with upgrade.",
        )


_SUMMARY_KEYS = (
    "id",
    "name",
    "category",
    "kubernetesVersion",
    "lastRefreshTime",
    "lastTransitionTime",
    "description",
    "insightStatus",
)


@operation("ListInsights")
def list_insights(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    wanted = params.get("filter") or {}
    summaries = [
        {key: insight[key] for key in _SUMMARY_KEYS}
        for insight in current_insights(request, cluster).insights.values()
        if (not wanted.get("categories") or insight["category"] in wanted["categories"])
        and (not wanted.get("kubernetesVersions") or insight["kubernetesVersion"] in wanted["kubernetesVersions"])
        and (not wanted.get("statuses") or insight["insightStatus"]["status"] in wanted["statuses"])
    ]
    page, token = paginate(summaries, params)
    return {"insights": page, "nextToken": token}


@operation("DescribeInsight")
def describe_insight(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    insight = current_insights(request, cluster).insights.get(params["id"])
    if insight is None:
        raise not_found(f"No insight found for id: {params['id']}")
    return {"insight": insight}


@operation("StartInsightsRefresh")
def start_insights_refresh(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    backend = request.backend
    cluster = request.cluster(params["clusterName"])
    state = current_insights(request, cluster)
    if state.refresh_status != "IN_PROGRESS":
        state.refresh_status, state.refresh_started, state.refresh_ended = "IN_PROGRESS", request.now, None

        def completed(at: datetime) -> None:
            refreshed = refresh(backend, cluster, at)
            refreshed.refresh_status, refreshed.refresh_ended = "COMPLETED", backend.stamp(at)

        backend.timeline.at(backend.clock.after(backend.catalogue.timings["insights_refresh"]), completed)
    return {"message": "Insights refresh started", "status": state.refresh_status}


@operation("DescribeInsightsRefresh")
def describe_insights_refresh(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    state = current_insights(request, cluster)
    described: dict[str, Any] = {
        "message": "Insights refresh in progress"
        if state.refresh_status == "IN_PROGRESS"
        else "Insights refresh completed",
        "status": state.refresh_status,
        "startedAt": state.refresh_started or state.refreshed_at,
    }
    if state.refresh_status != "IN_PROGRESS":
        described["endedAt"] = state.refresh_ended or state.refreshed_at
    return described
