"""What every mutating runbook's report task shares: the failures and times its tasks left, the ticket's
attempts, the run's note, and where the report is written (``<reports base>/<runbook>/<run id>/``).

Each runbook assembles its own report document; ``publish_run_report`` does the rest the same way for all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

    from eks_runbooks.runs.reports import ReportLocation

log = logging.getLogger(__name__)

#: XCom of a failed task: its error, for the run's report.
FAILURE_KEY = "failure"
#: XCom of every task of the run: when it started and ended (Airflow's clock, as the grid shows it).
TIMING_KEY = "timing"


def mutating_dag_settings(
    report_url: Callable[[Context], str], summary: Callable[[Context], str | None]
) -> dict[str, Any]:
    """The ``@dag`` settings every runbook that changes clusters shares: two retries 20 s apart, each task's
    error and times kept for the report, and the ticket told how the run ended (``ticketing_default``)."""
    from datetime import timedelta

    from eks_runbooks.notifiers.ticketing import TicketingNotifier

    return {
        "default_args": {
            "owner": "platform",
            "retries": 2,
            "retry_delay": timedelta(seconds=20),
            "on_failure_callback": remember_failure,
            "on_success_callback": remember_timing,
        },
        "on_success_callback": TicketingNotifier(report_url=report_url, summary=summary),
        "on_failure_callback": TicketingNotifier(report_url=report_url, summary=summary),
    }


def remember_failure(context: Context) -> None:
    """Task failure callback: keep the error and the task's times for the run's report (read from XCom)."""
    error = context.get("exception")
    if error is not None:
        context["ti"].xcom_push(key=FAILURE_KEY, value=f"{type(error).__name__}: {error}"[:4000])
    remember_timing(context)


def remember_timing(context: Context) -> None:
    """Task success (and failure) callback: when the task started (its first start, deferrals included) and
    ended, for the run's report."""
    ti = context["ti"]
    started = getattr(ti, "start_date", None)
    ti.xcom_push(
        key=TIMING_KEY,
        value={"started_at": started.isoformat() if started else None, "ended_at": datetime.now(UTC).isoformat()},
    )


def task_states(context: Context) -> dict[str, str]:
    """The state of every other task of the run, by task id, in the DAG's task order."""
    ti = context["ti"]
    task_ids = [task_id for task_id in context["dag"].task_ids if task_id != ti.task_id]
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=task_ids).get(ti.run_id, {})
    return {task_id: states[task_id] for task_id in task_ids if task_id in states}


def failures_of(context: Context, states: Mapping[str, str]) -> list[dict[str, str]]:
    """The run's failed tasks with the error each kept (``remember_failure``): those with a message first (the
    summary quotes the first), then those that ended without one (a killed worker)."""
    ti = context["ti"]
    failed = [task_id for task_id, state in states.items() if state == "failed"]
    messages = {task_id: ti.xcom_pull(task_ids=task_id, key=FAILURE_KEY) for task_id in failed}
    return [{"task": task_id, "message": messages[task_id]} for task_id in failed if messages[task_id] is not None] + [
        {"task": task_id, "message": "failed (no message recorded; see the task log)"}
        for task_id in failed
        if messages[task_id] is None
    ]


@dataclass(frozen=True)
class RunbookReports:
    """Where one runbook's run reports are: ``<eks_reports_base>/<runbook>/<run id>/`` (``report.json``,
    ``report.md``), and what the ticketing notifier reads from them."""

    runbook: str

    def location(self, context: Context) -> ReportLocation:
        from eks_runbooks.runs.reports import ReportLocation, reports_base

        return ReportLocation(reports_base(), self.runbook, context.get("run_id") or context["dag_run"].run_id)

    def url_of(self, context: Context) -> str:
        """The URL of the run's Markdown report."""
        return self.location(context).url("report.md")

    def summary_of(self, context: Context) -> str | None:
        """The summary the run's report holds; None when there is no report."""
        from eks_runbooks.runs.reports import read_report

        written = read_report(self.location(context).url("report.json"))
        return json.loads(written)["summary"] if written else None


def record_ticket_attempt(
    location: ReportLocation, ticket_id: str, report: Mapping[str, Any], aws_conn_id: str
) -> list[dict[str, Any]]:
    """Add this run to the attempts of its ticket (``<reports base>/<runbook>/tickets/<id>.json``) and return
    them all, oldest first: a ticket retried after a failure keeps every attempt in view, whatever run ids the
    ticketing system chose."""
    from eks_runbooks.runs.reports import read_report, ticket_file_url, write_report_file

    url = ticket_file_url(location.base, location.runbook, ticket_id)
    try:
        earlier = json.loads(read_report(url, aws_conn_id=aws_conn_id) or b"[]")
    except ValueError:
        log.warning("The attempts of ticket %s at %s are not JSON; starting them again from this run", ticket_id, url)
        earlier = []
    state = "failed" if report["failures"] else "rejected" if report.get("rejected_by") else "success"
    this = {
        "run_id": report["run_id"],
        "state": state,
        "summary": report["summary"],
        "generated_at": report["generated_at"],
        "report_markdown": location.url("report.md"),
    }
    attempts = [attempt for attempt in earlier if attempt.get("run_id") != this["run_id"]] + [this]
    write_report_file(url, json.dumps(attempts, indent=2) + "\n", aws_conn_id=aws_conn_id)
    return attempts


def publish_run_report(
    context: Context,
    report: dict[str, Any],
    location: ReportLocation,
    files_of: Callable[[Mapping[str, Any]], dict[str, str]],
) -> dict[str, Any]:
    """Set the run's note, record the ticket's attempt, write the report's files; return where they are.

    The note comes first: a run whose report store is unreachable still says how it ended.
    """
    from eks_runbooks.runs.notes import set_dag_run_note
    from eks_runbooks.runs.reports import write_report

    request = report.get("request") or {}
    aws_conn_id = request.get("aws_conn_id", "aws_default")
    set_dag_run_note(context["ti"].dag_id, context["ti"].run_id, report["summary"])
    if request.get("ticket_id"):
        report["ticket_attempts"] = record_ticket_attempt(location, request["ticket_id"], report, aws_conn_id)
    urls = write_report(location, files_of(report), aws_conn_id=aws_conn_id)
    log.info("%s — report: %s", report["summary"], urls[-1])
    return {"summary": report["summary"], "report_json": urls[0], "report_markdown": urls[-1]}
