"""EksUpdatesTrigger, run on an event loop with aiobotocore as the triggerer runs it, against the simulated EKS."""

from __future__ import annotations

import asyncio

import boto3
import pytest

from eks_runbooks.triggers.eks import EksUpdatesTrigger


def first_event(trigger: EksUpdatesTrigger) -> dict:
    async def run() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(run())


def trigger_for(updates: list[dict[str, str]], attempts: int = 50) -> EksUpdatesTrigger:
    return EksUpdatesTrigger(
        cluster_name="payments-prod",
        updates=updates,
        waiter_delay=0.05,
        waiter_max_attempts=attempts,
        aws_conn_id="aws_default",
        region_name="us-east-1",
    )


@pytest.fixture
def eks(demo_fleet):
    return boto3.client("eks", region_name="us-east-1")


def test_fires_with_the_update_that_ended_and_not_the_one_still_running(eks, demo_fleet):
    control_plane = eks.update_cluster_version(name="payments-prod", version="1.33")["update"]["id"]
    demo_fleet.settle()
    demo_fleet.clock.pause()  # the node group update stays InProgress while the trigger looks
    nodegroup = eks.update_nodegroup_version(clusterName="payments-prod", nodegroupName="general")["update"]["id"]
    updates = [{"update_id": nodegroup, "nodegroup_name": "general"}, {"update_id": control_plane}]
    assert first_event(trigger_for(updates)) == {"status": "success", "ended": [{"update_id": control_plane}]}


def test_gives_up_after_its_attempts_naming_the_updates(eks, demo_fleet):
    demo_fleet.clock.pause()
    update_id = eks.update_cluster_version(name="payments-prod", version="1.33")["update"]["id"]
    event = first_event(trigger_for([{"update_id": update_id}], attempts=2))
    assert event == {
        "status": "error",
        "message": f"EKS updates {update_id} of cluster payments-prod were still InProgress after 2 checks",
    }


def test_serializes_to_what_the_triggerer_rebuilds():
    trigger = trigger_for([{"update_id": "u-1", "addon_name": "coredns"}])
    path, kwargs = trigger.serialize()
    assert path == "eks_runbooks.triggers.eks.EksUpdatesTrigger"
    rebuilt = EksUpdatesTrigger(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)


def test_one_aws_client_serves_every_poll_of_a_wait(eks, demo_fleet, monkeypatch):
    from eks_runbooks.hooks.eks import EksRunbookHook

    built = []
    get_async_conn = EksRunbookHook.get_async_conn

    async def counted(hook):
        built.append(hook)
        return await get_async_conn(hook)

    monkeypatch.setattr(EksRunbookHook, "get_async_conn", counted)
    demo_fleet.clock.pause()
    update_id = eks.update_cluster_version(name="payments-prod", version="1.33")["update"]["id"]

    assert first_event(trigger_for([{"update_id": update_id}], attempts=3))["status"] == "error"
    assert len(built) == 1
