"""The README's main-job command, for real: sandbox + `airflow standalone`, the upgrade run, a clean stop."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers import assert_demo_stopped_cleanly, demo_output_until, start_demo

pytestmark = pytest.mark.e2e


def printed(label: str, output: str) -> str:
    """The rest of the demo's output line that starts with ``label: ``."""
    found = re.search(rf"^{label}: (.+)$", output, re.MULTILINE)
    assert found, output
    return found[1]


def test_demo_upgrades_payments_prod_through_airflow_and_stops_cleanly(tmp_path):
    process = start_demo(tmp_path, "--exit-after-run")
    output, _ = process.communicate(timeout=280)

    assert process.returncode == 0, output
    run_id = re.search(r"^eks_cluster_upgrade run (ticket__DEMO-[\d-]+) finished: success$", output, re.MULTILINE)
    assert run_id, output
    summary = printed("summary", output)
    assert summary == "payments-prod: upgraded 1.32 → 1.34 in 2 hop(s); 0 pre-flight warning(s)"
    report_dir = tmp_path / "airflow" / "reports" / "eks_cluster_upgrade" / run_id[1]
    markdown, report_json = (Path(urlsplit(printed(label, output)).path) for label in ("report", "report JSON"))
    assert (markdown, report_json) == (report_dir / "report.md", report_dir / "report.json")
    assert "1.34" in markdown.read_text()
    report = json.loads(report_json.read_text())
    assert report["summary"] == summary
    assert report["request"]["dry_run"] is False
    assert report["request"]["ticket_id"] == run_id[1].removeprefix("ticket__")
    assert [step["state"] for hop in report["hops"] for step in hop["steps"]] == ["success"] * 12
    # What AWS (the sandbox) reports once the run ended, read by the demo before it stopped the sandbox.
    versions = printed("sandbox says", output)
    assert versions.startswith("payments-prod runs Kubernetes 1.34 (node groups: "), output
    assert sorted(re.findall(r"(\w+) (1\.\d+)", versions.split("node groups: ")[1])) == [
        ("batch", "1.34"),
        ("general", "1.34"),
    ]
    # The demo's ticketing receiver printed what the runbook told the ticket when the run ended.
    update = json.loads(printed("ticket update", output))
    assert update["ticket_id"] == report["request"]["ticket_id"] and update["run_id"] == run_id[1]
    assert (update["dag_id"], update["state"], update["summary"]) == ("eks_cluster_upgrade", "success", summary)
    assert Path(urlsplit(update["report_url"]).path) == markdown
    assert_demo_stopped_cleanly(output, tmp_path)


def test_ctrl_c_while_airflow_starts_stops_everything(tmp_path):
    process = start_demo(tmp_path)
    started = demo_output_until(process, "started airflow")
    time.sleep(3)  # standalone is now spawning its scheduler, dag-processor, triggerer and api-server
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    output = started + rest
    assert process.returncode == 0, output
    assert_demo_stopped_cleanly(output, tmp_path)
