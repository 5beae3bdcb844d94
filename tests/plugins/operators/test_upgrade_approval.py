"""The approval step passes at once when no person has to approve."""

from __future__ import annotations

import pytest

from eks_runbooks.operators.upgrade import UpgradeApprovalOperator

REQUEST = {"cluster_name": "payments-prod", "region": "us-east-1", "target_version": "1.33"}


@pytest.mark.parametrize(
    ("options", "reason"),
    [({"dry_run": True, "require_approval": True}, "plan mode"), ({"dry_run": False}, "require_approval is false")],
)
def test_no_approval_is_awaited_in_plan_mode_or_when_not_required(options, reason):
    approval = UpgradeApprovalOperator(task_id="approve", subject="Upgrade?")
    assert approval.execute({"params": {**REQUEST, **options}}) == {"approved": True, "reason": reason}


def test_an_approval_is_awaited_when_required_for_a_real_upgrade(monkeypatch):
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    awaited = []
    monkeypatch.setattr(ApprovalOperator, "execute", lambda self, context: awaited.append(self.subject))
    approval = UpgradeApprovalOperator(task_id="approve", subject="Upgrade payments-prod?")
    approval.execute({"params": {**REQUEST, "dry_run": False, "require_approval": True}})
    assert awaited == ["Upgrade payments-prod?"]


def answer(option: str, comment: str | None = None, *, by: str = "alice") -> dict:
    """The event a person's answer resumes the approval with (as Airflow's HITL response handler builds it)."""
    from datetime import UTC, datetime

    return {
        "chosen_options": [option],
        "params_input": {"comment": comment} if comment is not None else {},
        "responded_at": datetime(2026, 1, 20, 10, tzinfo=UTC),
        "responded_by_user": {"id": "7", "name": by},
        "timedout": False,
    }


def context_of(**options) -> dict:
    return {"params": {**REQUEST, "dry_run": False, "require_approval": True, "comment": "", **options}}


class FakeTi:
    def __init__(self) -> None:
        self.pushed: dict = {}

    def xcom_push(self, key: str, value) -> None:
        self.pushed[key] = value


def test_a_reject_fails_the_run_naming_who_rejected_and_why_and_is_not_retried():
    from airflow.providers.common.compat.sdk import AirflowFailException

    approval = UpgradeApprovalOperator(task_id="approve", subject="Upgrade payments-prod?")
    ti = FakeTi()

    with pytest.raises(AirflowFailException) as rejected:
        approval.execute_complete({**context_of(), "ti": ti}, answer("Reject", "not during the change freeze"))

    assert "rejected by alice: not during the change freeze" in str(rejected.value)
    assert "payments-prod" in str(rejected.value) and "nothing was changed" in str(rejected.value)
    assert ti.pushed["return_value"]["rejected_by"] == "alice"


def test_a_reject_without_a_comment_says_so():
    from airflow.providers.common.compat.sdk import AirflowFailException

    approval = UpgradeApprovalOperator(task_id="approve", subject="Upgrade payments-prod?")
    with pytest.raises(AirflowFailException, match="rejected by bob: no comment given"):
        approval.execute_complete({**context_of(), "ti": FakeTi()}, answer("Reject", by="bob"))


def test_an_approval_that_times_out_fails_without_a_retry_asking_again():
    from airflow.providers.common.compat.sdk import AirflowFailException

    approval = UpgradeApprovalOperator(task_id="approve", subject="Upgrade payments-prod?")
    timed_out = {"error": "The Human-in-the-loop response timeout has passed", "error_type": "timeout"}

    with pytest.raises(AirflowFailException, match=r"No one answered .* payments-prod .* start a new run"):
        approval.execute_complete({**context_of(), "ti": FakeTi()}, timed_out)


def test_an_approve_lets_the_run_go_on_and_records_who_approved():
    approval = UpgradeApprovalOperator(task_id="approve", subject="Upgrade payments-prod?")
    result = approval.execute_complete({**context_of(), "ti": FakeTi()}, answer("Approve", "go"))
    assert result["chosen_options"] == ["Approve"]
    assert result["approved_by"] == "alice"


def test_the_approvers_comment_field_does_not_make_the_request_invalid():
    approval = UpgradeApprovalOperator(task_id="approve", subject="Upgrade?")
    assert approval.execute(context_of(dry_run=True)) == {"approved": True, "reason": "plan mode"}


def test_the_approvers_form_in_the_runbook_dag_has_the_comment_field(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.helpers import REPO

    dag = DagBag(str(REPO / "dags" / "eks_cluster_upgrade.py")).get_dag("eks_cluster_upgrade")
    assert list(dag.get_task("approve").serialized_params) == ["comment"]
