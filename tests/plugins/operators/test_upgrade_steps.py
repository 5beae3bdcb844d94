"""An upgrade step waits for its EKS update both ways — deferred to the triggerer, or polling in the worker — with
the same outcome: tested on the control-plane step against the simulated EKS."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from eks_runbooks.operators.eks import EksUpdateFailedError
from eks_runbooks.operators.upgrade import EksUpgradeControlPlaneOperator
from eks_runbooks.runs.upgrade_context import PLAN_TASK_ID

PARAMS = {"cluster_name": "payments-prod", "region": "us-east-1", "target_version": "1.33", "dry_run": False}
PLAN = {"hops": [{"from": "1.32", "to": "1.33"}]}


#: The step's own XComs (what it waits on, what it finished), kept across the calls of one test as Airflow keeps
#: them across a deferral.
XCOMS: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _fresh_xcoms():
    XCOMS.clear()


def context() -> dict[str, Any]:
    def xcom_pull(task_ids: str | None = None, key: str | None = None) -> Any:
        if task_ids == PLAN_TASK_ID and key is None:
            return PLAN
        return XCOMS.get(key)

    ti = SimpleNamespace(
        dag_id="eks_cluster_upgrade",
        run_id="ticket__CHG-1",
        task_id="hop_1.control_plane",
        map_index=-1,
        xcom_pull=xcom_pull,
        xcom_push=lambda key, value: XCOMS.__setitem__(key, value),
    )
    return {"params": PARAMS, "ti": ti}


def control_plane_step(**options: Any) -> EksUpgradeControlPlaneOperator:
    return EksUpgradeControlPlaneOperator(
        task_id="control_plane",
        cluster_name="payments-prod",
        hop_number=1,
        region_name="us-east-1",
        waiter_delay=0.05,
        waiter_max_attempts=100,
        **options,
    )


@pytest.fixture
def eks(demo_fleet):
    return boto3.client("eks", region_name="us-east-1")


def test_in_the_worker_the_step_polls_until_the_control_plane_is_upgraded(eks):
    result = control_plane_step(deferrable=False).execute(context())
    assert result == {"summary": "control plane at 1.33"}
    assert eks.describe_cluster(name="payments-prod")["cluster"]["version"] == "1.33"


def test_deferred_the_step_holds_no_worker_and_resumes_with_the_same_outcome(eks):
    step = control_plane_step()
    with pytest.raises(TaskDeferred) as deferred:
        step.execute(context())
    assert deferred.value.method_name == "updates_ended"
    assert deferred.value.timeout.total_seconds() == pytest.approx(0.05 * 101)

    async def first_event() -> dict:
        async for event in deferred.value.trigger.run():
            return event.payload
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    result = step.updates_ended(context(), event, **deferred.value.kwargs)
    assert result == {"summary": "control plane at 1.33"}


def test_in_the_worker_a_failed_update_fails_the_step_with_eks_error_codes(eks, demo_fleet):
    demo_fleet.faults.add_from_dict(
        {
            "kind": "update_failure",
            "cluster": "payments-prod",
            "update_type": "VersionUpdate",
            "error_code": "AccessDenied",
        }
    )
    with pytest.raises(EksUpdateFailedError, match="AccessDenied"):
        control_plane_step(deferrable=False).execute(context())
    assert eks.describe_cluster(name="payments-prod")["cluster"]["version"] == "1.32"
