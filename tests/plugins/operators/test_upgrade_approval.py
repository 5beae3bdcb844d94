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
