"""eks_cluster_upgrade, run by Airflow (`dag.test()`) against the simulated demo fleet."""

from __future__ import annotations

import boto3
import pytest

from tests.helpers import REPO


@pytest.fixture
def upgrade_dag(airflow_db, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", tmp_path.as_uri())
    monkeypatch.setenv("AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS", "0.2")
    return DagBag(str(REPO / "dags" / "eks_cluster_upgrade.py")).get_dag("eks_cluster_upgrade")


def test_plan_mode_changes_nothing(demo_fleet, upgrade_dag):
    run = upgrade_dag.test(run_conf={"cluster_name": "payments-prod", "region": "us-east-1", "target_version": "1.34"})
    assert run.state == "success"
    eks = boto3.client("eks", region_name="us-east-1")
    assert eks.describe_cluster(name="payments-prod")["cluster"]["version"] == "1.32"
    print(run.get_task_instance("report").xcom_pull(task_ids="report"))


def test_two_hop_upgrade_moves_everything_and_kube_proxy_after_the_nodes(demo_fleet, upgrade_dag):
    run = upgrade_dag.test(
        run_conf={"cluster_name": "payments-prod", "region": "us-east-1", "target_version": "1.34", "dry_run": False}
    )
    print(run.get_task_instance("report").xcom_pull(task_ids="report"))
    assert run.state == "success"
