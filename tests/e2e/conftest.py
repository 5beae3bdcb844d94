"""One distributed Airflow (``scripts/demo.py --distributed --serve-only``) for the end-to-end modules that use it.

PostgreSQL, Redis, the api-server, scheduler, dag-processor, triggerer and two Celery workers, as real processes,
wired to the demo fleet's sandbox, with a ticketing system's receiver on loopback. Starting it costs about a
minute of the machine's two cores, so it starts once per test session: every module that takes ``distributed``
is in the xdist group ``airflow-distributed`` (one pytest-xdist worker), and runs its scenarios on it one after
the other, in file order: the browser test plans an upgrade of payments-prod before the ticketing scenario
upgrades it, and the module that kills a worker sorts last (tests/e2e/test_worker_lost_during_nightly_audits.py).

At the end of the session the demo is stopped as a person would (Ctrl-C) and must leave nothing running.

Each test also keeps the report of each of its phases on its item (``item.rep_setup``, ``item.rep_call``),
pytest's documented way for a fixture to learn whether its test failed: the browser tests save screenshots then.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import assert_demo_stopped_cleanly, demo_output_until, serving_on_loopback, start_demo

#: The scheduler fails a running task instance without a heartbeat for this long (default 300 s): a lost worker
#: is noticed within a minute. A live task's supervisor heartbeats every second (the demo's [workers]
#: min_heartbeat_interval), so even a loaded machine keeps it far from that. A task queued on a lost worker's
#: prefetch is sent again after 3 minutes, not 10. No schedules: a session that crosses 02:00 or 03:00 UTC must
#: not get the audits' nightly runs beside the tests' own.
SCHEDULER_SETTINGS = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "180",
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
}
#: The sandbox, PostgreSQL, Redis, four Airflow services and two Celery workers: a process group each.
PROCESS_GROUPS = 9


@dataclass
class DistributedDemo:
    """The running demo: its URLs, the admin's password, its output so far and what the ticketing system got."""

    state_dir: Path
    process: subprocess.Popen
    output: str
    airflow_url: str
    password: str
    sandbox_url: str
    received: list[dict[str, Any]] = field(default_factory=list)

    def api(self) -> requests.Session:
        """A REST API session as the admin user."""
        session = requests.Session()
        token = session.post(
            f"{self.airflow_url}/auth/token", json={"username": "admin", "password": self.password}, timeout=30
        )
        session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        return session

    def ticket(self, ticket_id: str) -> list[dict[str, Any]]:
        """What the ticketing system received for ``ticket_id``."""
        return [posted["json"] for posted in self.received if posted["json"].get("ticket_id") == ticket_id]

    def process_group(self, name: str) -> int:
        """The process group the demo started ``name`` in (``airflow-worker-1``, ``postgres``…)."""
        found = re.search(rf"demo: started {re.escape(name)} \(pid \d+, process group (\d+)", self.output)
        assert found, self.output
        return int(found[1])


@pytest.fixture(scope="session")
def distributed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributedDemo]:
    state_dir = tmp_path_factory.mktemp("distributed")
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"content_type": self.headers["Content-Type"], "json": json.loads(body)})
            self.send_response(201)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            """Quiet: every request is in ``received``."""

    with serving_on_loopback(Receiver) as receiver_url:
        env = SCHEDULER_SETTINGS | {"AIRFLOW_CONN_TICKETING_DEFAULT": receiver_url}
        process = start_demo(state_dir, "--distributed", "--serve-only", env=env)
        output = demo_output_until(process, "Press Ctrl-C")
        try:
            login = re.search(r"airflow: UI on (\S+) \(user admin, password (\S+)\)", output)
            sandbox = re.search(r"sandbox: demo fleet served on (\S+)", output)
            assert login and sandbox and process.poll() is None, output
            demo = DistributedDemo(state_dir, process, output, *login.groups(), sandbox[1], received)
            yield demo
        finally:
            process.send_signal(signal.SIGINT)
            try:
                output += process.communicate(timeout=300)[0]
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output += process.communicate()[0]
            postgres = state_dir / "postgres"
            if postgres.is_symlink():  # the demo ran as root: its database lives under /var/lib/postgresql
                shutil.rmtree(postgres.resolve(), ignore_errors=True)
    assert_demo_stopped_cleanly(output, state_dir, groups=PROCESS_GROUPS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
