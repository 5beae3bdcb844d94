"""A ticketing system drives eks_cluster_upgrade through Airflow's REST API and hears back how the run ended.

Real processes: the demo's distributed Airflow (tests/e2e/conftest.py: PostgreSQL, Redis, Celery workers), whose
``ticketing_default`` connection points at an HTTP receiver in the test session. One scenario runs once per
module; each test checks one part of it. After the plan-only run, two real upgrades ask for approval
(``require_approval``); a person answers each through Airflow's Human-in-the-loop REST API — one approve (a
two-hop upgrade, 1.32 → 1.34), one reject with a comment.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import DistributedDemo
from tests.helpers import wait_while_demo_runs

#: A plan-only run, then two upgrades that wait for a person's answer, on a machine shared with other work.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200), pytest.mark.xdist_group("airflow-distributed")]

RUN_ID = "ticket__CHG-1001"
CONF = {
    "cluster_name": "payments-prod",
    "region": "us-east-1",
    "target_version": "1.34",
    "dry_run": True,
    "ticket_id": "CHG-1001",
}
INVALID_CONF = [{"target_version": "1.3x"}, {"nodegroup_parallelism": 0}]
#: Run id → (conf, the approver's answer).
APPROVALS = {
    "ticket__CHG-1003": (
        {"cluster_name": "payments-prod", "region": "us-east-1", "target_version": "1.34", "ticket_id": "CHG-1003"},
        {"chosen_options": ["Approve"], "params_input": {"comment": "go ahead"}},
    ),
    "ticket__CHG-1004": (
        {"cluster_name": "edge-dev", "region": "us-west-2", "target_version": "1.34", "ticket_id": "CHG-1004"},
        {"chosen_options": ["Reject"], "params_input": {"comment": "not during the change freeze"}},
    ),
}
HITL = "taskInstances/approve/-1/hitlDetails"
#: Seconds between the approval being asked and answered.
PERSON_READS_THE_PLAN = 10


@dataclass
class Scenario:
    """What the ticketing system saw and what Airflow did."""

    demo: DistributedDemo
    statuses: dict[str, int] = field(default_factory=dict)
    rejections: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    approved_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggered: dict[str, int] = field(default_factory=dict)
    questions: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)

    def ticket(self, ticket_id: str) -> list[dict[str, Any]]:
        """What the ticketing system received for ``ticket_id``."""
        return self.demo.ticket(ticket_id)


@pytest.fixture(scope="module")
def scenario(distributed: DistributedDemo) -> Scenario:
    """Trigger a ticketed run as a ticketing system would, wait for it and its notification, then the approvals."""
    seen = Scenario(distributed)
    act_as_ticketing_system(seen)
    return seen


def act_as_ticketing_system(seen: Scenario) -> None:
    """Log in, trigger the ticket's run (twice), try invalid conf, then wait for the run and the notification."""
    demo, api = seen.demo.process, seen.demo.api()
    dag_url = f"{seen.demo.airflow_url}/api/v2/dags/eks_cluster_upgrade"
    wait_while_demo_runs(lambda: api.get(dag_url, timeout=30).ok, "eks_cluster_upgrade to be parsed", demo, 120)
    assert api.patch(dag_url, json={"is_paused": False}, timeout=30).ok
    runs_url = f"{dag_url}/dagRuns"
    trigger = {"dag_run_id": RUN_ID, "logical_date": None, "conf": CONF}
    seen.statuses["trigger"] = api.post(runs_url, json=trigger, timeout=30).status_code
    seen.statuses["trigger again"] = api.post(runs_url, json=trigger, timeout=30).status_code
    for invalid in INVALID_CONF:
        rejected = api.post(
            runs_url, json={"dag_run_id": "ticket__CHG-1002", "logical_date": None, "conf": CONF | invalid}, timeout=30
        )
        seen.statuses[f"trigger with {invalid}"] = rejected.status_code
        seen.rejections.append(rejected.text)
    seen.statuses["the rejected run"] = api.get(f"{runs_url}/ticket__CHG-1002", timeout=30).status_code

    def ended() -> dict[str, Any] | None:
        run = api.get(f"{runs_url}/{RUN_ID}", timeout=30).json()
        return run if run["state"] in ("success", "failed") else None

    seen.run = wait_while_demo_runs(ended, "the run to end", demo, timeout=180)
    # The DAG processor runs the run's callbacks a little after the run ended.
    wait_while_demo_runs(lambda: seen.ticket("CHG-1001"), "the ticket notification", demo, timeout=60)
    answer_approvals(seen, demo, api, runs_url)


def answer_approvals(seen: Scenario, demo: subprocess.Popen, api: requests.Session, runs_url: str) -> None:
    """Start the runs that need approval, answer each through the HITL REST API, wait for their outcome."""
    for run_id, (conf, _) in APPROVALS.items():
        trigger = {
            "dag_run_id": run_id,
            "logical_date": None,
            "conf": conf | {"dry_run": False, "require_approval": True},
        }
        seen.triggered[run_id] = api.post(runs_url, json=trigger, timeout=30).status_code
    for run_id, (_, answer) in APPROVALS.items():
        hitl_url = f"{runs_url}/{run_id}/{HITL}"

        def asked(task_url: str = f"{runs_url}/{run_id}/taskInstances/approve") -> bool:
            return api.get(task_url, timeout=30).json().get("state") == "awaiting_input"

        wait_while_demo_runs(asked, f"{run_id} to ask for approval", demo, timeout=180)
        seen.questions[run_id] = api.get(hitl_url, timeout=30).json()
        # Answer as a person would, not within the second the task parked: on Airflow 3.3.2 under load, an
        # answer that quick was seen resuming the task and then losing that try (it asked again).
        time.sleep(PERSON_READS_THE_PLAN)
        seen.answers[run_id] = api.patch(hitl_url, json=answer, timeout=30).status_code

    def ended(run_id: str) -> dict[str, Any] | None:
        run = api.get(f"{runs_url}/{run_id}", timeout=30).json()
        return run if run["state"] in ("success", "failed") else None

    for run_id in APPROVALS:
        seen.approved_runs[run_id] = wait_while_demo_runs(
            lambda r=run_id: ended(r), f"{run_id} to end", demo, timeout=600
        )
    tickets = [conf["ticket_id"] for conf, _ in APPROVALS.values()]
    wait_while_demo_runs(lambda: all(seen.ticket(t) for t in tickets), "the approval runs' tickets", demo, timeout=120)


def test_one_run_per_ticket_and_invalid_conf_is_refused(scenario):
    assert scenario.statuses == {
        "trigger": 200,
        "trigger again": 409,
        **{f"trigger with {invalid}": 400 for invalid in INVALID_CONF},
        "the rejected run": 404,
    }
    for invalid, answer in zip(INVALID_CONF, scenario.rejections, strict=True):
        assert next(iter(invalid)) in answer  # the answer names the offending param


def test_the_run_succeeds_and_sets_the_runbook_summary_as_its_note(scenario):
    assert scenario.run["state"] == "success", scenario.run
    assert scenario.run["conf"] == CONF
    # Set by the report task through the airflow_api connection the demo gives Airflow.
    assert scenario.run["note"] == (
        "payments-prod: plan 1.32 → 1.34 (2 hop(s)) — pre-flight passed, 0 warning(s); nothing changed"
    )


def test_the_ticket_is_told_once_how_the_run_ended_and_where_its_report_is(scenario):
    # The scenario waited for every ticket's notification; a second one for a ticket would be here by now.
    assert {posted["content_type"] for posted in scenario.demo.received} == {"application/json"}
    (ticket,) = scenario.ticket("CHG-1001")
    assert ticket.keys() == {"ticket_id", "dag_id", "run_id", "state", "summary", "report_url"}
    assert (ticket["ticket_id"], ticket["dag_id"], ticket["run_id"], ticket["state"]) == (
        "CHG-1001",
        "eks_cluster_upgrade",
        RUN_ID,
        "success",
    )
    assert ticket["summary"]
    report = Path(urlsplit(ticket["report_url"]).path)
    assert report == scenario.demo.state_dir / "airflow" / "reports" / "eks_cluster_upgrade" / RUN_ID / "report.md"
    assert report.is_file()


def test_the_ticket_summary_is_the_runs_note(scenario):
    assert scenario.ticket("CHG-1001")[0]["summary"] == scenario.run["note"]


def test_an_approved_upgrade_runs_once_the_answer_comes_through_the_rest_api(scenario):
    run_id = "ticket__CHG-1003"
    assert (scenario.triggered[run_id], scenario.answers[run_id]) == (200, 200)
    question = scenario.questions[run_id]
    assert question["subject"] == "Upgrade payments-prod to 1.34?"
    assert question["options"] == ["Approve", "Reject"] and "comment" in question["params"]
    run = scenario.approved_runs[run_id]
    assert run["state"] == "success", run
    assert run["note"].startswith("payments-prod: upgraded 1.32 → 1.34 in 2 hop(s)"), run["note"]
    (ticket,) = scenario.ticket("CHG-1003")
    assert (ticket["state"], ticket["summary"]) == ("success", run["note"])


def test_a_rejected_upgrade_fails_naming_who_rejected_it_and_why_and_the_ticket_is_told(scenario):
    run_id = "ticket__CHG-1004"
    assert (scenario.triggered[run_id], scenario.answers[run_id]) == (200, 200)
    run = scenario.approved_runs[run_id]
    assert run["state"] == "failed", run
    assert run["note"].startswith("edge-dev: FAILED at approve"), run["note"]
    assert "rejected by admin: not during the change freeze" in run["note"]
    (ticket,) = scenario.ticket("CHG-1004")
    assert (ticket["state"], ticket["summary"]) == ("failed", run["note"])
