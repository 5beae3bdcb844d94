"""The audit's report task: latest/ only from full runs, failed cluster tasks and lost alerts in the report, one
connection for reading and writing reports."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import boto3
import pytest

from eks_runbooks.tasks.audit import AuditRun, write_audit_report
from tests.helpers import aws_connection_uri

EDGE = {"aws_conn_id": "aws_default", "region": "us-west-2", "cluster_name": "edge-dev"}
PAYMENTS = {"aws_conn_id": "aws_default", "region": "us-east-1", "cluster_name": "payments-prod"}


def result(ref: dict, **statuses: str) -> dict:
    return {
        "cluster": ref["cluster_name"],
        "region": ref["region"],
        "account": "123456789012",
        "version": "1.33",
        "aws_conn_id": ref["aws_conn_id"],
        "checks": [
            {"id": check.replace("_", "-"), "status": status, "severity": "HIGH", "detail": "d", "objects": []}
            for check, status in statuses.items()
        ],
    }


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db) -> Path:
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", tmp_path.as_uri())
    monkeypatch.delenv("AIRFLOW_VAR_EKS_COMPLIANCE_SNS_TOPIC", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_TICKETING_DEFAULT", raising=False)
    return tmp_path / "eks_compliance_audit"


def written(summary: dict) -> dict:
    return json.loads(Path(summary["report_json"].removeprefix("file://")).read_text())


def test_a_filtered_run_leaves_latest_to_the_full_run_and_the_next_full_run_announces_nothing_old(reports):
    both = [PAYMENTS, EDGE]
    write_audit_report(
        AuditRun("r1", discovered=both), [result(PAYMENTS, EKS_TAGS="FAIL"), result(EDGE, EKS_TAGS="FAIL")]
    )
    filtered = write_audit_report(
        AuditRun("r2", cluster_names=["edge-dev"], discovered=[EDGE]), [result(EDGE, EKS_TAGS="PASS")]
    )
    assert written(filtered)["scope"] == {"cluster_names": ["edge-dev"], "checks": [], "replaces_latest": False}
    assert json.loads((reports / "latest" / "report.json").read_text())["run_id"] == "r1"

    full = written(
        write_audit_report(
            AuditRun("r3", discovered=both), [result(PAYMENTS, EKS_TAGS="FAIL"), result(EDGE, EKS_TAGS="FAIL")]
        )
    )
    assert full["trend"]["previous_run_id"] == "r1"
    assert full["trend"]["new_failures"] == [] and full["notifications"] == []
    assert json.loads((reports / "latest" / "report.json").read_text())["run_id"] == "r3"


def test_a_cluster_whose_audit_task_failed_is_in_the_report_as_error(reports, caplog):
    summary = write_audit_report(
        AuditRun("r1", checks=["EKS-TAGS"], discovered=[PAYMENTS, EDGE]), [result(PAYMENTS, EKS_TAGS="PASS")]
    )
    edge = next(c for c in written(summary)["clusters"] if c["cluster"] == "edge-dev")
    assert [(c["id"], c["status"]) for c in edge["checks"]] == [("EKS-TAGS", "ERROR")]
    assert "audit task of this cluster failed" in edge["checks"][0]["detail"]
    assert "Cluster edge-dev (aws_default, us-west-2): the audit task of this cluster failed" in caplog.text
    assert "1 ERROR" in summary["summary"]


def test_a_cluster_whose_audit_raised_in_its_batch_is_error_with_the_cause(reports):
    failed = [{**EDGE, "error": "MemoryError: reading edge-dev"}]
    summary = write_audit_report(
        AuditRun("r1", checks=["EKS-TAGS"], discovered=[PAYMENTS, EDGE], failed=failed),
        [result(PAYMENTS, EKS_TAGS="PASS")],
    )
    edge = next(c for c in written(summary)["clusters"] if c["cluster"] == "edge-dev")
    assert edge["checks"][0]["status"] == "ERROR"
    assert "the audit of this cluster failed: MemoryError: reading edge-dev" in edge["checks"][0]["detail"]


def test_a_lost_alert_is_recorded_in_the_report_the_page_and_the_log(reports, monkeypatch, caplog):
    class Down(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"queue full")

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Down)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_TICKETING_DEFAULT", f"http://127.0.0.1:{server.server_port}")
    try:
        write_audit_report(AuditRun("r1", discovered=[EDGE]), [result(EDGE, EKS_TAGS="PASS")])
        summary = write_audit_report(AuditRun("r2", discovered=[EDGE]), [result(EDGE, EKS_TAGS="FAIL")])
    finally:
        server.shutdown()
    lost = {"channel": "ticketing_default", "status": "failed", "reason": "HTTP 500: queue full"}
    assert written(summary)["notifications"] == [lost]
    assert "ticketing_default: failed — HTTP 500: queue full" in Path(summary["report_html"][7:]).read_text()
    assert "NOT sent to ticketing_default" in caplog.text
    assert "notification failed: ticketing_default" in summary["summary"]


def test_reports_are_read_and_written_through_the_report_connection(sandbox, airflow_db, monkeypatch):
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="audit-reports")
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", "s3://audit-reports/eks")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_REPORTS", aws_connection_uri(os.environ["AWS_ENDPOINT_URL"]))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", "aws://broken:broken@/?endpoint_url=http%3A%2F%2F127.0.0.1%3A9")
    monkeypatch.delenv("AIRFLOW_CONN_TICKETING_DEFAULT", raising=False)

    run = {"discovered": [EDGE], "report_aws_conn_id": "aws_reports"}
    write_audit_report(AuditRun("r1", **run), [result(EDGE, EKS_TAGS="PASS")])
    summary = write_audit_report(AuditRun("r2", **run), [result(EDGE, EKS_TAGS="FAIL")])

    s3 = boto3.client("s3", region_name="us-east-1")
    report = json.loads(
        s3.get_object(Bucket="audit-reports", Key="eks/eks_compliance_audit/latest/report.json")["Body"].read()
    )
    assert summary["report_json"] == "s3://audit-reports/eks/eks_compliance_audit/r2/report.json"
    assert report["trend"]["previous_run_id"] == "r1"
    assert [(f["cluster"], f["check"]) for f in report["trend"]["new_failures"]] == [("edge-dev", "EKS-TAGS")]


def test_the_run_note_carries_the_counts_and_the_new_failures(reports, monkeypatch):
    import eks_runbooks.runs.notes

    notes: list[tuple[str, str, str]] = []
    monkeypatch.setattr(eks_runbooks.runs.notes, "set_dag_run_note", lambda *args, **_: notes.append(args) or True)
    write_audit_report(AuditRun("r1", discovered=[EDGE]), [result(EDGE, EKS_TAGS="PASS", EKS_IMDSV2="FAIL")])
    write_audit_report(AuditRun("r2", discovered=[EDGE]), [result(EDGE, EKS_TAGS="FAIL", EKS_IMDSV2="FAIL")])

    dag_id, run_id, note = notes[-1]
    assert (dag_id, run_id) == ("eks_compliance_audit", "r2")
    assert note.startswith("Compliance audit: 1 cluster(s): 2 FAIL; 1 new failure(s) (edge-dev EKS-TAGS); 0 resolved")
