"""One runbook per cluster: a run claims the cluster with a tag before its first change and releases it after.

The claim is a tag on the EKS cluster, ``eks-runbooks/claimed-by = <dag id>/<run id>``, so every runbook of
this project — and every person with ``aws eks describe-cluster`` or the console — sees who holds a cluster.
A second run is refused naming the holder; its release leaves the holder's tag alone.

A run that fails part-way leaves the cluster between versions, so it does not release its claim: it marks it,
``<dag id>/<run id> failed``. A new run of the same runbook (same DAG id) takes that claim over and resumes
where AWS shows the work stopped; any other runbook is still refused, naming the failed run.

EKS tags have no compare-and-set. The claim is written, then read back: of two runs that claim at the same
moment, the one whose tag was overwritten sees the other's and stops. Two runs that each read back their own
tag before the other writes remain possible in a window of one API round trip; runs started by people and
ticketing systems minutes apart are what this guards against.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import AirflowFailException

if TYPE_CHECKING:
    from eks_runbooks.hooks.eks import EksRunbookHook

log = logging.getLogger(__name__)

CLAIM_TAG = "eks-runbooks/claimed-by"
#: Appended to the claim's value when its run failed part-way (EKS tag values may hold spaces; run ids may not).
FAILED_MARK = " failed"
#: EKS tag values are at most 256 characters.
MAX_TAG_VALUE = 256


class ClusterClaimedError(AirflowFailException):
    """Another run holds the cluster (not retried: waiting is a decision for a person)."""


@dataclass(frozen=True)
class ClusterClaim:
    """Who holds a cluster: the run (``<dag id>/<run id>``) and whether it failed part-way."""

    holder: str
    failed: bool = False

    @property
    def runbook(self) -> str:
        """The DAG id of the holding run."""
        return self.holder.split("/", 1)[0]

    def taken_over_by(self, holder: str) -> bool:
        """Whether run ``holder`` may take this claim over: it failed, and ``holder`` is the same runbook."""
        return self.failed and holder != self.holder and holder.split("/", 1)[0] == self.runbook


def claim_holder(dag_id: str, run_id: str) -> str:
    """The claim tag's value naming one run (short enough to be marked failed)."""
    return f"{dag_id}/{run_id}"[: MAX_TAG_VALUE - len(FAILED_MARK)]


def cluster_claim(hook: EksRunbookHook, cluster_name: str) -> ClusterClaim | None:
    """The claim on the cluster, or None."""
    return _claim_of(hook.get_cluster(cluster_name))


def cluster_holder(hook: EksRunbookHook, cluster_name: str) -> str | None:
    """The run holding the cluster, or None."""
    claim = cluster_claim(hook, cluster_name)
    return claim.holder if claim else None


def claim_cluster(hook: EksRunbookHook, cluster_name: str, holder: str) -> str | None:
    """Claim the cluster for ``holder``; ClusterClaimedError naming the holder when another run has it.

    Claiming a cluster already held by ``holder`` (a retried or cleared task) is a no-op. A claim left by a
    failed run of the same runbook is taken over.

    :return: the failed run whose claim was taken over, or None.
    """
    cluster = hook.get_cluster(cluster_name)
    current = _claim_of(cluster)
    taken_from = current.holder if current and current.taken_over_by(holder) else None
    if current is not None and current.holder != holder and taken_from is None:
        raise ClusterClaimedError(_refusal(cluster_name, current))
    if current is None or current.failed:
        hook.tag_cluster(cluster["arn"], {CLAIM_TAG: holder})
    after = cluster_claim(hook, cluster_name)
    if after is None or after.holder != holder:
        raise ClusterClaimedError(_refusal(cluster_name, after))
    if taken_from:
        log.warning("Cluster %s: run %s takes over the claim of failed run %s", cluster_name, holder, taken_from)
    return taken_from


def mark_claim_failed(hook: EksRunbookHook, cluster_name: str, holder: str) -> bool:
    """Keep ``holder``'s claim, marked failed; returns False (changing nothing) when the cluster is not held by it."""
    cluster = hook.get_cluster(cluster_name)
    current = _claim_of(cluster)
    if current is None or current.holder != holder:
        return False
    if not current.failed:
        hook.tag_cluster(cluster["arn"], {CLAIM_TAG: holder + FAILED_MARK})
    return True


def release_cluster(hook: EksRunbookHook, cluster_name: str, holder: str) -> bool:
    """Remove ``holder``'s claim; returns False (changing nothing) when the cluster is not held by it."""
    cluster = hook.get_cluster(cluster_name)
    current = _claim_of(cluster)
    if current is None or current.holder != holder:
        return False
    hook.untag_cluster(cluster["arn"], [CLAIM_TAG])
    return True


def _claim_of(cluster: dict) -> ClusterClaim | None:
    value = cluster.get("tags", {}).get(CLAIM_TAG)
    if value is None:
        return None
    if value.endswith(FAILED_MARK):
        return ClusterClaim(value.removesuffix(FAILED_MARK), failed=True)
    return ClusterClaim(value)


def _refusal(cluster_name: str, claim: ClusterClaim | None) -> str:
    untag = f"`aws eks untag-resource --resource-arn <cluster arn> --tag-keys {CLAIM_TAG}`"
    if claim is not None and claim.failed:
        return (
            f"Cluster {cluster_name} is held by run {claim.holder}, which failed part-way (tag {CLAIM_TAG}); the "
            f"cluster may be between versions. Start a new run of {claim.runbook} to resume it, or — once a "
            f"person has checked the cluster — remove the tag ({untag}) and start again."
        )
    holder = claim.holder if claim else None
    return (
        f"Cluster {cluster_name} is held by run {holder} (tag {CLAIM_TAG}); only one runbook may change a "
        f"cluster at a time. Wait for that run to end, or — if it is gone — remove the tag ({untag}) and "
        f"start again."
    )
