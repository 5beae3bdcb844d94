"""The control API (``/_sandbox``) over HTTP, on the in-process sandbox: health, clock, settle, add-on health,
fleet loading, and the errors each answers for a bad request."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.helpers import sandbox_control

SMALL_FLEET = """
accounts:
  - id: "123456789012"
    regions:
      us-east-1:
        network:
          subnets:
            - {name: private-a, az: us-east-1a, cidr: 10.0.0.0/19}
            - {name: private-b, az: us-east-1b, cidr: 10.0.32.0/19}
        clusters:
          - name: rehearsal
            version: "1.31"
            addons: [coredns]
            nodegroups:
              - {name: general, size: 1}
"""


def control(sandbox, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    return sandbox_control(sandbox.base_url, method, path, body)


def eks(sandbox) -> Any:
    return boto3.client("eks", endpoint_url=sandbox.base_url, region_name="us-east-1")


def simulated_now(sandbox) -> datetime:
    return datetime.fromisoformat(control(sandbox, "GET", "/health")[1]["simulated_now"])


def test_health_reports_time_scale_clusters_and_fleet_state(sandbox):
    status, health = control(sandbox, "GET", "/health")
    assert status == 200
    assert health["status"] == "ok" and health["time_scale"] == 0.001
    assert (health["clusters"], health["fleet_loaded"]) == (0, True)
    assert control(sandbox, "GET", "/nowhere")[0] == 404


def test_clock_pause_stops_simulated_time_and_resume_restarts_it(sandbox):
    status, paused = control(sandbox, "POST", "/clock/pause")
    assert status == 200 and paused["paused"] is True
    frozen = simulated_now(sandbox)
    assert simulated_now(sandbox) == frozen
    status, resumed = control(sandbox, "POST", "/clock/resume")
    assert status == 200 and resumed["paused"] is False
    # at time scale 0.001 a few wall milliseconds are simulated seconds
    deadline = datetime.now() + timedelta(seconds=5)
    while simulated_now(sandbox) == frozen and datetime.now() < deadline:
        pass
    assert simulated_now(sandbox) > frozen


def test_clock_skip_jumps_forward(sandbox):
    control(sandbox, "POST", "/clock/pause")
    before = simulated_now(sandbox)
    status, answer = control(sandbox, "POST", "/clock/skip", {"minutes": 90})
    assert status == 200
    assert datetime.fromisoformat(answer["simulated_now"]) - before == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"minutes": 10**12}, "between 0 and 5256000"),
        ({"minutes": 5256001}, "between 0 and 5256000"),
        ({"minutes": -5}, "between 0 and 5256000"),
        ({"minutes": "60"}, "number of minutes"),
        ({"minutes": True}, "number of minutes"),
        ({}, "number of minutes"),
    ],
)
def test_clock_skip_refuses_a_bad_duration_and_leaves_time_alone(sandbox, body, expected):
    control(sandbox, "POST", "/clock/pause")
    before = simulated_now(sandbox)
    status, answer = control(sandbox, "POST", "/clock/skip", body)
    assert status == 400 and expected in answer["error"]
    assert simulated_now(sandbox) == before
    assert control(sandbox, "POST", "/clock/skip", {"minutes": 5256000})[0] == 200  # the sandbox still works


def test_settle_finishes_an_update_in_flight(sandbox):
    assert control(sandbox, "POST", "/fleet", SMALL_FLEET)[0] == 201
    control(sandbox, "POST", "/clock/pause")  # nothing finishes by itself while the test looks
    update = eks(sandbox).update_cluster_version(name="rehearsal", version="1.32")["update"]
    assert update["status"] == "InProgress"
    assert control(sandbox, "POST", "/settle") == (200, {"settled": True})
    described = eks(sandbox).describe_update(name="rehearsal", updateId=update["id"])["update"]
    assert described["status"] == "Successful"
    assert eks(sandbox).describe_cluster(name="rehearsal")["cluster"]["version"] == "1.32"


def test_degrade_then_heal_an_addon(sandbox):
    control(sandbox, "POST", "/fleet", SMALL_FLEET)
    target = {"region": "us-east-1", "cluster": "rehearsal", "addon": "coredns"}
    issue = {"code": "InsufficientNumberOfReplicas", "message": "0 of 2 replicas ready"}
    assert control(sandbox, "POST", "/addons/degrade", target | issue) == (200, {"ok": True})
    addon = eks(sandbox).describe_addon(clusterName="rehearsal", addonName="coredns")["addon"]
    assert addon["status"] == "DEGRADED"
    assert addon["health"]["issues"] == [issue | {"resourceIds": []}]
    assert control(sandbox, "POST", "/addons/heal", target) == (200, {"ok": True})
    addon = eks(sandbox).describe_addon(clusterName="rehearsal", addonName="coredns")["addon"]
    assert (addon["status"], addon["health"]["issues"]) == ("ACTIVE", [])


def test_degrading_an_addon_of_an_unknown_cluster_or_without_a_name_is_refused(sandbox):
    status, answer = control(sandbox, "POST", "/addons/degrade", {"cluster": "nope", "addon": "coredns"})
    assert status == 404 and "nope" in answer["error"]
    status, answer = control(sandbox, "POST", "/addons/heal", {"cluster": "nope"})
    assert status == 400 and answer["error"] == "missing field 'addon' in the request body"


def test_fleet_endpoint_loads_a_fleet_into_the_running_sandbox(sandbox):
    status, summary = control(sandbox, "POST", "/fleet", SMALL_FLEET)
    assert status == 201
    assert [(c["name"], c["version"]) for c in summary["clusters"]] == [("rehearsal", "1.31")]
    assert summary["clusters"][0]["endpoint"] == eks(sandbox).describe_cluster(name="rehearsal")["cluster"]["endpoint"]
    assert eks(sandbox).list_clusters()["clusters"] == ["rehearsal"]
    assert (
        eks(sandbox).describe_nodegroup(clusterName="rehearsal", nodegroupName="general")["nodegroup"]["status"]
        == "ACTIVE"
    )
    assert control(sandbox, "GET", "/health")[1]["clusters"] == 1


@pytest.mark.parametrize(
    ("replace", "by", "step", "expected"),
    [
        ("addons: [coredns]", "subnets: [private-z]", "CreateCluster", "unknown subnet 'private-z'"),
        ('version: "1.31"', 'version: "1.99"', "checking its version", "1.99 is not a Kubernetes version"),
        (
            "{name: general, size: 1}",
            "{name: general, instance_types: m5.large}",
            "node group general",
            "instanceTypes",
        ),
        ("addons: [coredns]", "addons: [no-such-addon]", "add-on no-such-addon", "no-such-addon"),
    ],
)
def test_a_fleet_that_cannot_be_built_is_a_400_naming_cluster_and_step(sandbox, replace, by, step, expected):
    status, answer = control(sandbox, "POST", "/fleet", SMALL_FLEET.replace(replace, by))
    assert status == 400, answer
    assert (answer["cluster"], answer["step"]) == ("rehearsal", step)
    assert answer["error"].startswith(f"cannot load fleet: cluster rehearsal, {step}: ")
    assert expected in answer["error"]


def test_a_fleet_that_is_not_yaml_or_not_a_fleet_is_a_400(sandbox):
    status, answer = control(sandbox, "POST", "/fleet", "accounts: [unclosed")
    assert status == 400 and answer["error"].startswith("the fleet is not valid YAML")
    status, answer = control(sandbox, "POST", "/fleet", "- just\n- a list\n")
    assert status == 400 and "expected a mapping with 'accounts'" in answer["error"]
    status, answer = control(sandbox, "POST", "/fleet", SMALL_FLEET.replace("- name: rehearsal", "- nom: x"))
    assert status == 400 and "missing field 'name'" in answer["error"]
