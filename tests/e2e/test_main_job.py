"""The README's main-job command, for real: sandbox + `airflow standalone`, a runbook run, a clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, VENV_BIN, free_port

pytestmark = pytest.mark.e2e


def live_processes(pgids: list[int], marker: str) -> list[str]:
    """Processes still running in any of these process groups, or whose command line mentions ``marker``.

    Zombies (state Z) are dead already: reparented to PID 1, which in a container without an init may never
    reap them; they hold no resources and are not orphans.
    """
    listing = subprocess.run(["ps", "-eo", "pgid=,pid=,stat=,args="], capture_output=True, text=True, check=True).stdout
    live = []
    for line in listing.splitlines():
        pgid, _pid, stat, args = line.split(None, 3)
        if not stat.startswith("Z") and (int(pgid) in pgids or (marker in args and "pytest" not in args)):
            live.append(line)
    return live


def start_demo(state_dir: Path, *options: str) -> subprocess.Popen:
    """Run scripts/demo.py as a user would, outside the test session's Airflow settings."""
    env = os.environ | {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("AIRFLOW_HOME", None)
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    ports = ["--sandbox-port", str(free_port()), "--airflow-port", str(free_port())]
    return subprocess.Popen(
        [str(VENV_BIN / "python"), str(REPO / "scripts" / "demo.py"), *options, *ports, "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
        cwd=REPO,
    )


def assert_stopped_cleanly(output: str, state_dir: Path) -> None:
    assert "demo: sandbox and Airflow stopped" in output
    groups = [int(group) for group in re.findall(r"process group (\d+)", output)]
    assert len(groups) == 2, output  # eks-sandbox and airflow standalone, each leading its own group
    assert live_processes(groups, str(state_dir)) == []


def test_demo_runs_the_inventory_through_airflow_and_stops_cleanly(tmp_path):
    process = start_demo(tmp_path, "--exit-after-run")
    output, _ = process.communicate(timeout=420)
    assert process.returncode == 0, output
    assert "eks_fleet_inventory finished: success" in output
    assert "| payments-prod |" in output and "| analytics-staging |" in output
    assert_stopped_cleanly(output, tmp_path)


def test_ctrl_c_while_airflow_starts_stops_everything(tmp_path):
    process = start_demo(tmp_path)
    lines = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (lines and "started airflow" in lines[-1]):
        lines.append(process.stdout.readline())
    time.sleep(3)  # standalone is now spawning its scheduler, dag-processor, triggerer and api-server
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert_stopped_cleanly(output, tmp_path)
