"""eks_fleet_inventory, run by Airflow (`dag.test()`) against the simulated demo fleet."""

from __future__ import annotations

import pytest

from tests.helpers import REPO


@pytest.fixture
def inventory_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(REPO / "dags" / "eks_fleet_inventory.py")).get_dag("eks_fleet_inventory")


def test_inventory_reports_every_cluster_of_the_chosen_regions(demo_fleet, inventory_dag):
    run = inventory_dag.test(run_conf={"regions": ["us-east-1", "us-west-2"]})
    assert run.state == "success"
    report = run.get_task_instance("report").xcom_pull(task_ids="report")
    rows = {line.split("|")[1].strip(): line for line in report.splitlines()[2:]}
    assert set(rows) == {"payments-prod", "analytics-staging", "orders-prod", "edge-dev"}
    assert "| 1.31 |" in rows["analytics-staging"] and "workers 1.31 (AL2)" in rows["analytics-staging"]
    assert "| 1.32 |" in rows["payments-prod"]


def test_inventory_rejects_a_malformed_region(demo_fleet, inventory_dag):
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError, match="regions"):
        inventory_dag.test(run_conf={"regions": ["us-east-1; rm -rf /"]})
