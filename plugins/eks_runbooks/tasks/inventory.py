"""Fleet-level reads shared by runbooks: list and describe every cluster of one region."""

from __future__ import annotations

from typing import Any

from eks_runbooks.core.clock import utc_today
from eks_runbooks.core.inventory.fleet import ClusterSummary, NodegroupSummary, render_inventory, summarize_cluster
from eks_runbooks.hooks.eks import EksRunbookHook
from eks_runbooks.runs.connections import refuse_unlisted_connections


def inventory_clusters(aws_conn_id: str, region: str) -> list[dict[str, Any]]:
    """Summaries (plain dicts, XCom-safe) of every cluster in one region (a connection runs may use only)."""
    refuse_unlisted_connections([aws_conn_id])
    hook = EksRunbookHook(aws_conn_id=aws_conn_id, region_name=region)
    cluster_versions = hook.describe_cluster_versions()
    today = utc_today()
    summaries = []
    for name in hook.list_clusters():
        cluster = hook.get_cluster(name)
        nodegroups = hook.describe_nodegroups(name)
        summaries.append(summarize_cluster(cluster, nodegroups, cluster_versions, region, today).as_dict())
    return summaries


def render_inventory_report(clusters: list[dict[str, Any]]) -> str:
    """The Markdown inventory of clusters returned by :func:`inventory_clusters`."""
    summaries = [
        ClusterSummary(**{**cluster, "nodegroups": tuple(NodegroupSummary(**ng) for ng in cluster["nodegroups"])})
        for cluster in clusters
    ]
    return render_inventory(summaries)
