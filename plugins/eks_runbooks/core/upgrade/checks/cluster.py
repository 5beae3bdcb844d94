"""Pre-flight checks of the cluster itself: its state, its subnets, and what EKS Cluster Insights says."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eks_runbooks.core.catalogue import Outcome, failed, listed, noted, passed, warned
from eks_runbooks.core.upgrade.checks.registry import PreflightInputs, check

#: UpdateClusterVersion needs up to five free IPs per subnet for the new control-plane ENIs, and at least two
#: subnets (eks-facts §3, UG clusters/update-cluster.adoc; eksup EKS001 uses the same "2 subnets" rule).
MIN_FREE_IPS = 5
MIN_SUBNETS_WITH_FREE_IPS = 2


@check("EKS-CLUSTER-ACTIVE")
def cluster_is_active(inputs: PreflightInputs) -> list[Outcome]:
    name, cluster = inputs.cluster_name, inputs.cluster
    version, status = cluster.get("version"), cluster.get("status")
    if version not in (inputs.hop_from, inputs.hop_to):
        return [
            failed(
                f"Cluster {name} runs {version}, but this hop goes {inputs.hop_from} → {inputs.hop_to}; "
                "re-plan the upgrade from the cluster's current version.",
                [f"cluster/{name}"],
            )
        ]
    in_progress = [update for update in inputs.updates if update.get("status") == "InProgress"]
    # An interrupted run may have started this very hop's version update: the control-plane step attaches
    # to it (eks_cluster_upgrade must not start a second one), so it is not a reason to stop.
    resumable = [update for update in in_progress if _is_version_update_to(update, inputs.hop_to)]
    others = [update for update in in_progress if update not in resumable]
    if others:
        described = listed([f"{update.get('type')} {update.get('id')}" for update in others])
        return [
            failed(
                f"Cluster {name} has an update in progress ({described}); UpdateClusterVersion would be refused "
                "with ResourceInUseException until it finishes.",
                [f"update/{update.get('id')}" for update in others],
            )
        ]
    if resumable:
        update_id = resumable[0].get("id")
        return [
            noted(
                f"Cluster {name} is already updating to {inputs.hop_to} (update {update_id}); the control-plane "
                "step attaches to it.",
                [f"update/{update_id}"],
            )
        ]
    if status != "ACTIVE":
        return [failed(f"Cluster {name} is {status}, not ACTIVE; it cannot be upgraded now.", [f"cluster/{name}"])]
    return [passed(f"Cluster {name} is ACTIVE at {version} with no update in progress.")]


def _is_version_update_to(update: Mapping[str, Any], version: str) -> bool:
    params = {param.get("type"): param.get("value") for param in update.get("params") or []}
    return update.get("type") == "VersionUpdate" and params.get("Version") == version


@check("EKS-SUBNET-FREE-IPS")
def subnets_have_free_ips(inputs: PreflightInputs) -> list[Outcome]:
    name = inputs.cluster_name
    subnet_ids = list((inputs.cluster.get("resourcesVpcConfig") or {}).get("subnetIds") or [])
    described = {subnet["SubnetId"]: subnet for subnet in inputs.subnets}
    # A subnet missing from DescribeSubnets (deleted since the cluster was created) has no IPs to offer.
    free = {subnet_id: int(described.get(subnet_id, {}).get("AvailableIpAddressCount", 0)) for subnet_id in subnet_ids}
    enough = sorted(subnet_id for subnet_id, count in free.items() if count >= MIN_FREE_IPS)
    short = sorted(subnet_id for subnet_id, count in free.items() if count < MIN_FREE_IPS)
    counts = listed([f"{subnet_id}: {free[subnet_id]}" for subnet_id in short])
    if len(enough) < MIN_SUBNETS_WITH_FREE_IPS:
        return [
            failed(
                f"Cluster {name}: only {len(enough)} of its {len(subnet_ids)} subnets have {MIN_FREE_IPS} free IP "
                f"addresses, {MIN_SUBNETS_WITH_FREE_IPS} are needed (free IPs: {counts}).",
                short,
            )
        ]
    if short:
        return [
            warned(
                f"Cluster {name}: {len(enough)} subnets have {MIN_FREE_IPS} free IPs, but {counts} do not; "
                "UpdateClusterVersion may still refuse if it places an ENI there.",
                short,
            )
        ]
    return [passed(f"Cluster {name}: all {len(subnet_ids)} subnets have at least {MIN_FREE_IPS} free IPs.")]


@check("EKS-INSIGHTS-UPGRADE-READINESS")
def upgrade_insights_raise_no_error(inputs: PreflightInputs) -> list[Outcome]:
    name, version = inputs.cluster_name, inputs.hop_to
    # An insight without a kubernetesVersion applies to any upgrade; those for other versions belong to other hops.
    insights = [
        insight
        for insight in inputs.insights
        if insight.get("category") == "UPGRADE_READINESS" and insight.get("kubernetesVersion") in (None, version)
    ]
    if not insights:
        return [noted(f"Cluster {name}: EKS reports no upgrade insights for {version} (has a refresh run?).")]
    outcomes = []
    for insight in insights:
        status = (insight.get("insightStatus") or {}).get("status", "UNKNOWN")
        if status == "PASSING":
            continue
        reason = (insight.get("insightStatus") or {}).get("reason") or insight.get("description") or ""
        detail = f"Cluster {name}: insight {insight.get('name')!r} is {status} for {version}: {reason}"
        clients = _deprecated_api_clients(insight)
        if clients:
            detail += f" (clients: {listed(clients, limit=3)})"
        objects = [f"insight/{insight.get('id')}", *_insight_resources(insight)]
        outcomes.append(failed(detail, objects) if status == "ERROR" else warned(detail, objects))
    passing = len(insights) - len(outcomes)
    if not outcomes:
        return [passed(f"Cluster {name}: all {passing} upgrade insights for {version} are PASSING.")]
    return outcomes


def _insight_resources(insight: Mapping[str, Any]) -> list[str]:
    return [
        resource.get("kubernetesResourceUri") or resource.get("arn") or "?"
        for resource in insight.get("resources") or []
        if (resource.get("insightStatus") or {}).get("status") != "PASSING"
    ]


def _deprecated_api_clients(insight: Mapping[str, Any]) -> list[str]:
    """User agents still calling a deprecated API — whom to chase (Insights counts the last 30 days)."""
    details = (insight.get("categorySpecificSummary") or {}).get("deprecationDetails") or []
    return [
        f"{stat.get('userAgent')} → {detail.get('usage')} ({stat.get('numberOfRequestsLast30Days', 0)} requests)"
        for detail in details
        for stat in detail.get("clientStats") or []
    ]
