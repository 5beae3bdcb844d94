"""eks_cluster_upgrade's shape, report, logs and ticket attempts, run by Airflow (`dag.test()`) on the demo fleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.helpers import REPO

CLUSTER = "payments-prod"
CLAIM_TAG = "eks-runbooks/claimed-by"


@pytest.fixture
def load_upgrade_dag(airflow_db, fast_dag_test, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", tmp_path.as_uri())
    monkeypatch.setenv("AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS", "0.2")
    return lambda: DagBag(str(REPO / "dags" / "eks_cluster_upgrade.py")).get_dag("eks_cluster_upgrade")


@pytest.fixture
def eks():
    return boto3.client("eks", region_name="us-east-1")


def upgrade(dag, **conf: Any):
    return dag.test(run_conf={"cluster_name": CLUSTER, "region": "us-east-1", **conf})


def written(run, key: str = "report_json") -> str:
    return Path(run.get_task_instance("report").xcom_pull(task_ids="report")[key][len("file://") :]).read_text()


def report_of(run) -> dict[str, Any]:
    return json.loads(written(run))


def states_of(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_a_plan_longer_than_the_dag_can_run_is_refused_at_the_plan_before_the_claim(
    demo_fleet, load_upgrade_dag, eks, monkeypatch
):
    from eks_runbooks.tasks import upgrade as upgrade_tasks

    monkeypatch.setattr(upgrade_tasks, "MAX_HOPS", 1)  # the DAG is built with one hop group
    dag = load_upgrade_dag()
    run = upgrade(dag, target_version="1.34", dry_run=False)

    assert run.state == "failed"
    assert eks.list_updates(name=CLUSTER)["updateIds"] == []
    assert CLAIM_TAG not in eks.describe_cluster(name=CLUSTER)["cluster"]["tags"]
    assert states_of(run)["claim_cluster"] == "upstream_failed"
    report = report_of(run)
    failure = report["failures"][0]
    assert failure["task"] == "plan"
    assert f"Cluster {CLUSTER}: upgrading 1.32 → 1.34 takes 2 hops" in failure["message"]
    assert "at most 1 in one run" in failure["message"] and "target_version 1.33 first" in failure["message"]
    assert "upgraded" not in report["summary"]


def test_plan_mode_skips_unused_hop_groups_whole_and_projects_each_hop_from_the_one_before(
    demo_fleet, load_upgrade_dag
):
    from eks_runbooks.tasks.upgrade import MAX_HOPS

    run = upgrade(load_upgrade_dag(), target_version="1.34")

    assert run.state == "success"
    states = states_of(run)
    assert MAX_HOPS > 2
    for number in range(3, MAX_HOPS + 1):
        group = {task_id: state for task_id, state in states.items() if task_id.startswith(f"hop_{number}.")}
        assert len(group) == 6 and set(group.values()) == {"skipped"}, group
    assert states["hop_1.preflight"] == states["hop_2.preflight"] == "success"
    report = report_of(run)
    second = report["plan"]["hops"][1]
    assert {action["action"] for action in second["nodegroups"]} == {"roll nodes 1.33 → 1.34"}
    page = written(run, "report_markdown")
    assert "batch — roll nodes 1.33 → 1.34" in page
    assert page.count("**EKS-CLUSTER-ACTIVE**") == 1  # a check that passed in both hops is listed once


def test_the_run_log_shows_the_plan_as_markdown_and_blocking_findings_with_their_evidence(
    demo_fleet, load_upgrade_dag, capfd
):
    from test_upgrade_dag import kubernetes, ledger_pdb

    kubernetes(patch=ledger_pdb(0))
    dag = load_upgrade_dag()
    capfd.readouterr()
    run = upgrade(dag, target_version="1.33")
    logged = capfd.readouterr().out  # the task logs, as dag.test() writes them

    assert run.state == "success"
    assert f"## Plan: {CLUSTER} (us-east-1) 1.32 → 1.33" in logged and "### Hop 1.32 → 1.33" in logged
    blocking = [line for line in logged.splitlines() if "[warning" in line and "K8S-PDB-BLOCKS-DRAIN" in line]
    assert blocking and "payments/ledger-api" in blocking[0]
    assert "load cache error" not in logged
    assert not [line for line in logged.splitlines() if line.startswith("20") and "[error" in line]


def test_a_real_upgrade_reports_every_node_group_it_rolled_and_when_each_step_ran(demo_fleet, load_upgrade_dag):
    run = upgrade(load_upgrade_dag(), target_version="1.33", dry_run=False)

    assert run.state == "success"
    report = report_of(run)
    (hop,) = report["hops"]
    steps = {step["step"]: step for step in hop["steps"]}
    assert "batch" in steps["nodegroups"]["result"]["summary"] and "general" in steps["nodegroups"]["result"]["summary"]
    for timed in [report, hop, *steps.values()]:
        assert timed["started_at"] <= timed["ended_at"] and timed["duration_seconds"] >= 0
    assert hop["started_at"] == steps["preflight"]["started_at"]
    assert hop["ended_at"] == steps["validate"]["ended_at"]
    assert report["started_at"] <= hop["started_at"] and report["ended_at"] >= hop["ended_at"]
    page = written(run, "report_markdown")
    assert "| step | state | started | ended | duration | result |" in page


def test_a_ticket_retried_after_a_failure_lists_every_attempt_in_its_report(demo_fleet, load_upgrade_dag):
    dag = load_upgrade_dag()
    failed = upgrade(dag, target_version="1.31", ticket_id="CHG-42")  # a downgrade: refused at the plan
    retried = upgrade(dag, target_version="1.33", ticket_id="CHG-42")
    other = upgrade(dag, target_version="1.33", ticket_id="CHG-43")

    assert (failed.state, retried.state) == ("failed", "success")
    attempts = report_of(retried)["ticket_attempts"]
    assert [(a["run_id"], a["state"]) for a in attempts] == [(failed.run_id, "failed"), (retried.run_id, "success")]
    assert "1.31 would be a downgrade" in attempts[0]["summary"]
    assert attempts[0]["report_markdown"].endswith("/report.md")
    assert [a["run_id"] for a in report_of(other)["ticket_attempts"]] == [other.run_id]
    assert f"`{failed.run_id}`" in written(retried, "report_markdown")
