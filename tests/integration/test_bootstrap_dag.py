"""eks_cluster_bootstrap, run by Airflow (`dag.test()`) on the sandbox: a fresh VPC, then a cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.helpers import PLATFORM_ADMIN_ROLE_ARN, REPO, RUNBOOK_ROLE_ARN, WORLD_DATE, create_role

CLUSTER = "payments-eu"
REGION = "us-east-1"
ACCOUNT = "123456789012"
#: A fresh VPC: two private subnets in two zones (no route to an internet gateway), one public one.
FLEET = {
    "as_of": WORLD_DATE.isoformat(),
    "accounts": [
        {
            "id": ACCOUNT,
            "regions": {
                REGION: {
                    "network": {
                        "vpc_cidr": "10.60.0.0/16",
                        "subnets": [
                            {"name": "private-a", "az": "us-east-1a", "cidr": "10.60.0.0/19"},
                            {"name": "private-b", "az": "us-east-1b", "cidr": "10.60.32.0/19"},
                            {"name": "public-a", "az": "us-east-1a", "cidr": "10.60.96.0/24", "public": True},
                        ],
                    },
                    "clusters": [],
                }
            },
        }
    ],
}
GENERAL = {"name": "general", "instance_types": ["m5.large"], "min": 2, "max": 4, "desired": 2}
#: Every request key named: dag.test() keeps the last run's values for keys a later run leaves out.
BLANK = {
    "definition": None,
    "kubernetes_version": None,
    "endpoint": None,
    "public_access_cidrs": None,
    "kms_key_arn": None,
    "cluster_role_arn": None,
    "node_role_arn": None,
    "addons": None,
    "tags": None,
    "ticket_id": None,
    "require_approval": False,
    "teardown_on_failure": False,
}


@pytest.fixture
def network(sandbox) -> dict[str, str]:
    """The fresh VPC's subnets by name, and the principals the run names."""
    from eks_sandbox.fleet import load_fleet

    load_fleet(sandbox, FLEET)
    iam = boto3.client("iam")
    create_role(iam, "platform-admins")
    create_role(iam, "eks-runbooks")
    subnets = boto3.client("ec2", region_name=REGION).describe_subnets()["Subnets"]
    return {tag["Value"]: s["SubnetId"] for s in subnets for tag in s.get("Tags") or [] if tag["Key"] == "Name"}


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", tmp_path.as_uri())
    monkeypatch.setenv("AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS", "0.05")
    return tmp_path


@pytest.fixture
def bootstrap_dag(airflow_db, reports, fast_dag_test):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(REPO / "dags" / "eks_cluster_bootstrap.py")).get_dag("eks_cluster_bootstrap")


def run(dag, network: dict[str, str], **conf: Any):
    return dag.test(
        run_conf={
            **BLANK,
            "cluster_name": CLUSTER,
            "region": REGION,
            "subnet_ids": [network["private-a"], network["private-b"]],
            "admin_principal_arns": [PLATFORM_ADMIN_ROLE_ARN],
            "compute": [GENERAL],
            **conf,
        }
    )


def report_of(run) -> dict[str, Any]:
    written = run.get_task_instance("report").xcom_pull(task_ids="report")
    return json.loads(Path(written["report_json"].removeprefix("file://")).read_text())


def states_of(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_plan_mode_evaluates_every_gate_lists_the_requests_and_creates_nothing(bootstrap_dag, network, reports):
    iam_roles_before = {r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]}

    dag_run = run(bootstrap_dag, network, dry_run=True)

    assert dag_run.state == "success", states_of(dag_run)
    report = report_of(dag_run)
    statuses = {check["check_id"]: check["status"] for check in report["preflight"]["checks"]}
    assert statuses and all(status in ("PASS", "INFO", "SKIP") for status in statuses.values()), statuses
    operations = [call["operation"] for call in report["preflight"]["calls"]]
    assert operations.count("CreateCluster") == 1 and operations.count("CreateNodegroup") == 1
    written = dag_run.get_task_instance("report").xcom_pull(task_ids="report")
    assert "CreateCluster" in Path(written["report_markdown"].removeprefix("file://")).read_text()
    assert boto3.client("eks", region_name=REGION).list_clusters()["clusters"] == []
    assert {r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]} == iam_roles_before


def test_a_public_subnet_fails_the_preflight_naming_it_before_any_change(bootstrap_dag, network, reports):
    dag_run = run(bootstrap_dag, network, dry_run=False, subnet_ids=[network["private-a"], network["public-a"]])

    assert states_of(dag_run)["preflight"] == "failed"
    failure = report_of(dag_run)["failures"][0]
    assert failure["task"] == "preflight" and network["public-a"] in failure["message"]
    assert boto3.client("eks", region_name=REGION).list_clusters()["clusters"] == []


def test_a_real_run_builds_a_cluster_that_passes_the_compliance_baseline(bootstrap_dag, network, reports):
    dag_run = run(bootstrap_dag, network, dry_run=False)

    assert dag_run.state == "success", (states_of(dag_run), report_of(dag_run)["failures"])
    eks = boto3.client("eks", region_name=REGION)
    cluster = eks.describe_cluster(name=CLUSTER)["cluster"]
    assert cluster["status"] == "ACTIVE" and cluster["accessConfig"]["authenticationMode"] == "API"
    entries = set(eks.list_access_entries(clusterName=CLUSTER)["accessEntries"])
    node_role = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName="general")["nodegroup"]["nodeRole"]
    assert entries == {PLATFORM_ADMIN_ROLE_ARN, RUNBOOK_ROLE_ARN, node_role}
    report = report_of(dag_run)
    assert report["steps"]["baseline"]["result"]["failing"] == []
