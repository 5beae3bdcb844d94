"""TicketingNotifier: a run started for a ticket tells the ticketing system how it ended, and never fails for it.

The runs are real (``dag.test()`` of a tiny DAG, which invokes DAG-level callbacks in Airflow 3.3 with the
same kind of context the DAG processor builds); the ticketing system is a local HTTP receiver.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog

from eks_runbooks.notifiers.ticketing import TicketingNotifier
from eks_runbooks.runs.reports import ReportLocation

PASSWORD = "tk-s3cr3t-password"
API_KEY = "tk-api-key-header-value"


class TicketingReceiver:
    """A ticketing system on 127.0.0.1: records each request; answers ``status`` after ``delay`` seconds."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
                time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TicketingReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[TicketingReceiver]:
    """The receiver, registered as the ``ticketing_default`` connection (basic auth and an API-key header)."""
    with TicketingReceiver() as running:
        connection = {
            "conn_type": "http",
            "host": running.url,
            "login": "airflow",
            "password": PASSWORD,
            "extra": {"X-Api-Key": API_KEY},
        }
        monkeypatch.setenv("AIRFLOW_CONN_TICKETING_DEFAULT", json.dumps(connection))
        yield running


def run_tiny_runbook(dag_id: str, notifier: TicketingNotifier, conf: dict | None, fail: bool = False):
    """Run a one-task runbook with ``notifier`` as both DAG callbacks."""
    from airflow.sdk import DAG, Param, task

    with DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        doc_md="A runbook small enough for a test.",
        tags=["test"],
        default_args={"owner": "platform", "retries": 0},
        params={"ticket_id": Param(None, type=["null", "string"])},
        on_success_callback=notifier,
        on_failure_callback=notifier,
    ) as dag:

        @task
        def report() -> None:
            if fail:
                raise RuntimeError("the control plane update failed")

        report()

    register_in_metadata_db(dag)
    return dag.test(run_conf=conf)


def register_in_metadata_db(dag) -> None:
    """Serialise a DAG defined outside the DAGs folder, as the DAG processor would: ``dag.test()`` needs it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()
    with create_session() as session:
        update_dag_parsing_results_in_db(
            "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )


def post_context(
    dag_id: str = "tiny_upgrade", run_id: str = "manual__2026-11-21T10:00:00+00:00", **dag_run: Any
) -> dict:
    """The context a DAG callback gets, reduced to what the notifier reads, for calls outside a run."""
    from types import SimpleNamespace

    from airflow.sdk import DAG

    fields = {"dag_id": dag_id, "run_id": run_id, "state": "success", "conf": {"ticket_id": "OPS-1"}, "note": None}
    return {"dag": DAG(dag_id, schedule=None), "run_id": run_id, "dag_run": SimpleNamespace(**fields | dag_run)}


def messages(logs: list[dict]) -> str:
    return "\n".join(f"{entry['log_level']}: {entry['event']}" for entry in logs)


def report_url_of_run(context) -> str:
    return ReportLocation("s3://ops-reports", context["dag"].dag_id, context["run_id"]).url("report.md")


def test_successful_run_posts_ticket_state_summary_and_report_url(airflow_db, receiver: TicketingReceiver):
    notifier = TicketingNotifier(endpoint="/hooks/airflow", report_url=report_url_of_run)

    with structlog.testing.capture_logs() as logs:
        run = run_tiny_runbook("tiny_upgrade_ok", notifier, conf={"ticket_id": "OPS-1"})

    assert run.state == "success"
    (request,) = receiver.requests
    assert request["path"] == "/hooks/airflow"
    assert request["json"] == {
        "ticket_id": "OPS-1",
        "dag_id": "tiny_upgrade_ok",
        "run_id": run.run_id,
        "state": "success",
        "summary": f"tiny_upgrade_ok run {run.run_id} finished: success",
        "report_url": ReportLocation("s3://ops-reports", "tiny_upgrade_ok", run.run_id).url("report.md"),
    }
    assert request["headers"]["X-Api-Key"] == API_KEY
    assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(f"airflow:{PASSWORD}".encode()).decode()
    assert PASSWORD not in messages(logs) and API_KEY not in messages(logs)


def test_failed_run_posts_failed_state(airflow_db, receiver: TicketingReceiver):
    run = run_tiny_runbook("tiny_upgrade_fails", TicketingNotifier(), conf={"ticket_id": "OPS-2"}, fail=True)

    assert run.state == "failed"
    (request,) = receiver.requests
    assert request["path"] == "/"
    assert request["json"]["ticket_id"] == "OPS-2"
    assert request["json"]["state"] == "failed"
    assert request["json"]["summary"] == f"tiny_upgrade_fails run {run.run_id} finished: failed"
    assert request["json"]["report_url"] is None


def test_report_url_is_read_from_the_report_tasks_xcom(receiver: TicketingReceiver):
    pulled = []

    class TaskInstance:
        def xcom_pull(self, task_ids: str, key: str) -> str:
            pulled.append((task_ids, key))
            return "s3://ops-reports/eks_compliance_audit/latest/report.html"

    TicketingNotifier(report_task_id="write_report")(post_context() | {"ti": TaskInstance()})

    assert pulled == [("write_report", "report_url")]
    assert receiver.requests[0]["json"]["report_url"] == "s3://ops-reports/eks_compliance_audit/latest/report.html"


def test_report_url_that_cannot_be_read_is_left_out_and_the_ticket_still_told(receiver: TicketingReceiver):
    def broken(_context):
        raise KeyError("run_id")

    with structlog.testing.capture_logs() as logs:
        TicketingNotifier(report_url=broken)(post_context())

    assert receiver.requests[0]["json"]["report_url"] is None
    assert "No report URL for the ticket (KeyError)" in messages(logs)


def test_run_without_ticket_id_posts_nothing(airflow_db, receiver: TicketingReceiver):
    run = run_tiny_runbook("tiny_upgrade_no_ticket", TicketingNotifier(), conf=None)

    assert run.state == "success"
    assert receiver.requests == []


def test_dag_run_note_is_the_summary(receiver: TicketingReceiver):
    context = post_context(note="Upgraded payments-prod 1.31 → 1.33 in 2 hops; report in S3")

    TicketingNotifier()(context)

    assert receiver.requests[0]["json"]["summary"] == "Upgraded payments-prod 1.31 → 1.33 in 2 hops; report in S3"


def test_summary_from_the_runbook_wins_over_the_note_which_dag_callbacks_do_not_load(receiver: TicketingReceiver):
    context = post_context(note=None)

    TicketingNotifier(summary=lambda _context: "payments-prod: upgraded 1.32 → 1.34 in 2 hop(s)")(context)

    assert receiver.requests[0]["json"]["summary"] == "payments-prod: upgraded 1.32 → 1.34 in 2 hop(s)"


def test_ticketing_error_is_one_warning_with_the_status_and_never_raises(receiver: TicketingReceiver):
    receiver.status = 500

    with structlog.testing.capture_logs() as logs:
        TicketingNotifier()(post_context())

    assert len(receiver.requests) == 1
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1 and "HTTP 500" in warnings[0]["event"] and "OPS-1" in warnings[0]["event"]
    assert PASSWORD not in messages(logs) and API_KEY not in messages(logs)


def test_ticketing_timeout_is_a_warning_not_an_error(receiver: TicketingReceiver):
    receiver.delay = 1.0

    with structlog.testing.capture_logs() as logs:
        started = time.monotonic()
        TicketingNotifier(timeout=0.2)(post_context())

    assert time.monotonic() - started < 1.0
    assert [entry["log_level"] for entry in logs if "Ticket notification" in entry["event"]] == ["warning"]
    assert "Timeout" in messages(logs)


def test_ticketing_system_down_is_a_warning_not_an_error(receiver: TicketingReceiver):
    receiver.__exit__()

    with structlog.testing.capture_logs() as logs:
        TicketingNotifier()(post_context())

    assert "ConnectionError" in messages(logs) and PASSWORD not in messages(logs)


def test_missing_connection_sends_nothing_and_logs_one_line(
    receiver: TicketingReceiver, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("AIRFLOW_CONN_TICKETING_DEFAULT")

    with structlog.testing.capture_logs() as logs:
        TicketingNotifier()(post_context())

    assert receiver.requests == []
    assert [entry["event"] for entry in logs] == ["No connection 'ticketing_default': ticket OPS-1 is not notified"]


def test_connection_id_is_configurable(receiver: TicketingReceiver, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AIRFLOW_CONN_SERVICENOW", json.dumps({"conn_type": "http", "host": receiver.url}))
    monkeypatch.delenv("AIRFLOW_CONN_TICKETING_DEFAULT")

    TicketingNotifier(http_conn_id="servicenow", endpoint="/api/now")(post_context())

    assert receiver.requests[0]["path"] == "/api/now"
