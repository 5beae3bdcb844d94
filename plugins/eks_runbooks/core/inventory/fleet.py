"""Fleet inventory: where each cluster stands on the EKS version calendar, and its node groups' skew.

Inputs are the plain responses of DescribeCluster, DescribeNodegroup and DescribeClusterVersions; the output
is a small record a person can read. Support status comes from DescribeClusterVersions (``versionStatus``,
``endOfStandardSupportDate``, ``endOfExtendedSupportDate``) rather than a calendar baked in here, so it stays
right as AWS moves dates (eks-facts §1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from eks_runbooks.core.eks.versions import minor_of


@dataclass(frozen=True)
class NodegroupSummary:
    name: str
    version: str
    ami_type: str
    status: str
    minors_behind_control_plane: int


@dataclass(frozen=True)
class ClusterSummary:
    name: str
    region: str
    version: str
    status: str
    support: str
    support_ends: str | None
    days_left: int | None
    nodegroups: tuple[NodegroupSummary, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize_cluster(
    cluster: dict[str, Any],
    nodegroups: list[dict[str, Any]],
    cluster_versions: list[dict[str, Any]],
    region: str,
    today: date,
) -> ClusterSummary:
    """Where one cluster stands: support window of its version and how far its node groups lag."""
    calendar = {entry["clusterVersion"]: entry for entry in cluster_versions}
    entry = calendar.get(cluster["version"], {})
    support = entry.get("versionStatus", "UNSUPPORTED")
    ends = {
        "STANDARD_SUPPORT": entry.get("endOfStandardSupportDate"),
        "EXTENDED_SUPPORT": entry.get("endOfExtendedSupportDate"),
    }.get(support)
    end_date = _as_date(ends) if ends else None
    control_minor = minor_of(cluster["version"])
    return ClusterSummary(
        name=cluster["name"],
        region=region,
        version=cluster["version"],
        status=cluster["status"],
        support=support,
        support_ends=end_date.isoformat() if end_date else None,
        days_left=(end_date - today).days if end_date else None,
        nodegroups=tuple(
            NodegroupSummary(
                name=nodegroup["nodegroupName"],
                version=nodegroup.get("version", cluster["version"]),
                ami_type=nodegroup.get("amiType", "CUSTOM"),
                status=nodegroup["status"],
                minors_behind_control_plane=control_minor - minor_of(nodegroup.get("version", cluster["version"])),
            )
            for nodegroup in sorted(nodegroups, key=lambda nodegroup: nodegroup["nodegroupName"])
        ),
    )


def render_inventory(clusters: list[ClusterSummary]) -> str:
    """A Markdown table of the fleet, oldest support window first."""
    lines = [
        "| cluster | region | version | support | ends | days left | node groups |",
        "|---|---|---|---|---|---|---|",
    ]
    for summary in sorted(clusters, key=lambda item: (item.days_left is None, item.days_left or 0, item.name)):
        nodegroups = ", ".join(
            f"{nodegroup.name} {nodegroup.version}" + (" (AL2)" if nodegroup.ami_type.startswith("AL2_") else "")
            for nodegroup in summary.nodegroups
        )
        lines.append(
            f"| {summary.name} | {summary.region} | {summary.version} | {summary.support} | "
            f"{summary.support_ends or '-'} | {summary.days_left if summary.days_left is not None else '-'} | "
            f"{nodegroups or '-'} |"
        )
    return "\n".join(lines)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(str(value)).date()
