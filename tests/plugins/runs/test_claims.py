"""One runbook per cluster: the claim tag, on the sandbox."""

from __future__ import annotations

import pytest

from eks_runbooks.hooks.eks import EksRunbookHook
from eks_runbooks.runs.claims import (
    CLAIM_TAG,
    ClusterClaim,
    ClusterClaimedError,
    claim_cluster,
    cluster_claim,
    cluster_holder,
    mark_claim_failed,
    release_cluster,
)

CLUSTER = "payments-prod"


@pytest.fixture
def hook(demo_fleet) -> EksRunbookHook:
    return EksRunbookHook(aws_conn_id="aws_default", region_name="us-east-1")


def test_a_claim_is_a_tag_everyone_can_read_and_claiming_again_is_harmless(hook):
    claim_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-a")
    claim_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-a")  # a retried claim task

    tags = hook.conn.describe_cluster(name=CLUSTER)["cluster"]["tags"]
    assert tags[CLAIM_TAG] == "eks_cluster_upgrade/run-a"
    assert tags["team"] == "payments"  # the cluster's own tags are untouched


def test_a_second_run_is_refused_naming_the_holder_and_the_way_out(hook):
    claim_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-a")

    with pytest.raises(ClusterClaimedError, match=r"held by run eks_cluster_upgrade/run-a .*untag-resource"):
        claim_cluster(hook, CLUSTER, "eks_pod_identity_migration/run-b")
    assert cluster_holder(hook, CLUSTER) == "eks_cluster_upgrade/run-a"


def test_release_removes_only_its_own_claim(hook):
    claim_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-a")

    assert release_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-b") is False
    assert cluster_holder(hook, CLUSTER) == "eks_cluster_upgrade/run-a"
    assert release_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-a") is True
    assert cluster_holder(hook, CLUSTER) is None


def claim_tag(hook) -> str | None:
    return hook.conn.describe_cluster(name=CLUSTER)["cluster"]["tags"].get(CLAIM_TAG)


def test_a_failed_runs_claim_stays_on_the_cluster_marked_with_that_run(hook):
    claim_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-a")

    assert mark_claim_failed(hook, CLUSTER, "eks_cluster_upgrade/run-a") is True

    assert claim_tag(hook) == "eks_cluster_upgrade/run-a failed"
    assert cluster_claim(hook, CLUSTER) == ClusterClaim("eks_cluster_upgrade/run-a", failed=True)
    assert cluster_holder(hook, CLUSTER) == "eks_cluster_upgrade/run-a"


def test_a_new_run_of_the_same_runbook_takes_over_a_failed_claim(hook):
    claim_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-a")
    mark_claim_failed(hook, CLUSTER, "eks_cluster_upgrade/run-a")

    taken_from = claim_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-b")

    assert taken_from == "eks_cluster_upgrade/run-a"
    assert claim_tag(hook) == "eks_cluster_upgrade/run-b"
    assert release_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-b") is True
    assert claim_tag(hook) is None


def test_another_runbook_is_refused_a_failed_claim_naming_the_failed_run(hook):
    claim_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-a")
    mark_claim_failed(hook, CLUSTER, "eks_cluster_upgrade/run-a")

    with pytest.raises(ClusterClaimedError) as refused:
        claim_cluster(hook, CLUSTER, "eks_pod_identity_migration/run-b")

    message = str(refused.value)
    assert "held by run eks_cluster_upgrade/run-a, which failed" in message
    assert "a new run of eks_cluster_upgrade" in message and "untag-resource" in message
    assert claim_tag(hook) == "eks_cluster_upgrade/run-a failed"


def test_a_claim_whose_run_has_not_failed_is_not_taken_over_by_the_same_runbook(hook):
    claim_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-a")

    with pytest.raises(ClusterClaimedError, match="held by run eks_cluster_upgrade/run-a "):
        claim_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-b")
    assert claim_tag(hook) == "eks_cluster_upgrade/run-a"


def test_only_the_holder_marks_its_claim_failed_and_a_cleared_task_of_that_run_claims_again(hook):
    claim_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-a")

    assert mark_claim_failed(hook, CLUSTER, "eks_cluster_upgrade/run-b") is False
    assert claim_tag(hook) == "eks_cluster_upgrade/run-a"
    mark_claim_failed(hook, CLUSTER, "eks_cluster_upgrade/run-a")
    claim_cluster(hook, CLUSTER, "eks_cluster_upgrade/run-a")  # the failed task cleared, the claim re-run
    assert claim_tag(hook) == "eks_cluster_upgrade/run-a"
