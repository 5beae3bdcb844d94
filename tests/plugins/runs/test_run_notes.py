"""The DagRun note goes through Airflow's REST API; without a connection, nothing is attempted."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from eks_runbooks.runs.notes import api_base_url, set_dag_run_note
from tests.helpers import fake_airflow_api


@pytest.mark.parametrize(
    ("host", "schema", "port", "url"),
    [
        ("127.0.0.1", None, 8080, "http://127.0.0.1:8080"),
        ("http://airflow.internal:8080/", None, None, "http://airflow.internal:8080"),
        ("https://airflow.example.com", None, 443, "https://airflow.example.com:443"),
        ("airflow.example.com", "https", None, "https://airflow.example.com"),
    ],
)
def test_api_base_url_from_the_forms_an_http_connection_takes(host, schema, port, url):
    assert api_base_url(host, schema, port) == url


def test_note_is_patched_with_a_token_from_the_connection_user(airflow_db, monkeypatch):
    seen: list[tuple[str, str, dict, str | None]] = []

    class AirflowApi(BaseHTTPRequestHandler):
        def _answer(self, body: dict) -> None:
            data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.command, self.path, data, self.headers.get("Authorization")))
            self.send_response(201 if self.command == "POST" else 200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def do_POST(self) -> None:
            self._answer({"access_token": "jwt-1"})

        def do_PATCH(self) -> None:
            self._answer({"note": "ok"})

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), AirflowApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", f"http://notes:secret@127.0.0.1:{server.server_port}")
    try:
        assert set_dag_run_note("eks_cluster_upgrade", "ticket__CHG-1", "payments-prod: upgraded") is True
    finally:
        server.shutdown()

    (login, patch) = seen
    assert login[:3] == ("POST", "/auth/token", {"username": "notes", "password": "secret"})
    assert patch == (
        "PATCH",
        "/api/v2/dags/eks_cluster_upgrade/dagRuns/ticket__CHG-1?update_mask=note",
        {"note": "payments-prod: upgraded"},
        "Bearer jwt-1",
    )


def test_without_the_connection_nothing_is_sent(airflow_db, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_AIRFLOW_API", raising=False)
    assert set_dag_run_note("eks_cluster_upgrade", "run", "summary") is False


@pytest.fixture
def no_waiting(monkeypatch):
    """Back-off delays asked for, without sleeping them."""
    waits: list[float] = []
    monkeypatch.setattr("eks_runbooks.runs.notes.time.sleep", waits.append)
    return waits


def test_a_note_refused_with_500_under_load_is_retried_with_backoff(airflow_db, monkeypatch, no_waiting):
    with fake_airflow_api(patch_statuses=[500, 503]) as (url, received):
        monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", f"http://notes:secret@{url.removeprefix('http://')}")
        assert set_dag_run_note("eks_cluster_upgrade", "run", "payments-prod: upgraded") is True

    assert [method for method, _, _ in received] == ["POST", "PATCH", "POST", "PATCH", "POST", "PATCH"]
    assert len(no_waiting) == 2 and no_waiting[0] < no_waiting[1]


def test_a_note_the_api_keeps_refusing_is_logged_and_the_run_goes_on(airflow_db, monkeypatch, no_waiting, caplog):
    with fake_airflow_api(patch_statuses=[500] * 10) as (url, received):
        monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", f"http://notes:secret@{url.removeprefix('http://')}")
        assert set_dag_run_note("eks_cluster_upgrade", "run", "payments-prod: upgraded") is False

    assert [method for method, _, _ in received].count("PATCH") == len(no_waiting) + 1
    assert "payments-prod: upgraded" in caplog.text and "HTTP 500" in caplog.text


def test_a_note_refused_as_forbidden_is_not_retried(airflow_db, monkeypatch, no_waiting, caplog):
    with fake_airflow_api(patch_statuses=[403]) as (url, received):
        monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", f"http://notes:secret@{url.removeprefix('http://')}")
        assert set_dag_run_note("eks_cluster_upgrade", "run", "payments-prod: upgraded") is False

    assert [method for method, _, _ in received] == ["POST", "PATCH"]
    assert no_waiting == []
    assert "HTTP 403" in caplog.text


def test_without_the_connection_the_summary_is_logged(airflow_db, monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_AIRFLOW_API", raising=False)
    with caplog.at_level("INFO"):
        assert set_dag_run_note("eks_cluster_upgrade", "run", "payments-prod: upgraded") is False
    assert "airflow_api" in caplog.text and "payments-prod: upgraded" in caplog.text
