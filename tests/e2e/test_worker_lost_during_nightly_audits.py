"""The nightly audits over the whole demo fleet on the distributed Airflow, one Celery worker lost mid-run.

Real processes: tests/e2e/conftest.py's demo (PostgreSQL, Redis, Celery workers ``worker-1`` and ``worker-2``),
with the scheduler's task heartbeat timeout lowered so a lost worker is noticed in seconds. The compliance and
cost audits start together, as their schedules would start them on a night, through the REST API. As soon as a
cost ``gather`` task runs, the test SIGKILLs the worker running it as a lost machine would end it: its whole
process group — the Celery worker and its pool, whose processes supervise a task each (``airflow supervisor:
<task instance id>``) — and the task processes those supervisors started (each in a session of its own, so
outside the group); that worker stays down.

Proof of the acceptance: both runs succeed; the task instances that ran on the lost worker were tried again
(on the worker left) and succeeded; every other task instance ran once; the reports cover every cluster of
the demo fleet, all of them audited and costed.

This module sorts after the others that share the demo: they run while both workers are up.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from scripts.process_table import process_table
from tests.e2e.conftest import DistributedDemo
from tests.helpers import DEMO_FLEET, wait_while_demo_runs

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900), pytest.mark.xdist_group("airflow-distributed")]

AUDITS = ("eks_compliance_audit", "eks_cost_audit")
RUN_ID = "nightly__worker_lost"
WORKERS = ("airflow-worker-1", "airflow-worker-2")


@dataclass
class Scenario:
    """Which worker was lost and what it was running, and how each audit's run and task instances ended."""

    lost_worker: str = ""
    #: (dag, task, map index) of what ran on the lost worker, and of what had succeeded before it was lost.
    lost: set[tuple[str, str, int]] = field(default_factory=set)
    done_before: set[tuple[str, str, int]] = field(default_factory=set)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    task_instances: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def scenario(distributed: DistributedDemo) -> Scenario:
    seen = Scenario()
    api = distributed.api()
    dags_url = f"{distributed.airflow_url}/api/v2/dags"
    for dag_id in AUDITS:
        wait_while_demo_runs(
            lambda d=dag_id: api.get(f"{dags_url}/{d}", timeout=30).ok, f"{dag_id} parsed", distributed.process, 120
        )
        assert api.patch(f"{dags_url}/{dag_id}", json={"is_paused": False}, timeout=30).ok
        trigger = {"dag_run_id": RUN_ID, "logical_date": None, "conf": {}}
        assert api.post(f"{dags_url}/{dag_id}/dagRuns", json=trigger, timeout=30).status_code == 200

    groups = {worker: distributed.process_group(worker) for worker in WORKERS}
    seen.lost_worker = gather_running_on(groups, api, f"{dags_url}/eks_cost_audit/dagRuns/{RUN_ID}")
    running = lose_worker(groups[seen.lost_worker])
    # Airflow gives each try a new task instance id: keep what the ids stood for when the worker was lost.
    for dag_id in AUDITS:
        for ti in api.get(f"{dags_url}/{dag_id}/dagRuns/{RUN_ID}/taskInstances", timeout=30).json()["task_instances"]:
            key = (dag_id, ti["task_id"], ti["map_index"])
            # A supervisor outlives its task's end by a moment: a task that had reported success was not lost.
            if ti["state"] == "success":
                seen.done_before.add(key)
            elif ti["id"] in running:
                seen.lost.add(key)

    for dag_id in AUDITS:
        run_url = f"{dags_url}/{dag_id}/dagRuns/{RUN_ID}"

        def ended(url: str = run_url) -> dict[str, Any] | None:
            run = api.get(url, timeout=30).json()
            return run if run["state"] in ("success", "failed") else None

        seen.runs[dag_id] = wait_while_demo_runs(ended, f"{dag_id} to end", distributed.process, timeout=600)
        seen.task_instances[dag_id] = api.get(f"{run_url}/taskInstances", timeout=30).json()["task_instances"]
        report = api.get(f"{run_url}/taskInstances/report/xcomEntries/return_value", timeout=30).json()["value"]
        seen.reports[dag_id] = yaml.safe_load(Path(urlsplit(report["report_json"]).path).read_text())
    return seen


def gather_running_on(groups: dict[str, int], api: Any, run_url: str, timeout: float = 300) -> str:
    """The worker that runs a cost ``gather`` task, as soon as one does.

    Looks every tenth of a second: a gather task takes seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = {worker: {ti for _, ti in supervisors(group)} for worker, group in groups.items()}
        if any(running.values()):
            mapped = api.get(f"{run_url}/taskInstances/gather/listMapped", timeout=30).json()
            gather = {ti["id"] for ti in mapped.get("task_instances", []) if ti["state"] == "running"}
            for worker, ids in running.items():
                if gather & ids:
                    return worker
        time.sleep(0.1)
    pytest.fail(f"no cost gather task was seen running on a worker within {timeout:.0f} s")


def processes() -> list[tuple[int, int, int, str]]:
    """(process group, pid, parent pid, command line) of every process."""
    return [
        (int(pgid), int(pid), int(ppid), args) for pgid, pid, ppid, args in process_table("pgid", "pid", "ppid", "args")
    ]


def supervisors(group: int) -> list[tuple[int, str]]:
    """(pid, task instance id) of the task supervisors in a Celery worker's process group."""
    return [
        (pid, found[1])
        for pgid, pid, _, args in processes()
        if pgid == group and (found := re.fullmatch(r"airflow supervisor: (\S+)", args))
    ]


def lose_worker(group: int) -> set[str]:
    """SIGKILL a worker's process group and the task processes its supervisors started, all at once; returns the
    ids of the task instances they ran."""
    supervised = supervisors(group)
    supervisor_pids = {pid for pid, _ in supervised}
    tasks = [pid for pgid, pid, ppid, _ in processes() if ppid in supervisor_pids and pgid != group]
    os.killpg(group, signal.SIGKILL)
    for pid in tasks:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return {ti for _, ti in supervised}


def demo_clusters() -> set[str]:
    fleet = yaml.safe_load(DEMO_FLEET.read_text())
    return {
        cluster["name"]
        for account in fleet["accounts"]
        for region in account["regions"].values()
        for cluster in region["clusters"]
    }


def test_both_audits_succeed_with_a_worker_lost_mid_run(scenario):
    assert {dag_id: run["state"] for dag_id, run in scenario.runs.items()} == dict.fromkeys(AUDITS, "success")


def test_the_tasks_of_the_lost_worker_were_tried_again_on_the_other(scenario):
    tries = ending_tries(scenario)
    assert any(task == "gather" for _, task, _ in scenario.lost), scenario.lost
    assert {key: tries[key] for key in scenario.lost} == dict.fromkeys(scenario.lost, (2, "success"))


def test_nothing_else_ran_twice(scenario):
    tries = ending_tries(scenario)
    assert scenario.done_before, "the worker was lost before anything had finished"
    others = tries.keys() - scenario.lost
    assert scenario.done_before <= others
    assert {key: tries[key] for key in others} == dict.fromkeys(others, (1, "success"))


def ending_tries(scenario: Scenario) -> dict[tuple[str, str, int], tuple[int, str]]:
    """(dag, task, map index) → (the try it ended at, its state)."""
    return {
        (dag_id, ti["task_id"], ti["map_index"]): (ti["try_number"], ti["state"])
        for dag_id, task_instances in scenario.task_instances.items()
        for ti in task_instances
    }


def test_every_cluster_of_the_demo_fleet_is_audited_and_costed(scenario):
    clusters = demo_clusters()
    compliance = scenario.reports["eks_compliance_audit"]
    assert {cluster["cluster"] for cluster in compliance["clusters"]} == clusters
    assert compliance["summary"]["by_status"]["ERROR"] == 0
    cost = scenario.reports["eks_cost_audit"]
    assert {cluster["cluster"] for cluster in cost["clusters"]} == clusters
    assert cost["not_costed"] == []
