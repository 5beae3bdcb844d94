"""One runbook per cluster: a run claims the cluster with a tag before its first change and releases it after.

The claim is a tag on the EKS cluster, ``eks-runbooks/claimed-by = <dag id>/<run id>``, so every runbook of
this project — and every person with ``aws eks describe-cluster`` or the console — sees who holds a cluster.
A second run is refused naming the holder; its release leaves the holder's tag alone.

EKS tags have no compare-and-set. The claim is written, then read back: of two runs that claim at the same
moment, the one whose tag was overwritten sees the other's and stops. Two runs that each read back their own
tag before the other writes remain possible in a window of one API round trip; runs started by people and
ticketing systems minutes apart are what this guards against.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import AirflowFailException

if TYPE_CHECKING:
    from eks_runbooks.hooks.eks import EksRunbookHook

CLAIM_TAG = "eks-runbooks/claimed-by"
#: EKS tag values are at most 256 characters.
MAX_TAG_VALUE = 256


class ClusterClaimedError(AirflowFailException):
    """Another run holds the cluster (not retried: waiting is a decision for a person)."""


def claim_holder(dag_id: str, run_id: str) -> str:
    """The claim tag's value naming one run."""
    return f"{dag_id}/{run_id}"[:MAX_TAG_VALUE]


def cluster_holder(hook: EksRunbookHook, cluster_name: str) -> str | None:
    """The run holding the cluster, or None."""
    return hook.get_cluster(cluster_name).get("tags", {}).get(CLAIM_TAG)


def claim_cluster(hook: EksRunbookHook, cluster_name: str, holder: str) -> None:
    """Claim the cluster for ``holder``; ClusterClaimedError naming the holder when another run has it.

    Claiming a cluster already held by ``holder`` (a retried or cleared task) is a no-op.
    """
    cluster = hook.get_cluster(cluster_name)
    current = cluster.get("tags", {}).get(CLAIM_TAG)
    if current not in (None, holder):
        raise ClusterClaimedError(_refusal(cluster_name, current))
    if current is None:
        hook.tag_cluster(cluster["arn"], {CLAIM_TAG: holder})
    after = cluster_holder(hook, cluster_name)
    if after != holder:
        raise ClusterClaimedError(_refusal(cluster_name, after))


def release_cluster(hook: EksRunbookHook, cluster_name: str, holder: str) -> bool:
    """Remove ``holder``'s claim; returns False (changing nothing) when the cluster is not held by it."""
    cluster = hook.get_cluster(cluster_name)
    if cluster.get("tags", {}).get(CLAIM_TAG) != holder:
        return False
    hook.untag_cluster(cluster["arn"], [CLAIM_TAG])
    return True


def _refusal(cluster_name: str, holder: str | None) -> str:
    return (
        f"Cluster {cluster_name} is held by run {holder} (tag {CLAIM_TAG}); only one runbook may change a "
        f"cluster at a time. Wait for that run to end, or — if it is gone — remove the tag "
        f"(`aws eks untag-resource --resource-arn <cluster arn> --tag-keys {CLAIM_TAG}`) and start again."
    )
