"""One runbook per cluster: the claim tag, on the sandbox."""

from __future__ import annotations

import pytest

from eks_runbooks.hooks.eks import EksRunbookHook
from eks_runbooks.runs.claims import CLAIM_TAG, ClusterClaimedError, claim_cluster, cluster_holder, release_cluster

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
