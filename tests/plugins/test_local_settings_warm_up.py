"""A broken import in the runbook library does not stop Airflow from starting.

Every Airflow component (scheduler, API server, DAG processor, triggerer, workers) imports
``airflow_local_settings`` at ``import airflow``; an exception there stops the component. The warm-up is
measured in a fresh interpreter, as a component starts, with one library module made unimportable.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_START_WITH_A_BROKEN_MODULE = """
import sys

class BrokenModule:
    def find_spec(self, name, path=None, target=None):
        if name == sys.argv[1]:
            raise ImportError(f"simulated syntax slip in {name}")
        return None

sys.meta_path.insert(0, BrokenModule())
import airflow.settings
import airflow_local_settings
print("started; dag_policy is", airflow_local_settings.dag_policy.__name__)
"""


def start_airflow_with_broken(module: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _START_WITH_A_BROKEN_MODULE, module],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )


@pytest.mark.parametrize(
    "module", ["eks_runbooks.tasks.upgrade", "eks_runbooks.operators.eks", "eks_runbooks.runs.policies"]
)
def test_a_broken_library_module_is_logged_and_airflow_still_starts(module):
    started = start_airflow_with_broken(module)

    assert started.returncode == 0, started.stderr[-3000:]
    assert "started; dag_policy is dag_policy" in started.stdout
    output = started.stdout + started.stderr
    assert f"could not import {module}" in output
    assert f"simulated syntax slip in {module}" in output


def test_a_working_library_warms_up_without_a_complaint():
    started = start_airflow_with_broken("no.such.module.is.imported")

    assert started.returncode == 0, started.stderr[-3000:]
    assert "could not import" not in started.stdout + started.stderr
