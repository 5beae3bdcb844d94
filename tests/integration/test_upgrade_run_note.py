"""Every eks_cluster_upgrade run gets its note, starting with the cluster's name — failed runs too."""

from __future__ import annotations

import pytest

from tests.helpers import REPO, fake_airflow_api


@pytest.fixture
def upgrade_dag(airflow_db, tmp_path, fast_dag_test, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", tmp_path.as_uri())
    monkeypatch.setenv("AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS", "0.2")
    return DagBag(str(REPO / "dags" / "eks_cluster_upgrade.py")).get_dag("eks_cluster_upgrade")


def notes_of(received) -> list[str]:
    return [body["note"] for method, _, body in received if method == "PATCH"]


@pytest.mark.parametrize(
    ("conf", "starts"),
    [
        ({"cluster_name": "payments-typo", "target_version": "1.33"}, "payments-typo: FAILED at plan"),
        ({"cluster_name": "payments-prod", "target_version": "1.33", "dryrun": False}, "payments-prod: FAILED"),
    ],
    ids=["unknown-cluster", "invalid-request"],
)
def test_a_failed_run_gets_a_note_naming_its_cluster_even_when_the_api_answers_500_first(
    demo_fleet, upgrade_dag, monkeypatch, conf, starts
):
    with fake_airflow_api(patch_statuses=[500]) as (url, received):
        monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", f"http://runbooks:secret@{url.removeprefix('http://')}")
        run = upgrade_dag.test(run_conf={"region": "us-east-1", **conf})

    assert run.state == "failed"
    first, retried = notes_of(received)
    assert first == retried
    assert retried.startswith(starts), retried
