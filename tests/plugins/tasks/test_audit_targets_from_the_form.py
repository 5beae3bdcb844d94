"""An audit's several accounts as the trigger form sends them: one line per account, ``connection: regions``."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def fleet_of_two_accounts(airflow_db, monkeypatch):
    fleet = [{"aws_conn_id": "aws_default", "regions": ["us-east-1"]}, {"aws_conn_id": "aws_ml", "regions": []}]
    monkeypatch.setenv("AIRFLOW_VAR_EKS_FLEET", json.dumps(fleet))  # allows both connections


def test_lines_from_the_form_become_the_same_targets_as_objects_from_rest(fleet_of_two_accounts):
    from eks_runbooks.core.audit.targets import AuditTarget
    from eks_runbooks.tasks.audit import audit_targets

    lines = ["aws_default: us-east-1, us-west-2", "aws_ml: eu-west-1"]
    objects = [
        {"aws_conn_id": "aws_default", "regions": ["us-east-1", "us-west-2"]},
        {"aws_conn_id": "aws_ml", "regions": ["eu-west-1"]},
    ]

    assert audit_targets(lines) == audit_targets(objects)
    assert audit_targets(lines) == [
        AuditTarget("aws_default", ("us-east-1", "us-west-2")),
        AuditTarget("aws_ml", ("eu-west-1",)),
    ]


def test_a_line_without_regions_is_refused_naming_its_place_and_how_to_write_it(fleet_of_two_accounts):
    from eks_runbooks.tasks.audit import InvalidAuditInput, audit_targets

    with pytest.raises(InvalidAuditInput, match=r"targets\[1\]: 'aws_ml' is not a target: write it as `connection"):
        audit_targets(["aws_default: us-east-1", "aws_ml"])
