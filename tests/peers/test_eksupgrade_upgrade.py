"""eksupgrade (aws-samples/eks-cluster-upgrade, from PyPI) upgrades a demo cluster through `eks-sandbox serve`.

A client nobody here wrote, run as its users run it: its own CLI, its own boto3 and Kubernetes client, its own
tokens. The test judges the result the way an operator would, through the AWS API, not eksupgrade's output:
eksupgrade logs its errors and still exits 0.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.helpers import PLATFORM_ADMIN_ROLE_ARN, REPO, assumed_role_credentials, serving_sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.peers]

#: Installed by scripts/bootstrap from peers/eksupgrade/requirements.lock.
EKSUPGRADE_PYTHON = REPO / ".venv-peers" / "eksupgrade" / "bin" / "python"
PACED = REPO / "peers" / "eksupgrade" / "paced.py"
TIME_SCALE = 0.01
CLUSTER, REGION, TARGET = "payments-prod", "us-east-1", "1.33"


@pytest.fixture
def own_sandbox_process(tmp_path: Path) -> Iterator[str]:
    """A serve process of its own: the upgrade changes payments-prod, which the session's sandbox keeps at 1.32."""
    with serving_sandbox(tmp_path / "serve.log", time_scale=TIME_SCALE) as url:
        yield url


def run_eksupgrade(endpoint: str, *arguments: str) -> subprocess.CompletedProcess:
    """eksupgrade's CLI in its own virtualenv, every AWS call sent to ``endpoint`` (boto3's AWS_ENDPOINT_URL), run
    as a team runs it: as the platform's admin role, which the demo fleet's access entries make cluster-admin."""
    if not EKSUPGRADE_PYTHON.exists():
        pytest.fail(f"eksupgrade is not installed in {EKSUPGRADE_PYTHON.parent.parent}: run `source scripts/bootstrap`")
    admin = assumed_role_credentials(endpoint, PLATFORM_ADMIN_ROLE_ARN, session_name="eksupgrade")
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env |= {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, "NO_COLOR": "1", "COLUMNS": "200"}
    env |= {name.upper(): value for name, value in admin.items()}
    return subprocess.run(
        [str(EKSUPGRADE_PYTHON), str(PACED), "--time-scale", str(TIME_SCALE), *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )


def default_addon_versions(eks, version: str, names: list[str]) -> dict[str, str]:
    """The version DescribeAddonVersions marks default for ``version``, per add-on (what eksupgrade targets)."""
    defaults = {}
    for name in names:
        (addon,) = eks.describe_addon_versions(kubernetesVersion=version, addonName=name)["addons"]
        defaults[name] = next(
            entry["addonVersion"]
            for entry in addon["addonVersions"]
            for compatibility in entry["compatibilities"]
            if compatibility["clusterVersion"] == version and compatibility["defaultVersion"]
        )
    return defaults


def test_eksupgrade_upgrades_payments_prod_one_minor_control_plane_addons_and_node_groups(own_sandbox_process):
    eks = boto3.client("eks", endpoint_url=own_sandbox_process, region_name=REGION)
    addon_names = eks.list_addons(clusterName=CLUSTER)["addons"]
    nodegroup_names = eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["version"] == "1.32"

    result = run_eksupgrade(own_sandbox_process, CLUSTER, TARGET, REGION, "--no-interactive")
    transcript = f"eksupgrade exited {result.returncode}\n{result.stdout}\n{result.stderr}"

    assert result.returncode == 0, transcript
    cluster = eks.describe_cluster(name=CLUSTER)["cluster"]
    assert (cluster["version"], cluster["status"]) == (TARGET, "ACTIVE"), transcript
    for name in nodegroup_names:
        nodegroup = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=name)["nodegroup"]
        assert (nodegroup["version"], nodegroup["status"]) == (TARGET, "ACTIVE"), f"{name}\n{transcript}"
        assert nodegroup["releaseVersion"].startswith(f"{TARGET}."), f"{name}\n{transcript}"
    installed = {name: eks.describe_addon(clusterName=CLUSTER, addonName=name)["addon"] for name in addon_names}
    assert {name: addon["status"] for name, addon in installed.items()} == dict.fromkeys(addon_names, "ACTIVE")
    assert {name: addon["addonVersion"] for name, addon in installed.items()} == default_addon_versions(
        eks, TARGET, addon_names
    ), transcript
    control_plane_updates = [
        eks.describe_update(name=CLUSTER, updateId=update_id)["update"]
        for update_id in eks.list_updates(name=CLUSTER)["updateIds"]
    ]
    assert [(u["type"], u["status"]) for u in control_plane_updates] == [("VersionUpdate", "Successful")]
