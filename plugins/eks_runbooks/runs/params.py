"""The Params every runbook that acts on one cluster shares: its target, and how the run goes.

The trigger form groups them in sections; the REST API takes them as ``conf``. Same names, types, patterns and
defaults in every runbook (docs/interfaces.md), so a ticketing system starts any of them the same way.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from eks_runbooks.core.eks.names import CLUSTER_NAME_PATTERN, CONNECTION_ID_PATTERN, REGION_PATTERN, TICKET_ID_PATTERN

TARGET = "Target"
RUN = "Run"


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
