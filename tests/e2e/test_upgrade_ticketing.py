"""A ticketing system drives eks_cluster_upgrade through Airflow's REST API and hears back how the run ended.

Real processes: the demo's sandbox and `airflow standalone` (``scripts/demo.py --serve-only``), whose
``ticketing_default`` connection points at an HTTP receiver in this test. One scenario runs once per module;
each test checks one part of it.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.helpers import assert_demo_stopped_cleanly, demo_output_until, start_demo

pytestmark = pytest.mark.e2e

RUN_ID = "ticket__CHG-1001"
CONF = {
    "cluster_name": "payments-prod",
    "region": "us-east-1",
    "target_version": "1.34",
    "dry_run": True,
    "ticket_id": "CHG-1001",
}
INVALID_CONF = [{"target_version": "1.3x"}, {"nodegroup_parallelism": 0}]


@dataclass
class Scenario:
    """What the ticketing system saw, what Airflow did, and what the demo printed."""

    state_dir: Path
    statuses: dict[str, int] = field(default_factory=dict)
    rejections: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    output: str = ""


@contextmanager
def ticketing_receiver(received: list[dict[str, Any]]) -> Iterator[str]:
    """A ticketing system's HTTP endpoint on loopback that appends each POST to ``received``; yields its URL."""

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"content_type": self.headers["Content-Type"], "json": json.loads(body)})
            self.send_response(201)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            """Quiet: every request is in ``received``."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Trigger a ticketed run as a ticketing system would, wait for it and its notification, stop Airflow."""
    seen = Scenario(state_dir=tmp_path_factory.mktemp("ticketing"))
    with ticketing_receiver(seen.received) as receiver_url:
        demo = start_demo(seen.state_dir, "--serve-only", env={"AIRFLOW_CONN_TICKETING_DEFAULT": receiver_url})
        seen.output = demo_output_until(demo, "Press Ctrl-C")
        try:
            login = re.search(r"airflow: UI on (\S+) \(user admin, password (\S+)\)", seen.output)
            assert login and demo.poll() is None, seen.output
            act_as_ticketing_system(seen, demo, *login.groups())
        finally:
            demo.send_signal(signal.SIGINT)
            seen.output += demo.communicate(timeout=120)[0]
    return seen


def act_as_ticketing_system(seen: Scenario, demo: subprocess.Popen, airflow_url: str, password: str) -> None:
    """Log in, trigger the ticket's run (twice), try invalid conf, then wait for the run and the notification."""
    api = requests.Session()
    token = api.post(f"{airflow_url}/auth/token", json={"username": "admin", "password": password}, timeout=30)
    api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    runs_url = f"{airflow_url}/api/v2/dags/eks_cluster_upgrade/dagRuns"
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

    seen.run = wait_for(ended, "the run to end", demo, timeout=180)
    # The DAG processor runs the run's callbacks a little after the run ended.
    wait_for(lambda: seen.received, "the ticket notification", demo, timeout=60)


def wait_for(condition: Callable[[], Any], what: str, demo: subprocess.Popen, timeout: float) -> Any:
    """``condition()`` once it is truthy; fails when the demo exits or ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert demo.poll() is None, f"the demo exited while waiting for {what}"
        if result := condition():
            return result
        time.sleep(1)
    pytest.fail(f"gave up waiting for {what} after {timeout:.0f} s")


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
    assert_demo_stopped_cleanly(scenario.output, scenario.state_dir)


def test_the_ticket_is_told_once_how_the_run_ended_and_where_its_report_is(scenario):
    # Airflow has stopped: every notification it was going to send has been received.
    assert len(scenario.received) == 1, scenario.received
    assert scenario.received[0]["content_type"] == "application/json"
    ticket = scenario.received[0]["json"]
    assert ticket.keys() == {"ticket_id", "dag_id", "run_id", "state", "summary", "report_url"}
    assert (ticket["ticket_id"], ticket["dag_id"], ticket["run_id"], ticket["state"]) == (
        "CHG-1001",
        "eks_cluster_upgrade",
        RUN_ID,
        "success",
    )
    assert ticket["summary"]
    report = Path(urlsplit(ticket["report_url"]).path)
    assert report == scenario.state_dir / "airflow" / "reports" / "eks_cluster_upgrade" / RUN_ID / "report.md"
    assert report.is_file()


def test_the_ticket_summary_is_the_runs_note(scenario):
    assert scenario.received[0]["json"]["summary"] == scenario.run["note"]
