"""What each runbook really does on the sandbox, against the access it ships and the README recommends.

Each test runs one runbook with every feature that needs access of its own (the upgrade for real, with its
reports in S3 and a ticket to tell; the audit across two accounts, with its reports in S3 and an SNS alert; the
bootstrap for real, and twice failing with its teardown) and records every AWS request (who, which action, which
resource) and every Kubernetes request it made. Then:

- each AWS call its role made is allowed by ``include/iam/<dag id>.json`` (action, resource ARN, conditions);
- each action of that policy was used, or is listed in ``NOT_EXERCISED`` with the reason the sandbox cannot;
- the Airflow worker's own credentials did nothing but assume the connections' roles;
- each Kubernetes request is granted by the EKS access policy the README recommends for the runbook.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml

from tests.helpers import PLATFORM_ADMIN_ROLE_ARN, REPO, RUNBOOK_ROLE_ARN, aws_connection_uri, ticketing_system
from tests.iam_policy import BASE_CREDENTIALS, AwsCallRecorder, as_list, is_allowed, load_policy, wildcard_match

AUDIT_ROLE_ARN = "arn:aws:iam::210987654321:role/fleet-audit"  # the audit's role in the demo fleet's 2nd account
BUCKET = "platform-reports"
S3_LIST_BUCKET = (
    "S3 answers a read of a missing report 404 only to who may list the bucket (403 otherwise); "
    "the sandbox (moto) answers 404 to everyone, so no request names this action"
)
#: Per runbook, policy actions no run on the sandbox can use, with the reason; every other action must be used.
NOT_EXERCISED = {
    "eks_cluster_upgrade": {"s3:ListBucket": S3_LIST_BUCKET},
    "eks_compliance_audit": {"s3:ListBucket": S3_LIST_BUCKET},
    "eks_cost_audit": {"s3:ListBucket": S3_LIST_BUCKET},
    "eks_pod_identity_migration": {"s3:ListBucket": S3_LIST_BUCKET},
    "eks_cluster_bootstrap": {
        "ec2:DescribeLaunchTemplates": "read only when a create meets a template of the planned name (a resumed "
        "run checks it is its own); every run here starts afresh",
    },
}


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> AwsCallRecorder:
    return AwsCallRecorder().install(monkeypatch)


@pytest.fixture
def kube_requests(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every Kubernetes API request the sandbox answered: cluster, method, path, query and the user it ran as."""
    from eks_sandbox.kube.api import USER_ENVIRON_KEY
    from eks_sandbox.server import SandboxDispatcher

    recorded: list[dict[str, Any]] = []
    original = SandboxDispatcher._kubernetes

    def recording(dispatcher: Any, cluster: Any, environ: dict[str, Any], start_response: Any) -> Any:
        body = original(dispatcher, cluster, environ, start_response)
        user = environ.get(USER_ENVIRON_KEY)
        recorded.append(
            {
                "cluster": cluster.name,
                "method": environ["REQUEST_METHOD"],
                "path": environ.get("PATH_INFO", ""),
                "query": environ.get("QUERY_STRING", ""),
                "user": getattr(user, "username", None),
            }
        )
        return body

    monkeypatch.setattr(SandboxDispatcher, "_kubernetes", recording)
    return recorded


@pytest.fixture
def s3_reports(demo_fleet, monkeypatch: pytest.MonkeyPatch) -> str:
    """Reports in an S3 bucket of the runbooks' account (made by the platform team, not by the runbooks)."""
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", f"s3://{BUCKET}/nightly")
    return BUCKET


@pytest.fixture
def ticketing(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A ticketing system on loopback (connection ``ticketing_default``): what it was told."""
    with ticketing_system(status=204) as (url, received):
        monkeypatch.setenv("AIRFLOW_CONN_TICKETING_DEFAULT", json.dumps({"conn_type": "http", "host": url}))
        yield received


def dag_of(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(REPO / "dags" / f"{dag_id}.py")).get_dag(dag_id)


def assert_calls_fit_the_policy(dag_id: str, calls: AwsCallRecorder, roles: list[str]) -> None:
    policy = load_policy(REPO / "include" / "iam" / f"{dag_id}.json")
    made = calls.by(roles)
    assert made, f"{dag_id} made no AWS call as {roles}"
    refused = sorted({call.describe() for call in made if not is_allowed(policy, call)})
    assert not refused, f"{dag_id}: calls its IAM policy does not allow:\n" + "\n".join(refused)
    unused = sorted(
        action
        for statement in policy["Statement"]
        for action in as_list(statement["Action"])
        if action not in NOT_EXERCISED.get(dag_id, {})
        and not any(wildcard_match(action, c.action, False) for c in made)
    )
    assert not unused, f"{dag_id}: policy actions no call used (remove them, or say why in NOT_EXERCISED): {unused}"
    worker = sorted({c.describe() for c in calls.by([BASE_CREDENTIALS]) if c.action != "sts:AssumeRole"})
    assert not worker, f"{dag_id} acted with the worker's own credentials, not a connection's role: {worker}"
    assumed = {c.resource for c in calls.by([BASE_CREDENTIALS])}
    assert assumed <= set(roles), f"{dag_id} assumed roles no connection names: {sorted(assumed - set(roles))}"


def readme_access_policies(dag_id: str) -> list[str]:
    """The EKS access policies README.md ("Access the runbooks need") tells users to associate for ``dag_id``."""
    readme = (REPO / "README.md").read_text()
    row = re.search(rf"^\| `{dag_id}` \|.*\| ((?:`\w+`(?: \+ )?)+|none) \|$", readme, re.MULTILINE)
    assert row, f"README.md has no access row for {dag_id}"
    return re.findall(r"`(\w+)`", row[1])


#: What a runbook that writes to Kubernetes may change (rollout restarts, IRSA annotations), and the edit role
#: grants: patches of workloads and service accounts.
WRITABLE = re.compile(
    r"^/(apis/apps/v1|api/v1)/namespaces/[^/]+/(deployments|statefulsets|daemonsets|serviceaccounts)/"
)


def assert_kubernetes_access_is_what_the_readme_recommends(dag_id: str, requests: list[dict[str, Any]]) -> None:
    policies = readme_access_policies(dag_id)
    if not policies:
        assert not requests, f"README.md says {dag_id} needs no Kubernetes access, yet it made {requests[:3]}"
        return
    if "AmazonEKSClusterAdminPolicy" in policies:
        # Only the bootstrap has it, and only on the cluster it builds, from its own access step: it creates the
        # cluster without creator admin, then smoke-tests workloads in a namespace of its own.
        assert requests, f"README.md recommends cluster admin for {dag_id}, which made no Kubernetes request"
        return
    catalogue = yaml.safe_load((REPO / "include" / "eks" / "access-policies.yaml").read_text())["policies"]
    granted = {
        verb
        for p in policies
        for rule in catalogue[p].get("rules", [])
        if "resources" in rule
        for verb in rule["verbs"]
    }
    assert requests, f"{dag_id} made no Kubernetes request"
    writes = [f"{r['method']} {r['path']} on {r['cluster']}" for r in requests if r["method"] not in ("GET", "HEAD")]
    if "AmazonEKSEditPolicy" in policies:
        assert writes, f"README.md recommends AmazonEKSEditPolicy for {dag_id}, but it changed nothing in Kubernetes"
        outside = [w for w in writes if not w.startswith("PATCH ") or not WRITABLE.match(w.split(" ")[1])]
        assert not outside, f"{dag_id} wrote beyond rollout restarts and service-account annotations: {outside}"
    else:
        assert not writes, f"{dag_id} wrote to Kubernetes, which {policies} do not allow: {writes}"
    reads = {"watch" if re.search(r"(^|&)watch=(1|true)", r["query"]) else "get/list" for r in requests}
    assert {"get", "list"} <= granted and ("watch" not in reads or "watch" in granted), (policies, granted, reads)
    # Why not AmazonEKSViewPolicy: the view role reads no Secrets (Helm releases), no RBAC objects and no nodes.
    beyond_view = [
        r["path"]
        for r in requests
        if re.search(r"/secrets|/apis/rbac\.authorization\.k8s\.io/|/api/v1/nodes", r["path"])
    ]
    assert beyond_view, f"README.md recommends {policies} for {dag_id}, but the view policy would do"


def test_an_upgrade_with_s3_reports_and_a_ticket_needs_no_more_than_its_policy_and_admin_view(
    airflow_db, fast_dag_test, s3_reports, ticketing, aws_calls, kube_requests, monkeypatch
):
    from eks_runbooks.runs.reports import safe_path_segment

    monkeypatch.setenv("AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS", "0.2")
    conf = {"cluster_name": "payments-prod", "region": "us-east-1", "target_version": "1.33"}
    aws_calls.clear()
    run = dag_of("eks_cluster_upgrade").test(run_conf={**conf, "dry_run": False, "ticket_id": "CHG-7"})

    assert run.state == "success"
    written = [c.resource for c in aws_calls.by([RUNBOOK_ROLE_ARN]) if c.action == "s3:PutObject"]
    folder = f"arn:aws:s3:::{BUCKET}/nightly/eks_cluster_upgrade/{safe_path_segment(run.run_id)}/"
    assert {folder + "report.json", folder + "report.md"} <= set(written), written
    assert [told["ticket_id"] for told in ticketing] == ["CHG-7"]
    assert_calls_fit_the_policy("eks_cluster_upgrade", aws_calls, [RUNBOOK_ROLE_ARN])
    assert_kubernetes_access_is_what_the_readme_recommends("eks_cluster_upgrade", kube_requests)


def test_an_audit_of_two_accounts_with_s3_reports_and_an_sns_alert_needs_no_more_than_its_policy(
    airflow_db, fast_dag_test, demo_fleet, s3_reports, aws_calls, kube_requests, monkeypatch
):
    topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="eks-audit-alerts")["TopicArn"]
    monkeypatch.setenv("AIRFLOW_VAR_EKS_COMPLIANCE_SNS_TOPIC", topic)
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_ML_PLATFORM", aws_connection_uri(os.environ["AWS_ENDPOINT_URL"], "eu-west-1", AUDIT_ROLE_ARN)
    )
    targets = [
        {"aws_conn_id": "aws_default", "regions": ["us-east-1", "us-west-2"]},
        {"aws_conn_id": "aws_ml_platform", "regions": ["eu-west-1"]},
    ]
    monkeypatch.setenv("AIRFLOW_VAR_EKS_FLEET", json.dumps(targets))
    audit = dag_of("eks_compliance_audit")
    aws_calls.clear()
    first_night = audit.test(run_conf={"targets": targets})  # the baseline: nothing is new on a first night
    # Someone opens payments-prod's endpoint to the internet: the next night's audit has a new HIGH failure.
    # That change is theirs, not the runbook's: its calls are not held against the runbook's policy.
    recorded = len(aws_calls.calls)
    boto3.client("eks", region_name="us-east-1").update_cluster_config(
        name="payments-prod",
        resourcesVpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
    )
    demo_fleet.settle()
    del aws_calls.calls[recorded:]
    second_night = audit.test(run_conf={"targets": targets})

    assert (first_night.state, second_night.state) == ("success", "success")
    published = [c for c in aws_calls.by([RUNBOOK_ROLE_ARN]) if c.action == "sns:Publish"]
    assert [c.resource for c in published] == [topic], "the second night's new failure was not published"
    assert any(c.action == "s3:PutObject" and "/eks_compliance_audit/latest/" in c.resource for c in aws_calls.calls)
    assert {c.account for c in aws_calls.by([AUDIT_ROLE_ARN])} == {"210987654321"}
    assert_calls_fit_the_policy("eks_compliance_audit", aws_calls, [RUNBOOK_ROLE_ARN, AUDIT_ROLE_ARN])
    assert_kubernetes_access_is_what_the_readme_recommends("eks_compliance_audit", kube_requests)


def test_a_cost_audit_of_two_accounts_with_s3_reports_and_an_sns_alert_needs_no_more_than_its_policy(
    airflow_db, fast_dag_test, demo_fleet, s3_reports, aws_calls, kube_requests, monkeypatch
):
    topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="eks-cost-alerts")["TopicArn"]
    monkeypatch.setenv("AIRFLOW_VAR_EKS_COST_SNS_TOPIC", topic)
    monkeypatch.setenv("AIRFLOW_VAR_EKS_COST_ALERT_THRESHOLD_PERCENT", "1")
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_ML_PLATFORM", aws_connection_uri(os.environ["AWS_ENDPOINT_URL"], "eu-west-1", AUDIT_ROLE_ARN)
    )
    targets = [
        {"aws_conn_id": "aws_default", "regions": ["us-east-1", "us-west-2"]},
        {"aws_conn_id": "aws_ml_platform", "regions": ["eu-west-1"]},
    ]
    monkeypatch.setenv("AIRFLOW_VAR_EKS_FLEET", json.dumps(targets))
    # payments-prod's AWS Load Balancer Controller made a load balancer for it (tagged with the cluster's name)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    subnets = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": ["private-a", "private-b"]}])["Subnets"]
    boto3.client("elbv2", region_name="us-east-1").create_load_balancer(
        Name="k8s-payments-ledger",
        Subnets=[subnet["SubnetId"] for subnet in subnets],
        Type="network",
        Scheme="internal",
        Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": "payments-prod"}],
    )
    audit = dag_of("eks_cost_audit")
    aws_calls.clear()
    first_night = audit.test(run_conf={"targets": targets, "cluster_names": None})  # the baseline
    # The payments team scales its general node group from 3 to 5 nodes: the fleet's monthly cost rises past 1 %.
    recorded = len(aws_calls.calls)
    boto3.client("eks", region_name="us-east-1").update_nodegroup_config(
        clusterName="payments-prod", nodegroupName="general", scalingConfig={"desiredSize": 5, "maxSize": 5}
    )
    demo_fleet.settle()
    del aws_calls.calls[recorded:]
    second_night = audit.test(run_conf={"targets": targets, "cluster_names": None})

    assert (first_night.state, second_night.state) == ("success", "success")
    published = [c for c in aws_calls.by([RUNBOOK_ROLE_ARN]) if c.action == "sns:Publish"]
    assert [c.resource for c in published] == [topic], "the second night's rise was not published"
    assert any(c.action == "s3:PutObject" and "/eks_cost_audit/latest/" in c.resource for c in aws_calls.calls)
    assert {c.account for c in aws_calls.by([AUDIT_ROLE_ARN])} == {"210987654321"}
    assert_calls_fit_the_policy("eks_cost_audit", aws_calls, [RUNBOOK_ROLE_ARN, AUDIT_ROLE_ARN])
    assert_kubernetes_access_is_what_the_readme_recommends("eks_cost_audit", kube_requests)


def test_the_inventory_needs_no_more_than_its_read_only_policy_and_no_kubernetes_access(
    airflow_db, demo_fleet, aws_calls, kube_requests
):
    aws_calls.clear()
    run = dag_of("eks_fleet_inventory").test(run_conf={"regions": ["us-east-1", "us-west-2"]})

    assert run.state == "success"
    assert_calls_fit_the_policy("eks_fleet_inventory", aws_calls, [RUNBOOK_ROLE_ARN])
    assert_kubernetes_access_is_what_the_readme_recommends("eks_fleet_inventory", kube_requests)


def test_a_pod_identity_migration_needs_no_more_than_its_policy_admin_view_and_edit(
    airflow_db, fast_dag_test, demo_fleet, s3_reports, ticketing, aws_calls, kube_requests, monkeypatch
):
    from eks_sandbox.fleet import load_fleet
    from tests.integration.test_pod_identity_migration_dag import CLUSTER, FLEET, REGION, irsa_addon, irsa_roles

    load_fleet(demo_fleet, FLEET)
    irsa_roles()
    irsa_addon(demo_fleet)
    monkeypatch.setenv("AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS", "0.2")
    aws_calls.clear()
    dag = dag_of("eks_pod_identity_migration")
    migrated = dag.test(run_conf={"cluster_name": CLUSTER, "region": REGION, "dry_run": False, "ticket_id": "CHG-9"})
    rolled_back = dag.test(
        run_conf={"cluster_name": CLUSTER, "region": REGION, "dry_run": False, "phase": "rollback", "ticket_id": None}
    )

    assert (migrated.state, rolled_back.state) == ("success", "success")
    assert [told["ticket_id"] for told in ticketing] == ["CHG-9"]
    assert_calls_fit_the_policy("eks_pod_identity_migration", aws_calls, [RUNBOOK_ROLE_ARN])
    assert_kubernetes_access_is_what_the_readme_recommends("eks_pod_identity_migration", kube_requests)


@pytest.fixture
def bootstrap_network(sandbox) -> dict[str, str]:
    """A fresh VPC (test_bootstrap_dag's), its subnets by name; the admins' and the runbook's roles."""
    from eks_sandbox.fleet import load_fleet
    from tests.helpers import create_role
    from tests.integration.test_bootstrap_dag import FLEET, REGION

    load_fleet(sandbox, FLEET)
    for name in ("platform-admins", "eks-runbooks"):
        create_role(boto3.client("iam"), name)
    subnets = boto3.client("ec2", region_name=REGION).describe_subnets()["Subnets"]
    return {tag["Value"]: s["SubnetId"] for s in subnets for tag in s.get("Tags") or [] if tag["Key"] == "Name"}


@pytest.fixture
def bootstrap_reports(sandbox, monkeypatch: pytest.MonkeyPatch) -> str:
    """The bootstrap's reports in an S3 bucket of the runbooks' account, its gates polled quickly."""
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", f"s3://{BUCKET}/builds")
    monkeypatch.setenv("AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS", "0.05")
    return BUCKET


def failing_bootstrap_with_teardown(dag, network: dict[str, str], sandbox, cluster: str, fault: dict[str, Any], **conf):
    """A bootstrap of ``cluster`` whose step meets ``fault`` (an AccessDeniedException, not retried here), with
    teardown_on_failure: the teardown removes what the run made before it."""
    from tests.integration.test_bootstrap_dag import run

    sandbox.faults.add_from_dict({"error": "AccessDeniedException", "service": "eks", **fault})
    for task in dag.tasks:
        task.retries = 0
    return run(dag, network, dry_run=False, teardown_on_failure=True, cluster_name=cluster, **conf)


def test_a_bootstrap_and_its_teardowns_need_no_more_than_its_policy_and_the_admin_it_grants_itself(
    airflow_db, fast_dag_test, sandbox, bootstrap_network, bootstrap_reports, aws_calls, kube_requests
):
    from eks_runbooks.runs.reports import safe_path_segment
    from tests.integration.test_bootstrap_dag import CLUSTER, run, states_of

    subnets = bootstrap_network
    admin_user = boto3.client("iam").create_user(UserName="platform-oncall")["User"]["Arn"]
    dag = dag_of("eks_cluster_bootstrap")
    aws_calls.clear()
    built = run(dag, subnets, dry_run=False)
    # Fails after its node group and first add-ons: the teardown removes them, its access entries and templates.
    after_compute = failing_bootstrap_with_teardown(
        dag, subnets, sandbox, "payments-eu-b", {"operation": "CreateAddon", "match": {"addonName": "coredns"}}
    )
    # Fails at the control plane: the teardown deletes the roles and the key it made (no cluster uses them).
    at_control_plane = failing_bootstrap_with_teardown(
        dag,
        subnets,
        sandbox,
        "payments-eu-c",
        {"operation": "CreateCluster"},
        admin_principal_arns=[PLATFORM_ADMIN_ROLE_ARN, admin_user],
    )

    assert set(states_of(built).values()) <= {"success", "skipped"}, states_of(built)
    for failed, step in ((after_compute, "addons_after_compute"), (at_control_plane, "control_plane")):
        states = states_of(failed)
        assert (states[step], states["teardown_on_failure"]) == ("failed", "success"), states
    removed = {c.action for c in aws_calls.by([RUNBOOK_ROLE_ARN]) if c.action.split(":")[1].startswith("Delete")}
    assert {"eks:DeleteNodegroup", "ec2:DeleteLaunchTemplate", "iam:DeleteRole", "kms:DeleteAlias"} <= removed
    written = [c.resource for c in aws_calls.by([RUNBOOK_ROLE_ARN]) if c.action == "s3:PutObject"]
    assert any(f"/builds/eks_cluster_bootstrap/{safe_path_segment(built.run_id)}/report.json" in w for w in written)
    assert_calls_fit_the_policy("eks_cluster_bootstrap", aws_calls, [RUNBOOK_ROLE_ARN])
    # The access the README says the runbook needs in Kubernetes is the access its own run grants it.
    own_entry = f"/role/{RUNBOOK_ROLE_ARN.split(':')[4]}/{RUNBOOK_ROLE_ARN.rsplit('/', 1)[1]}/"
    granted = {
        c.context["eks:policyArn"].rsplit("/", 1)[1]
        for c in aws_calls.by([RUNBOOK_ROLE_ARN])
        if c.action == "eks:AssociateAccessPolicy" and f"/{CLUSTER}/" in c.resource and own_entry in c.resource
    }
    assert granted == set(readme_access_policies("eks_cluster_bootstrap"))
    assert {r["cluster"] for r in kube_requests} <= {CLUSTER, "payments-eu-b"}, "it reached a cluster it did not build"
    assert_kubernetes_access_is_what_the_readme_recommends("eks_cluster_bootstrap", kube_requests)
