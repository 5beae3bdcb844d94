"""Write a run's one-line summary as its DagRun note (shown in the UI's run list and returned by the REST API).

Airflow 3 gives tasks no database access and its Execution API cannot set notes, so the note goes through
Airflow's public REST API, as any client would: ``POST /auth/token`` with the login and password of the HTTP
connection ``airflow_api`` (host = the API server's URL), then ``PATCH /api/v2/dags/{dag}/dagRuns/{run}``.
Give that connection a user allowed to edit DAG runs and nothing more. A busy API server's 5xx answers are
retried with back-off. Without the connection, or when the API server keeps refusing, the summary is logged
and stays in the report; the run's outcome never depends on its note.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import quote

log = logging.getLogger(__name__)

AIRFLOW_API_CONN_ID = "airflow_api"
TIMEOUT_SECONDS = 10.0
#: Seconds to wait before each retry of a note the API server could not take (about a minute in all).
RETRY_DELAYS = (2.0, 4.0, 8.0, 16.0, 30.0)
#: The DagRun note column holds at most 1000 characters.
MAX_NOTE = 1000


def api_base_url(host: str, schema: str | None, port: int | None) -> str:
    """The API server's URL from an HTTP connection: ``host`` may carry the scheme (and port) or not."""
    host = host.rstrip("/")
    if "://" not in host:
        host = f"{schema or 'http'}://{host}"
    if port and host.count(":") == 1:
        host = f"{host}:{port}"
    return host


def set_dag_run_note(dag_id: str, run_id: str, note: str, *, conn_id: str = AIRFLOW_API_CONN_ID) -> bool:
    """Set the note of one DAG run; True when set. Never raises: a note is not worth failing a runbook.

    An API server under load answers 5xx (SQLite: "database is locked") or drops the connection: those are
    retried after ``RETRY_DELAYS`` seconds; any other refusal (401, 403, 404) is a configuration to fix and is
    logged at once. Whatever happens, the note's text is in the log and in the run's report.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("No connection %r: the DagRun note is not set (summary: %s)", conn_id, note)
        return False
    base = api_base_url(connection.host or "", connection.schema, connection.port)
    for delay in (*RETRY_DELAYS, None):
        problem, retry = _patch_note(base, connection.login, connection.password, dag_id, run_id, note)
        if problem is None:
            return True
        if not retry or delay is None:
            break
        log.info("Setting the note of run %s: %s; trying again in %.0f s", run_id, problem, delay)
        time.sleep(delay)
    log.warning("Could not set the note of run %s via %r (%s); the note was: %s", run_id, conn_id, problem, note)
    return False


def _patch_note(
    base: str, login: str | None, password: str | None, dag_id: str, run_id: str, note: str
) -> tuple[str | None, bool]:
    """One attempt: (None, False) when set, else (what went wrong, whether it is worth retrying)."""
    import requests

    try:
        token = requests.post(
            f"{base}/auth/token", json={"username": login, "password": password}, timeout=TIMEOUT_SECONDS
        )
        if token.status_code >= 400:
            return f"login answered HTTP {token.status_code}", _transient(token.status_code)
        response = requests.patch(
            f"{base}/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}",
            params={"update_mask": "note"},
            json={"note": note[:MAX_NOTE]},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as error:
        return type(error).__name__, True
    except (KeyError, ValueError) as error:
        return f"unexpected login answer ({type(error).__name__})", False
    if response.status_code >= 400:
        return f"HTTP {response.status_code}", _transient(response.status_code)
    return None, False


def _transient(status: int) -> bool:
    return status >= 500 or status == 429
