"""Write a run's one-line summary as its DagRun note (shown in the UI's run list and returned by the REST API).

Airflow 3 gives tasks no database access and its Execution API cannot set notes, so the note goes through
Airflow's public REST API, as any client would: ``POST /auth/token`` with the login and password of the HTTP
connection ``airflow_api`` (host = the API server's URL), then ``PATCH /api/v2/dags/{dag}/dagRuns/{run}``.
Give that connection a user allowed to edit DAG runs and nothing more. Without the connection the summary
is only logged and written in the report.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

log = logging.getLogger(__name__)

AIRFLOW_API_CONN_ID = "airflow_api"
TIMEOUT_SECONDS = 10.0
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
    """Set the note of one DAG run; True when set. Never raises: a note is not worth failing a runbook."""
    import requests
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("No connection %r: the DagRun note is not set (summary: %s)", conn_id, note)
        return False
    base = api_base_url(connection.host or "", connection.schema, connection.port)
    try:
        token = requests.post(
            f"{base}/auth/token",
            json={"username": connection.login, "password": connection.password},
            timeout=TIMEOUT_SECONDS,
        )
        token.raise_for_status()
        response = requests.patch(
            f"{base}/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}",
            params={"update_mask": "note"},
            json={"note": note[:MAX_NOTE]},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=TIMEOUT_SECONDS,
        )
        response.raise_for_status()
    except (requests.RequestException, KeyError, ValueError) as error:
        log.warning("Could not set the note of run %s via %r (%s)", run_id, conn_id, type(error).__name__)
        return False
    return True
