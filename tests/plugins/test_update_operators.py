"""The runbook library's update operators, sensor and trigger against the simulated EKS.

Each wait is exercised both ways: polled in the worker, and deferred — the real ``EksUpdateTrigger`` run on an
event loop with aiobotocore, as the triggerer runs it.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import boto3
import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from eks_runbooks.operators.eks import (
    EksUpdateAddonOperator,
    EksUpdateClusterVersionOperator,
    EksUpdateFailedError,
    EksUpdateNodegroupVersionOperator,
    default_request_token,
)
from eks_runbooks.sensors.eks import EksUpdateSensor
from eks_runbooks.triggers.eks import EksUpdateTrigger

FAST = {"waiter_delay": 1, "waiter_max_attempts": 120, "region_name": "us-east-1"}


def eks():
    return boto3.client("eks", region_name="us-east-1")


def run_trigger(trigger: EksUpdateTrigger) -> dict:
    async def first_event() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first_event())


def test_control_plane_upgrade_waits_in_the_worker_until_successful(demo_fleet):
    operator = EksUpdateClusterVersionOperator(
        task_id="upgrade", cluster_name="payments-prod", kubernetes_version="1.33", client_request_token="t-1", **FAST
    )
    result = operator.execute({})
    assert result["status"] == "Successful" and result["params"]["Version"] == "1.33"
    assert eks().describe_cluster(name="payments-prod")["cluster"]["version"] == "1.33"


def test_control_plane_upgrade_deferred_holds_no_worker_and_completes_through_the_trigger(demo_fleet):
    operator = EksUpdateClusterVersionOperator(
        task_id="upgrade",
        cluster_name="payments-prod",
        kubernetes_version="1.33",
        client_request_token="t-2",
        deferrable=True,
        **FAST,
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, EksUpdateTrigger) and deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout.total_seconds() == FAST["waiter_delay"] * (FAST["waiter_max_attempts"] + 1)
    event = run_trigger(trigger)
    assert event["status"] == "success"
    assert operator.execute_complete({}, event)["status"] == "Successful"
    assert eks().describe_cluster(name="payments-prod")["cluster"]["version"] == "1.33"


def test_trigger_serializes_to_what_the_triggerer_rebuilds():
    trigger = EksUpdateTrigger(
        cluster_name="c",
        update_id="u",
        addon_name="coredns",
        waiter_delay=5,
        waiter_max_attempts=9,
        aws_conn_id="aws_default",
        region_name="eu-west-1",
    )
    path, kwargs = trigger.serialize()
    assert path == "eks_runbooks.triggers.eks.EksUpdateTrigger"
    rebuilt = EksUpdateTrigger(**kwargs)
    assert rebuilt.waiter_args == {"name": "c", "updateId": "u", "addonName": "coredns"}
    assert rebuilt.region_name == "eu-west-1" and rebuilt.attempts == 9


def test_a_retried_task_attaches_to_the_update_it_already_started(demo_fleet):
    context = {"ti": SimpleNamespace(dag_id="eks_cluster_upgrade", run_id="ticket-42", task_id="cp", map_index=-1)}
    token = default_request_token(context)
    assert token == default_request_token(context) and len(token) <= 64
    first = eks().update_cluster_version(name="payments-prod", version="1.33", clientRequestToken=token)["update"]
    operator = EksUpdateClusterVersionOperator(
        task_id="cp", cluster_name="payments-prod", kubernetes_version="1.33", **FAST
    )
    result = operator.execute(context)
    assert result["update_id"] == first["id"] and result["status"] == "Successful"
    assert len(eks().list_updates(name="payments-prod")["updateIds"]) == 1


def test_failed_update_fails_the_task_with_eks_error_codes(demo_fleet):
    demo_fleet.faults.add_from_dict(
        {
            "kind": "update_failure",
            "cluster": "payments-prod",
            "update_type": "VersionUpdate",
            "error_code": "ClusterUnreachable",
            "message": "the control plane did not come back healthy",
        }
    )
    operator = EksUpdateClusterVersionOperator(
        task_id="upgrade", cluster_name="payments-prod", kubernetes_version="1.33", client_request_token="t-3", **FAST
    )
    with pytest.raises(EksUpdateFailedError) as failure:
        operator.execute({})
    message = str(failure.value)
    assert "cluster payments-prod" in message and "control plane" in message
    assert "ClusterUnreachable" in message and "describe-update" in message
    assert eks().describe_cluster(name="payments-prod")["cluster"]["version"] == "1.32"


def test_nodegroup_update_blocked_by_a_pdb_names_it(demo_fleet):
    eks().update_cluster_version(name="analytics-staging", version="1.32")
    demo_fleet.settle()
    operator = EksUpdateNodegroupVersionOperator(
        task_id="ng",
        cluster_name="analytics-staging",
        nodegroup_name="workers",
        kubernetes_version="1.32",
        client_request_token="t-4",
        **FAST,
    )
    with pytest.raises(EksUpdateFailedError) as failure:
        operator.execute({})
    assert "PodEvictionFailure" in str(failure.value) and "report-api" in str(failure.value)


def test_addon_update_waits_until_successful(demo_fleet):
    versions = eks().describe_addon_versions(addonName="coredns", kubernetesVersion="1.32")["addons"][0]
    current = eks().describe_addon(clusterName="payments-prod", addonName="coredns")["addon"]["addonVersion"]
    target = next(v["addonVersion"] for v in versions["addonVersions"] if v["addonVersion"] != current)
    operator = EksUpdateAddonOperator(
        task_id="coredns",
        cluster_name="payments-prod",
        addon_name="coredns",
        addon_version=target,
        client_request_token="t-5",
        **FAST,
    )
    assert operator.execute({})["status"] == "Successful"
    assert eks().describe_addon(clusterName="payments-prod", addonName="coredns")["addon"]["addonVersion"] == target


def test_sensor_follows_an_update_started_elsewhere(demo_fleet):
    demo_fleet.clock.pause()
    update = eks().update_cluster_version(name="payments-prod", version="1.33")["update"]
    sensor = EksUpdateSensor(
        task_id="follow", cluster_name="payments-prod", update_id=update["id"], region_name="us-east-1"
    )
    assert sensor.poke({}) is False
    demo_fleet.settle()
    assert sensor.poke({}) is True


def test_sensor_fails_when_the_followed_update_fails(demo_fleet):
    demo_fleet.faults.add_from_dict({"kind": "update_failure", "cluster": "payments-prod", "error_code": "Unknown"})
    update = eks().update_cluster_version(name="payments-prod", version="1.33")["update"]
    demo_fleet.settle()
    sensor = EksUpdateSensor(
        task_id="follow", cluster_name="payments-prod", update_id=update["id"], region_name="us-east-1"
    )
    with pytest.raises(EksUpdateFailedError, match="Unknown"):
        sensor.poke({})
