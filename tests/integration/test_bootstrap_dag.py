"""eks_cluster_bootstrap, run by Airflow (`dag.test()`) on the sandbox: a fresh VPC, then a cluster."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.helpers import (
    PLATFORM_ADMIN_ROLE_ARN,
    REPO,
    RUNBOOK_ROLE_ARN,
    WORLD_DATE,
    assumed_role_credentials,
    create_role,
    eks_token,
)

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


def test_a_real_run_builds_a_cluster_that_passes_the_compliance_baseline(bootstrap_dag, network, reports, sandbox):
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
    # the admin principal's kubectl works; a principal without an access entry is refused
    assert kube_status(sandbox, PLATFORM_ADMIN_ROLE_ARN, "/api/v1/namespaces/kube-system/pods") == 200
    create_role(boto3.client("iam"), "fleet-provisioner")
    assert kube_status(sandbox, f"arn:aws:iam::{ACCOUNT}:role/fleet-provisioner", "/api/v1/namespaces") == 401


def kube_status(sandbox, role_arn: str, path: str) -> int:
    """What the new cluster's API server answers ``role_arn`` (kubectl's token, as ``aws eks get-token`` mints it)."""
    endpoint = boto3.client("eks", region_name=REGION).describe_cluster(name=CLUSTER)["cluster"]["endpoint"]
    token = eks_token(CLUSTER, sandbox.base_url, assumed_role_credentials(sandbox.base_url, role_arn), REGION)
    request = urllib.request.Request(endpoint + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, context=sandbox.tls.client_context()) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _one_zone(network: dict[str, str]) -> dict[str, Any]:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.describe_subnets(SubnetIds=[network["private-a"]])["Subnets"][0]["VpcId"]
    second = ec2.create_subnet(VpcId=vpc, CidrBlock="10.60.64.0/19", AvailabilityZone="us-east-1a")["Subnet"]
    return {"subnet_ids": [network["private-a"], second["SubnetId"]]}


def _name_taken(network: dict[str, str]) -> dict[str, Any]:
    role = create_role(boto3.client("iam"), "payments-eu-cluster-role", "eks.amazonaws.com")
    boto3.client("eks", region_name=REGION).create_cluster(
        name=CLUSTER, roleArn=role, resourcesVpcConfig={"subnetIds": [network["private-a"], network["private-b"]]}
    )
    return {}


#: Wrong inputs, the task that refuses them, and what its message must name.
WRONG_INPUTS = {
    "a public subnet": (lambda n: {"subnet_ids": [n["private-a"], n["public-a"]]}, "preflight", "public-a"),
    "one zone": (_one_zone, "preflight", "BOOT-SUBNETS-TWO-AZS"),
    "an endpoint open to all": (
        lambda n: {"endpoint": "public_restricted", "public_access_cidrs": ["0.0.0.0/0"]},
        "validate_request",
        "public_access_cidrs: 0.0.0.0/0",
    ),
    "no admin principal": (lambda n: {"admin_principal_arns": []}, "validate_request", "admin_principal_arns"),
    "an unsupported version": (lambda n: {"kubernetes_version": "1.28"}, "preflight", "BOOT-VERSION-SUPPORTED"),
    "a name that exists": (_name_taken, "preflight", "BOOT-NAME-FREE"),
}


@pytest.mark.parametrize("case", sorted(WRONG_INPUTS))
def test_wrong_inputs_fail_before_any_change_naming_the_input(bootstrap_dag, network, reports, case):
    change, task, named = WRONG_INPUTS[case]
    conf = change(network)
    clusters_before = boto3.client("eks", region_name=REGION).list_clusters()["clusters"]
    roles_before = {r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]}

    dag_run = run(bootstrap_dag, network, dry_run=False, **conf)

    states = states_of(dag_run)
    assert dag_run.state == "failed" and states[task] == "failed", states
    assert all(states[step] != "success" for step in ("identity", "control_plane")), states
    failure = report_of(dag_run)["failures"][0]
    named_value = network.get(named, named)
    assert failure["task"] == task and named_value in failure["message"], failure
    assert boto3.client("eks", region_name=REGION).list_clusters()["clusters"] == clusters_before
    assert {r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]} == roles_before


def test_nodes_that_cannot_join_stop_the_run_at_compute_and_the_teardown_keeps_the_protected_cluster(
    bootstrap_dag, network, reports, sandbox
):
    sandbox.faults.add_from_dict({"kind": "nodegroup_creation_failure", "cluster": CLUSTER, "nodegroup": "general"})

    dag_run = run(bootstrap_dag, network, dry_run=False, teardown_on_failure=True)

    states = states_of(dag_run)
    assert dag_run.state == "failed", states
    assert states["compute"] == "failed" and states["addons_after_compute"] != "success", states
    report = report_of(dag_run)
    problems = report["steps"]["compute"]["result"]["gate"]["problems"]
    # the node group's health issue as EKS gives it, naming both instances that failed to join
    assert len(problems) == 1 and re.fullmatch(
        r"nodegroup/general is CREATE_FAILED — NodeCreationFailure: Instances failed to join the kubernetes cluster "
        r"\(i-[0-9a-f]+, i-[0-9a-f]+\)",
        problems[0],
    ), problems
    assert report["failures"][0]["task"] == "compute" and "NodeCreationFailure" in report["summary"]
    teardown = report["steps"]["teardown_on_failure"]["result"]
    assert any("general" in what for what in teardown["removed"]), teardown
    assert any("deletion protection" in line for line in teardown["instructions"]), teardown
    eks = boto3.client("eks", region_name=REGION)
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["deletionProtection"] is True
    assert eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"] in ([], ["general"])  # deleted, or deleting


def test_a_second_run_of_a_finished_bootstrap_changes_nothing(bootstrap_dag, network, reports):
    first = run(bootstrap_dag, network, dry_run=False)
    assert first.state == "success", states_of(first)
    eks = boto3.client("eks", region_name=REGION)
    tags = eks.describe_cluster(name=CLUSTER)["cluster"]["tags"]
    assert tags["eks-runbooks/bootstrap-completed"] == first.run_id

    again = run(bootstrap_dag, network, dry_run=False)

    assert again.state == "failed" and states_of(again)["preflight"] == "failed"
    assert "already built this cluster" in report_of(again)["failures"][0]["message"]
