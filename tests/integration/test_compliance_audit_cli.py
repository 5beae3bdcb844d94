"""The command a platform engineer types: `airflow dags test eks_compliance_audit` against a served sandbox."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.helpers import VENV_BIN, aws_connection_uri


def test_airflow_dags_test_writes_the_json_and_html_report(airflow_db, sandbox_process, tmp_path):
    env = os.environ | {
        "AIRFLOW_CONN_AWS_DEFAULT": aws_connection_uri(sandbox_process),
        "AWS_ENDPOINT_URL": sandbox_process,
        "AIRFLOW_VAR_EKS_REPORTS_BASE": tmp_path.as_uri(),
    }
    conf = {"targets": [{"aws_conn_id": "aws_default", "regions": ["us-east-1"]}]}
    finished = subprocess.run(
        [str(VENV_BIN / "airflow"), "dags", "test", "eks_compliance_audit", "-c", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]

    latest = tmp_path / "eks_compliance_audit" / "latest"
    report = json.loads((latest / "report.json").read_text())
    assert {cluster["cluster"] for cluster in report["clusters"]} == {
        "payments-prod",
        "analytics-staging",
        "orders-prod",
    }
    assert set(report) >= {"run_id", "generated_at", "clusters", "summary", "trend"}
    page = (latest / "report.html").read_text()
    assert "payments-prod" in page and "EKS-ENDPOINT-PUBLIC" in page
    assert list(Path(tmp_path / "eks_compliance_audit").glob("*/report.html")) != []
