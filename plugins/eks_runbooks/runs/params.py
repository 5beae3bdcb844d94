"""The Params runbooks share: one cluster's target and how the run goes; a fleet audit's accounts, filter and reports.

The trigger form groups them in sections; the REST API takes them as ``conf``. Same names, types, patterns and
defaults in every runbook (docs/interfaces.md), so a ticketing system starts any of them the same way.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from eks_runbooks.core.audit.targets import TARGET_LINE_PATTERN
from eks_runbooks.core.eks.names import CLUSTER_NAME_PATTERN, CONNECTION_ID_PATTERN, REGION_PATTERN, TICKET_ID_PATTERN

TARGET = "Target"
RUN = "Run"
ACCOUNTS, FILTERS, ADVANCED = "Accounts and regions", "Filters", "Reports, alerts, several accounts"


def cluster_target_params(cluster: str, connection: str) -> dict[str, Any]:
    """``cluster_name``, ``region``, ``aws_conn_id``; ``cluster`` and ``connection`` describe them in the form."""
    return {
        "cluster_name": Param(
            "", type="string", pattern=CLUSTER_NAME_PATTERN, title="Cluster", description=cluster, section=TARGET
        ),
        "region": Param(
            "us-east-1",
            type="string",
            pattern=REGION_PATTERN,
            title="Region",
            description="AWS region of the cluster, e.g. us-east-1.",
            section=TARGET,
        ),
        "aws_conn_id": Param(
            "aws_default",
            type="string",
            pattern=CONNECTION_ID_PATTERN,
            title="AWS connection",
            description=connection,
            section=TARGET,
        ),
    }


def run_params(plan_only: str) -> dict[str, Any]:
    """``dry_run`` (described by ``plan_only``), ``require_approval``, ``ticket_id``."""
    return {
        "dry_run": Param(True, type="boolean", title="Plan only (dry run)", description=plan_only, section=RUN),
        "require_approval": Param(
            False,
            type="boolean",
            title="Require approval",
            description="A person approves the plan (Required Actions) before the first change.",
            section=RUN,
        ),
        "ticket_id": Param(
            None,
            type=["null", "string"],
            pattern=TICKET_ID_PATTERN,
            title="Ticket",
            description="Change ticket; the outcome is posted to the ticketing_default connection.",
            section=RUN,
        ),
    }


def fleet_target_params(verb: str) -> dict[str, Any]:
    """A nightly audit's ``aws_conn_id`` and ``regions`` (one account, the form's fields); ``verb`` says what the
    run does to each cluster (audit, cost)."""
    return {
        "aws_conn_id": Param(
            None,
            type=["null", "string"],
            pattern=CONNECTION_ID_PATTERN,
            title="AWS connection",
            description=f"Airflow connection of the account to {verb}. Empty: aws_default when regions are given, "
            "else every account of Variable eks_fleet.",
            section=ACCOUNTS,
        ),
        "regions": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "pattern": REGION_PATTERN},
            title="Regions",
            description="One per line, e.g. us-east-1. Empty: the connection's region (or Variable eks_fleet).",
            section=ACCOUNTS,
        ),
    }


def fleet_cluster_names_param() -> Param:
    """A nightly audit's ``cluster_names`` filter."""
    return Param(
        None,
        type=["null", "array"],
        items={"type": "string", "pattern": CLUSTER_NAME_PATTERN},
        title="Only these clusters",
        description="One per line. Empty: every cluster found. A filtered run is not the next night's baseline.",
        section=FILTERS,
    )


def fleet_report_params() -> dict[str, Any]:
    """A nightly audit's ``report_aws_conn_id`` and ``targets`` (several accounts, instead of the form's fields)."""
    return {
        "report_aws_conn_id": Param(
            "aws_default",
            type="string",
            pattern=CONNECTION_ID_PATTERN,
            title="AWS connection for reports and alerts",
            description="Reads and writes s3:// reports (Variable eks_reports_base) and publishes to the SNS topic.",
            section=ADVANCED,
        ),
        "targets": Param(
            None,
            type=["null", "array"],
            # Untyped items: the form shows one per line (a JSON editor otherwise); REST may send objects.
            items={
                "anyOf": [
                    {"type": "string", "pattern": TARGET_LINE_PATTERN},
                    {
                        "type": "object",
                        "properties": {
                            "aws_conn_id": {"type": "string", "pattern": CONNECTION_ID_PATTERN},
                            "regions": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "string", "pattern": REGION_PATTERN},
                            },
                        },
                        "required": ["regions"],
                        "additionalProperties": False,
                    },
                ]
            },
            title="Several accounts",
            description="Instead of the fields above: one account per line, its connection and regions, e.g. "
            "aws_ml: eu-west-1, us-east-1. Empty: the fields above.",
            section=ADVANCED,
        ),
    }
