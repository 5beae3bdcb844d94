"""Audit targets and cluster references: typed in the runbook, JSON between its tasks."""

from __future__ import annotations

from eks_runbooks.core.audit.targets import AuditTarget, ClusterRef


def test_a_cluster_reference_survives_the_trip_through_xcom():
    ref = ClusterRef("aws_ml_platform", "eu-west-1", "ml-platform")
    assert ClusterRef.from_dict(ref.to_dict()) == ref
    assert ref.to_dict() == {"aws_conn_id": "aws_ml_platform", "region": "eu-west-1", "cluster_name": "ml-platform"}


def test_a_target_lists_its_regions_as_json():
    assert AuditTarget("aws_default", ("us-east-1", "us-west-2")).to_dict() == {
        "aws_conn_id": "aws_default",
        "regions": ["us-east-1", "us-west-2"],
    }
