"""The simulated world keeps its own date: the calendar, what EKS accepts, and the upgrades EKS makes itself."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import date
from typing import Any

import boto3
import pytest
import yaml

from eks_sandbox.fleet import FleetError, fleet_as_of, load_fleet
from eks_sandbox.moto_compat import reset_moto
from eks_sandbox.server import SandboxServer
from eks_sandbox.world import Sandbox
from tests.helpers import DEMO_FLEET, VENV_BIN, WORLD_DATE, free_port, sandbox_control, wait_for_http

ONE_CLUSTER_FLEET = """
as_of: {as_of}
accounts:
  - id: "123456789012"
    regions:
      us-east-1:
        network:
          subnets:
            - {{name: private-a, az: us-east-1a, cidr: 10.0.0.0/19}}
            - {{name: private-b, az: us-east-1b, cidr: 10.0.32.0/19}}
        clusters:
          - name: legacy
            version: "{version}"
            upgrade_policy: {policy}
            nodegroups:
              - {{name: general, size: 1}}
"""


def one_cluster_fleet(as_of: str, version: str, policy: str = "EXTENDED") -> dict[str, Any]:
    return yaml.safe_load(ONE_CLUSTER_FLEET.format(as_of=as_of, version=version, policy=policy))


@pytest.fixture
def world_at() -> Iterator:
    """``world_at(day)``: a fresh in-process sandbox whose world starts on ``day``, served on loopback."""
    servers = []

    def start(day: date) -> Sandbox:
        reset_moto()
        sandbox = Sandbox(time_scale=0.001, start=day)
        servers.append(SandboxServer(sandbox, port=0).start())
        return sandbox

    yield start
    for server in servers:
        server.stop()
    reset_moto()


def eks(sandbox: Sandbox) -> Any:
    return boto3.client("eks", endpoint_url=sandbox.base_url, region_name="us-east-1")


def serve(*options: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [str(VENV_BIN / "eks-sandbox"), "serve", "--port", str(port), "--time-scale", "0.001", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/_sandbox/health", process=process)
    except BaseException:
        process.kill()
        raise
    return process, url


def aws_cli(url: str, *args: str) -> dict[str, Any]:
    return json.loads(
        subprocess.run(
            [str(VENV_BIN / "aws"), "--endpoint-url", url, "--region", "us-east-1", "--output", "json", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (
            "2026-03-01",
            {"1.29": "EXTENDED_SUPPORT", "1.32": "STANDARD_SUPPORT", "1.35": "STANDARD_SUPPORT", "1.36": None},
        ),
        (
            "2027-01-01",
            {"1.31": None, "1.32": "EXTENDED_SUPPORT", "1.34": "EXTENDED_SUPPORT", "1.36": "STANDARD_SUPPORT"},
        ),
    ],
)
def test_serve_date_sets_the_day_describe_cluster_versions_answers_for(day, expected):
    process, url = serve("--date", day)
    try:
        listed = aws_cli(url, "eks", "describe-cluster-versions")["clusterVersions"]
        statuses = {row["clusterVersion"]: row["versionStatus"] for row in listed}
        assert {version: statuses.get(version) for version in expected} == expected
        assert "1.28" not in statuses  # UNSUPPORTED versions are listed only with --include-all
        assert sandbox_control(url, "GET", "/health")[1]["world_date"] == day
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_serve_date_wins_over_the_fleets_as_of(tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(ONE_CLUSTER_FLEET.format(as_of="2026-01-20", version="1.32", policy="STANDARD"))
    process, url = serve("--fleet", str(fleet), "--date", "2026-03-01")
    try:
        assert sandbox_control(url, "GET", "/health")[1]["world_date"] == "2026-03-01"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_serve_refuses_a_fleet_at_a_version_past_extended_support_naming_both_dates(tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(ONE_CLUSTER_FLEET.format(as_of="2026-12-01", version="1.31", policy="EXTENDED"))
    result = subprocess.run(
        [str(VENV_BIN / "eks-sandbox"), "serve", "--fleet", str(fleet), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"eks-sandbox: cannot load fleet {fleet}: cluster legacy, checking its version: Kubernetes 1.31 cannot be "
        "declared at the fleet's date 2026-12-01 (as_of): 1.31 reached the end of extended support on 2026-11-26. "
        "Declare a version EKS supports that day, or set as_of to a date when this one was supported."
    )


def test_a_fleet_cannot_hold_a_standard_policy_cluster_past_its_end_of_standard_support(world_at):
    sandbox = world_at(date(2026, 4, 1))
    with pytest.raises(FleetError) as raised:
        load_fleet(sandbox, one_cluster_fleet("2026-04-01", "1.32", policy="STANDARD"))
    assert (raised.value.cluster, raised.value.step) == ("legacy", "checking its version")
    assert "EKS upgrades a cluster with upgrade policy STANDARD off 1.32 from 2026-03-23" in str(raised.value)
    assert eks(sandbox).list_clusters()["clusters"] == []  # refused before anything was built


def test_a_fleet_loaded_into_a_sandbox_of_another_date_names_both_dates(world_at):
    sandbox = world_at(date(2026, 12, 1))
    with pytest.raises(FleetError, match=r"the sandbox's date 2026-12-01 \(the fleet is dated 2026-01-20\)"):
        load_fleet(sandbox, one_cluster_fleet("2026-01-20", "1.31"))


def test_as_of_must_be_a_date():
    with pytest.raises(FleetError, match="as_of must be a date YYYY-MM-DD, got 'last tuesday'"):
        fleet_as_of({"as_of": "last tuesday", "accounts": []})


def test_the_demo_fleet_is_dated_the_tests_world_date():
    assert fleet_as_of(yaml.safe_load(DEMO_FLEET.read_text())) == WORLD_DATE


@pytest.mark.parametrize(
    ("version", "policy", "last_supported_day", "next_version"),
    [("1.31", "EXTENDED", date(2026, 11, 25), "1.32"), ("1.33", "STANDARD", date(2026, 7, 28), "1.34")],
    ids=["end-of-extended-support", "end-of-standard-support-under-standard-policy"],
)
def test_eks_upgrades_a_control_plane_itself_once_its_support_ends(
    world_at, version, policy, last_supported_day, next_version
):
    sandbox = world_at(last_supported_day)
    load_fleet(sandbox, one_cluster_fleet(last_supported_day.isoformat(), version, policy))
    client = eks(sandbox)
    assert client.list_updates(name="legacy")["updateIds"] == []

    status, _ = sandbox_control(sandbox.base_url, "POST", "/clock/skip", {"minutes": 24 * 60})
    assert status == 200
    [update_id] = client.list_updates(name="legacy")["updateIds"]
    update = client.describe_update(name="legacy", updateId=update_id)["update"]
    assert (update["type"], update["status"]) == ("VersionUpdate", "InProgress")
    assert {"type": "Version", "value": next_version} in update["params"]
    assert client.describe_cluster(name="legacy")["cluster"]["status"] == "UPDATING"

    sandbox.settle()
    assert client.describe_update(name="legacy", updateId=update_id)["update"]["status"] == "Successful"
    assert client.describe_cluster(name="legacy")["cluster"]["version"] == next_version
    # Only the control plane moves: the node group stays where its owner left it.
    assert client.describe_nodegroup(clusterName="legacy", nodegroupName="general")["nodegroup"]["version"] == version


def test_the_newest_ami_release_is_one_published_by_the_world_date(world_at):
    sandbox = world_at(date(2026, 3, 1))
    load_fleet(sandbox, one_cluster_fleet("2026-03-01", "1.33"))
    release = eks(sandbox).describe_nodegroup(clusterName="legacy", nodegroupName="general")["nodegroup"][
        "releaseVersion"
    ]
    published = date.fromisoformat(f"{release[-8:-4]}-{release[-4:-2]}-{release[-2:]}")
    assert release.startswith("1.33.")
    assert 0 <= (date(2026, 3, 1) - published).days < 14
