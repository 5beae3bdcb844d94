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


def test_clearing_the_step_after_a_failed_update_starts_a_new_update_that_succeeds(eks, demo_fleet):
    demo_fleet.faults.add_from_dict(
        {"kind": "update_failure", "cluster": "payments-prod", "update_type": "VersionUpdate", "error_code": "Other"}
    )
    with pytest.raises(EksUpdateFailedError, match="clear this task"):
        control_plane_step(deferrable=False).execute(context())

    # The same task instance runs again (a cleared task): same dag, run and task ids.
    assert control_plane_step(deferrable=False).execute(context()) == {"summary": "control plane at 1.33"}
    history = [
        eks.describe_update(name="payments-prod", updateId=update_id)["update"]["status"]
        for update_id in eks.list_updates(name="payments-prod")["updateIds"]
    ]
    assert sorted(history) == ["Failed", "Successful"]


def test_the_node_group_step_waits_as_long_as_its_node_groups_need_not_a_fixed_time(eks):
    from eks_runbooks.core.eks.updates import nodegroup_roll_timeout
    from eks_runbooks.operators.upgrade import EksUpgradeNodegroupsOperator

    eks.update_nodegroup_config(
        clusterName="payments-prod", nodegroupName="general", updateConfig={"maxUnavailablePercentage": 50}
    )
    control_plane_step(deferrable=False).execute(context())  # minutes of simulated time: the config is applied
    nodegroups = [
        eks.describe_nodegroup(clusterName="payments-prod", nodegroupName=name)["nodegroup"]
        for name in eks.list_nodegroups(clusterName="payments-prod")["nodegroups"]
    ]
    step = EksUpgradeNodegroupsOperator(
        task_id="nodegroups", cluster_name="payments-prod", hop_number=1, region_name="us-east-1", waiter_delay=30
    )
    with pytest.raises(TaskDeferred) as deferred:
        step.execute({**context(), "params": {**PARAMS, "nodegroup_parallelism": 2}})

    longest = max(nodegroup_roll_timeout(nodegroup) for nodegroup in nodegroups)
    assert deferred.value.trigger.waiter_max_attempts == longest.total_seconds() // 30
    assert deferred.value.timeout.total_seconds() == pytest.approx(longest.total_seconds() + 30)


def _an_upgrade_insight_in_error(eks) -> dict[str, Any]:
    """An Amazon Linux 2 node group: EKS publishes no AL2 AMI for 1.33, so the 1.33 insight turns ERROR."""
    import time

    general = eks.describe_nodegroup(clusterName="payments-prod", nodegroupName="general")["nodegroup"]
    eks.create_nodegroup(
        clusterName="payments-prod",
        nodegroupName="legacy",
        amiType="AL2_x86_64",
        subnets=general["subnets"],
        nodeRole=general["nodeRole"],
        scalingConfig={"minSize": 1, "maxSize": 1, "desiredSize": 1},
    )
    eks.start_insights_refresh(clusterName="payments-prod")
    for _ in range(200):
        if eks.describe_insights_refresh(clusterName="payments-prod")["status"] == "COMPLETED":
            break
        time.sleep(0.05)
    (insight,) = eks.list_insights(
        clusterName="payments-prod",
        filter={"categories": ["UPGRADE_READINESS"], "kubernetesVersions": ["1.33"], "statuses": ["ERROR"]},
    )["insights"]
    return insight


def test_insights_in_error_stop_the_control_plane_step_as_a_finding_naming_them(eks):
    from airflow.providers.common.compat.sdk import AirflowFailException

    insight = _an_upgrade_insight_in_error(eks)
    with pytest.raises(AirflowFailException) as refused:
        control_plane_step(deferrable=False).execute(context())

    message = str(refused.value)
    assert "InvalidStateException" in message and f"{insight['name']} ({insight['id']})" in message
    assert "EKS-INSIGHTS-UPGRADE-READINESS" in message and "ignore_checks" in message
    assert not isinstance(refused.value.__cause__, Exception)  # a finding, not a botocore stack trace
    assert eks.list_updates(name="payments-prod")["updateIds"] == []


def test_insights_accepted_in_ignore_checks_upgrade_with_force_and_say_so(eks):
    _an_upgrade_insight_in_error(eks)
    accepted = {**context(), "params": {**PARAMS, "ignore_checks": ["EKS-INSIGHTS-UPGRADE-READINESS"]}}

    result = control_plane_step(deferrable=False).execute(accepted)

    assert result["summary"].startswith("control plane at 1.33")
    assert "force" in result["summary"] and "EKS-INSIGHTS-UPGRADE-READINESS" in result["summary"]
    assert eks.describe_cluster(name="payments-prod")["cluster"]["version"] == "1.33"


def _restart_kube_proxy_slowly(demo_fleet, eks) -> None:
    """`kubectl rollout restart ds/kube-proxy`, on a cluster whose pods take 20 minutes to start: the DaemonSet
    replaces its pods node by node, seconds of wall time at the test's time scale."""
    from datetime import UTC, datetime, timedelta

    from kubernetes import client

    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    endpoint = eks.describe_cluster(name="payments-prod")["cluster"]["endpoint"]
    demo_fleet.kube_clusters.at_endpoint(endpoint).pod_startup = timedelta(minutes=20)
    restarted = {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": str(datetime.now(UTC))}}}
        }
    }
    hook = EksRunbookHook(aws_conn_id="aws_platform_admin", region_name="us-east-1")
    with eks_kubernetes_client("payments-prod", hook=hook) as api_client:
        client.AppsV1Api(api_client).patch_namespaced_daemon_set("kube-proxy", "kube-system", restarted)


def validate_step(**options: Any):
    from eks_runbooks.operators.upgrade import EksUpgradeValidateOperator

    return EksUpgradeValidateOperator(
        task_id="validate",
        cluster_name="payments-prod",
        hop_number=1,
        region_name="us-east-1",
        preflight_task_id="preflight",
        waiter_delay=0.05,
        **options,
    )


def finished_hop_context() -> dict[str, Any]:
    """The hop the demo cluster has finished: 1.31 → 1.32."""
    plan = {"hops": [{"from": "1.31", "to": "1.32"}]}
    found = context()
    found["ti"].xcom_pull = lambda task_ids=None, key=None: plan if task_ids == PLAN_TASK_ID and key is None else None
    return found


def test_validation_waits_for_a_daemonset_rollout_to_converge(eks, demo_fleet):
    _restart_kube_proxy_slowly(demo_fleet, eks)

    assert validate_step().execute(finished_hop_context()) == {"summary": "hop 1.31 → 1.32 validated"}


def test_validation_that_times_out_names_what_did_not_converge(eks, demo_fleet):
    from datetime import timedelta

    from airflow.providers.common.compat.sdk import AirflowFailException

    _restart_kube_proxy_slowly(demo_fleet, eks)
    with pytest.raises(AirflowFailException, match="converge") as timed_out:
        validate_step(convergence_timeout=timedelta(seconds=0.1)).execute(finished_hop_context())
    assert "kube-system/DaemonSet/kube-proxy" in str(timed_out.value)
