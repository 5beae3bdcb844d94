"""What an upgrade run's tasks and step operators both read from the run: its request and its plan's hops."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException

from eks_runbooks.core.upgrade.plan import Hop
from eks_runbooks.core.upgrade.request import InvalidUpgradeRequest, UpgradeRequest, parse_upgrade_request
from eks_runbooks.runs.connections import refuse_unlisted_connections

if TYPE_CHECKING:
    from airflow.sdk import Context

PLAN_TASK_ID = "plan"
#: Throttling is normal when a fleet's runbooks share an account's EKS request quota: botocore's standard
#: retry mode backs off with jitter, for up to 10 attempts, before a step fails (and Airflow retries it).
AWS_RETRIES = {"retries": {"mode": "standard", "max_attempts": 10}}


class UpgradeRequestRejected(AirflowFailException):
    """The run's conf is malformed (not retried: the same conf fails the same way)."""


def upgrade_request_of(context: Context) -> UpgradeRequest:
    """The run's validated request, from its params (the trigger form or REST conf merged with defaults), naming
    a connection runs may use (``runs.connections``)."""
    try:
        request = parse_upgrade_request(dict(context["params"]))
    except InvalidUpgradeRequest as error:
        raise UpgradeRequestRejected(
            f"{error}. Fix the run's conf (or the trigger form) and start a new run; nothing was changed."
        ) from None
    refuse_unlisted_connections([request.aws_conn_id], what=f"Upgrade of {request.cluster_name}: aws_conn_id")
    return request


def hop_of(context: Context, hop_number: int) -> Hop:
    """Hop ``hop_number`` (1-based) of the run's plan; skips the calling task when the plan is shorter."""
    plan = context["ti"].xcom_pull(task_ids=PLAN_TASK_ID)
    hops = plan["hops"] if plan else []
    if hop_number > len(hops):
        raise AirflowSkipException(f"The plan has {len(hops)} hop(s); hop {hop_number} is not needed")
    hop = hops[hop_number - 1]
    return Hop(hop["from"], hop["to"])
