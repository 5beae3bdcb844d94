"""What every step that starts an EKS update shares: its idempotency token, and how a failed update is told.

A step starts its update with a ``clientRequestToken`` so that a retried task attaches to the update it already
started instead of starting a second one, and reads the update once more at the end to fail with EKS's own error
codes if it did not succeed (``operators.upgrade``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context


class EksUpdateFailedError(AirflowFailException):
    """An EKS update ended Failed or Cancelled; the message carries EKS's error codes.

    Not retried by Airflow: the cause (a PodDisruptionBudget, a health issue) needs a person first. Once it is
    fixed, clearing the task starts a new update: the step's next token counts the failed attempt
    (``UpgradeStepOperator.request_token``).
    """


def default_request_token(context: Context, *parts: str) -> str:
    """An idempotency token that is the same for every try of one task instance (≤ 64 characters); ``parts``
    tell apart several updates the same task instance starts.

    EKS returns the update already started for a repeated token, so a task retried after its worker died
    attaches to its own update rather than failing with ResourceInUseException or starting another.
    """
    import hashlib

    ti = context["ti"]
    identity = "/".join((ti.dag_id, ti.run_id, ti.task_id, str(ti.map_index), *parts))
    return "airflow-" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def failure_message(cluster_name: str, target: str, update: dict[str, Any], found: str = "") -> str:
    """A failure a person can act on: what failed, EKS's error codes, what the cluster shows (``found``), and
    where to look next."""
    errors = "; ".join(
        f"{error.get('errorCode', 'Unknown')}: {error.get('errorMessage', '')}"
        + (f" (resources: {', '.join(error['resourceIds'])})" if error.get("resourceIds") else "")
        for error in update.get("errors", [])
    )
    return (
        f"EKS {update.get('type', 'update')} {update['id']} of the {target} of cluster {cluster_name} ended "
        f"{update['status']}: {errors or 'EKS reported no error details'}. {found + '. ' if found else ''}"
        "Fix the cause, then clear this task "
        f"to retry; `aws eks describe-update --name {cluster_name} --update-id {update['id']}` shows the update."
    )
