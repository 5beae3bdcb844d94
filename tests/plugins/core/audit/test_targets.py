"""Audit targets and cluster references: typed in the runbook, JSON between its tasks."""

from __future__ import annotations

import json
import re

import pytest

from eks_runbooks.core.audit.targets import (
    TARGET_LINE_PATTERN,
    AuditTarget,
    ClusterBatch,
    ClusterRef,
    batch_clusters,
    parse_target_line,
)


def test_a_cluster_reference_survives_the_trip_through_xcom():
    ref = ClusterRef("aws_ml_platform", "eu-west-1", "ml-platform")
    assert ClusterRef.from_dict(ref.to_dict()) == ref
    assert ref.to_dict() == {"aws_conn_id": "aws_ml_platform", "region": "eu-west-1", "cluster_name": "ml-platform"}


def test_a_target_lists_its_regions_as_json():
    assert AuditTarget("aws_default", ("us-east-1", "us-west-2")).to_dict() == {
        "aws_conn_id": "aws_default",
        "regions": ["us-east-1", "us-west-2"],
    }


def test_a_target_typed_as_one_line_names_its_connection_and_regions():
    assert parse_target_line("aws_ml_platform: eu-west-1, us-east-1") == {
        "aws_conn_id": "aws_ml_platform",
        "regions": ["eu-west-1", "us-east-1"],
    }
    assert parse_target_line("  aws_default:us-east-1 us-west-2 ") == {
        "aws_conn_id": "aws_default",
        "regions": ["us-east-1", "us-west-2"],
    }


@pytest.mark.parametrize("line", ["aws_default", "aws_default:", ": us-east-1", "aws_default: us-east-1; eu-west-1"])
def test_a_target_line_without_a_connection_and_regions_is_refused_saying_how_to_write_it(line):
    with pytest.raises(ValueError, match="connection: region, region"):
        parse_target_line(line)


def test_the_target_line_pattern_accepts_what_the_parser_reads():
    assert re.match(TARGET_LINE_PATTERN, "aws_ml_platform: eu-west-1, us-east-1")
    assert not re.match(TARGET_LINE_PATTERN, "aws_default: us-east-1; eu-west-1")


def refs(conn: str, region: str, count: int) -> list[ClusterRef]:
    return [ClusterRef(conn, region, f"{region}-{index:03d}") for index in range(count)]


def test_clusters_are_batched_per_connection_and_region_in_even_groups_of_at_most_the_batch_size():
    fleet = refs("aws_default", "us-east-1", 60) + refs("aws_fleet_b", "eu-west-1", 3)
    batches = batch_clusters(fleet, per_batch=25)

    assert [(b.aws_conn_id, b.region, len(b.cluster_names)) for b in batches] == [
        ("aws_default", "us-east-1", 20),
        ("aws_default", "us-east-1", 20),
        ("aws_default", "us-east-1", 20),
        ("aws_fleet_b", "eu-west-1", 3),
    ]
    assert [ref for batch in batches for ref in batch.refs()] == fleet


def test_a_batch_survives_the_trip_through_xcom_and_is_labelled_for_the_grid():
    (batch,) = batch_clusters(refs("aws_default", "us-east-1", 3), per_batch=25)
    data = batch.to_dict()

    assert ClusterBatch.from_dict(json.loads(json.dumps(data))) == batch
    assert data["label"] == "aws_default us-east-1: us-east-1-000 … us-east-1-002 (3)"


def test_a_batch_of_one_cluster_is_labelled_by_the_cluster():
    (batch,) = batch_clusters(refs("aws_default", "us-east-1", 1), per_batch=25)
    assert batch.to_dict()["label"] == "aws_default us-east-1: us-east-1-000"
