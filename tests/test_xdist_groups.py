"""Tests marked ``xdist_group`` run on one pytest-xdist worker, so a module fixture they share is built once.

The end-to-end modules that start a real Airflow (tests/e2e) rely on it: scripts/test runs the suite with
``--dist loadgroup``. A small project of its own is run here, as scripts/test runs the suite: two modules of one
group, each with a costly module fixture, and tests outside the group to keep the other worker busy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

GROUPED_MODULE = """
import os
import time

import pytest

pytestmark = pytest.mark.xdist_group("standalone")


@pytest.fixture(scope="module")
def costly():
    with open("setups.log", "a") as log:
        log.write(f"{__name__} {os.environ['PYTEST_XDIST_WORKER']}\\n")
    return time.sleep(0.2)


@pytest.mark.parametrize("case", range(3))
def test_part(costly, case):
    time.sleep(0.1)
"""

OTHER_MODULE = """
import time

import pytest


@pytest.mark.parametrize("case", range(20))
def test_other(case):
    time.sleep(0.05)
"""


def test_an_xdist_group_runs_on_one_worker_and_builds_each_module_fixture_once(tmp_path: Path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text("from tests.xdist_groups import pytest_collection_modifyitems  # noqa\n")
    for name in ("test_first_standalone", "test_second_standalone"):
        (tmp_path / f"{name}.py").write_text(GROUPED_MODULE)
    (tmp_path / "test_other.py").write_text(OTHER_MODULE)

    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup"],
        cwd=tmp_path,
        # Not this session's own pytest-xdist variables: the run below is a session of its own.
        env={name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
        | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert finished.returncode == 0, finished.stdout + finished.stderr
    setups = sorted((tmp_path / "setups.log").read_text().splitlines())
    assert [line.split()[0] for line in setups] == ["test_first_standalone", "test_second_standalone"], setups
    assert len({line.split()[1] for line in setups}) == 1, setups  # one worker for the whole group
