"""The README's main-job command, for real: sandbox + `airflow standalone`, a runbook run, a clean stop."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers import REPO, VENV_BIN, free_port

pytestmark = pytest.mark.e2e


def processes_in_group(pgid: int) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "pgid=,pid=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if line.split(None, 1)[0] == str(pgid)]


def test_demo_runs_the_inventory_through_airflow_and_stops_cleanly(tmp_path):
    env = os.environ | {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("AIRFLOW_HOME", None)
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    process = subprocess.Popen(
        [
            str(VENV_BIN / "python"),
            str(REPO / "scripts" / "demo.py"),
            "--exit-after-run",
            "--sandbox-port",
            str(free_port()),
            "--airflow-port",
            str(free_port()),
            "--state-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
        cwd=REPO,
    )
    output, _ = process.communicate(timeout=420)
    assert process.returncode == 0, output
    assert "eks_fleet_inventory finished: success" in output
    assert "| payments-prod |" in output and "| analytics-staging |" in output
    assert "demo: sandbox and Airflow stopped" in output
    assert processes_in_group(process.pid) == []
