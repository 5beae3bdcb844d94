"""The nightly audits' DAG shape with no work in it, for ``benchmark_airflow_tasks.py`` (copied into a throw-away
dags folder there; it is not a runbook).

``discover`` returns the run's ``width`` cluster refs in groups of ``batch``; ``audit`` maps one task instance over
each group (at most 16 at once, as the audits) and returns a result of about the size a cluster's compliance
result has in XCom; ``report`` pulls them all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

#: Checks per cluster result: about the size one cluster's compliance result has in XCom.
RESULT_CHECKS = 20


@dag(
    dag_id="noop_fleet",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["benchmark"],
    default_args={"owner": "platform", "retries": 0},
    params={"width": Param(20, type="integer", minimum=1), "batch": Param(1, type="integer", minimum=1)},
)
def noop_fleet() -> None:
    @task
    def discover() -> list[list[dict[str, str]]]:
        params = get_current_context()["params"]
        width, batch = params["width"], params["batch"]
        refs = [
            {"aws_conn_id": "aws_default", "region": "us-east-1", "cluster_name": f"c-{index:04d}"}
            for index in range(width)
        ]
        return [refs[start : start + batch] for start in range(0, width, batch)]

    @task(max_active_tis_per_dagrun=16)
    def audit(clusters: list[dict[str, str]]) -> list[dict[str, Any]]:
        return [
            {
                "cluster": ref["cluster_name"],
                "checks": [{"check": f"CHECK-{n:02d}", "status": "PASS", "detail": ""} for n in range(RESULT_CHECKS)],
            }
            for ref in clusters
        ]

    @task
    def report(results: list[list[dict[str, Any]]]) -> int:
        return sum(len(group) for group in results)

    report(audit.expand(clusters=discover()))


noop_fleet()
