"""Every runbook in dags/, run once by Airflow (`dag.test()`) on the demo fleet, each answer tied to the fleet's date.

These runs are also the year-ahead tier's proof (scripts/test runs them with the process clock a year ahead):
what they report depends on the simulated world's date and the runbooks' clock, never on the day they run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import REPO

DAG_FILES = sorted(path.stem for path in (REPO / "dags").glob("*.py"))


@pytest.fixture
def runbook(demo_fleet, airflow_db, fast_dag_test, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", tmp_path.as_uri())
    monkeypatch.setenv("AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS", "0.2")

    def load(dag_id: str):
        return DagBag(str(REPO / "dags" / f"{dag_id}.py")).get_dag(dag_id)

    return load


def inventory_counts_days_left_from_the_worlds_date(run) -> None:
    report = run.get_task_instance("report").xcom_pull(task_ids="report")
    # 2026-01-20 → 1.32 leaves standard support on 2026-03-23; 1.31 leaves extended support on 2026-11-26.
    assert "| payments-prod | us-east-1 | 1.32 | STANDARD_SUPPORT | 2026-03-23 | 62 |" in report
    assert "| analytics-staging | us-east-1 | 1.31 | EXTENDED_SUPPORT | 2026-11-26 | 310 |" in report


def upgrade_plans_two_hops_to_1_34_on_the_worlds_calendar(run) -> None:
    report = written_report(run)
    assert [(hop["from"], hop["to"]) for hop in report["plan"]["hops"]] == [("1.32", "1.33"), ("1.33", "1.34")]
    assert report["generated_at"].startswith("2026-01-20T")


def audit_judges_support_windows_on_the_worlds_date(run) -> None:
    report = written_report(run)
    support = {
        cluster["cluster"]: next(check for check in cluster["checks"] if check["id"] == "EKS-VERSION-SUPPORT")
        for cluster in report["clusters"]
    }
    assert (support["payments-prod"]["status"], support["payments-prod"]["detail"]) == (
        "PASS",
        "1.32 in standard support, 62 day(s) left",
    )
    assert support["analytics-staging"]["status"] == "WARN"
    assert support["analytics-staging"]["detail"].endswith("310 day(s) until EKS upgrades it")
    assert report["generated_at"].startswith("2026-01-20T")


def pod_identity_plan_judges_orders_prod_on_the_worlds_date(run) -> None:
    report = written_report(run)
    actions = {account["key"]: account["action"] for account in report["plan"]["service_accounts"]}
    assert actions and "migrate" in actions.values() and "stays on IRSA" in actions.values(), actions
    assert report["generated_at"].startswith("2026-01-20T")


def cost_audit_prices_support_on_the_worlds_date(run) -> None:
    report = written_report(run)
    clusters = {cluster["cluster"]: cluster for cluster in report["clusters"]}
    # 2026-01-20: 1.31 is in extended support (since 2025-11-26), 1.32 and 1.33 are not.
    assert clusters["analytics-staging"]["by_part"]["control_plane"] == "438.00"
    assert clusters["analytics-staging"]["extended_support"]["status"] == "running"
    assert clusters["payments-prod"]["by_part"]["control_plane"] == "73.00"
    assert clusters["payments-prod"]["extended_support"] is None
    assert report["generated_at"].startswith("2026-01-20T")


def bootstrap_conf() -> dict:
    """A new cluster in payments-prod's private subnets (their ids exist only once the demo fleet is loaded)."""
    import boto3

    subnets = boto3.client("ec2", region_name="us-east-1").describe_subnets(
        Filters=[{"Name": "tag:Name", "Values": ["private-a", "private-b"]}]
    )["Subnets"]
    return {
        "cluster_name": "payments-next",
        "region": "us-east-1",
        "subnet_ids": sorted(subnet["SubnetId"] for subnet in subnets),
        "admin_principal_arns": ["arn:aws:iam::123456789012:role/platform-admins"],
        "compute": [{"name": "general", "instance_types": ["m5.large"], "min": 2, "max": 4, "desired": 2}],
    }


def bootstrap_plan_picks_the_newest_version_in_standard_support_on_the_worlds_date(run) -> None:
    report = written_report(run)
    # 2026-01-20: 1.35 reaches EKS on 2026-01-27, so 1.34 is the newest version in standard support.
    assert report["preflight"]["resolved"]["version"] == "1.34"
    assert [call["operation"] for call in report["preflight"]["calls"]].count("CreateCluster") == 1
    assert report["generated_at"].startswith("2026-01-20T")


def written_report(run) -> dict:
    written = run.get_task_instance("report").xcom_pull(task_ids="report")
    return json.loads(Path(written["report_json"][7:]).read_text())


#: Each DAG in dags/: the conf of one run (plan mode where it would change a cluster) and what it must report.
RUNS = {
    "eks_cluster_upgrade": (
        {"cluster_name": "payments-prod", "region": "us-east-1", "target_version": "1.34"},
        upgrade_plans_two_hops_to_1_34_on_the_worlds_calendar,
    ),
    "eks_compliance_audit": (
        {"targets": [{"aws_conn_id": "aws_default", "regions": ["us-east-1"]}]},
        audit_judges_support_windows_on_the_worlds_date,
    ),
    "eks_cost_audit": (
        {"targets": [{"aws_conn_id": "aws_default", "regions": ["us-east-1"]}]},
        cost_audit_prices_support_on_the_worlds_date,
    ),
    "eks_fleet_inventory": ({"regions": ["us-east-1"]}, inventory_counts_days_left_from_the_worlds_date),
    "eks_cluster_bootstrap": (
        bootstrap_conf,
        bootstrap_plan_picks_the_newest_version_in_standard_support_on_the_worlds_date,
    ),
    "eks_pod_identity_migration": (
        {"cluster_name": "orders-prod", "region": "us-east-1"},
        pod_identity_plan_judges_orders_prod_on_the_worlds_date,
    ),
}


def test_every_dag_file_has_a_run_here():
    assert sorted(RUNS) == DAG_FILES


@pytest.mark.parametrize("dag_id", sorted(RUNS))
def test_every_dag_runs_on_the_demo_fleet_and_reports_for_the_worlds_date(runbook, dag_id):
    conf, expect = RUNS[dag_id]
    run = runbook(dag_id).test(run_conf=conf() if callable(conf) else conf)
    assert run.state == "success"
    expect(run)
