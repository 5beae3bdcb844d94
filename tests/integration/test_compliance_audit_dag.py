"""eks_compliance_audit, run by Airflow (`dag.test()`) against the simulated demo fleet."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.helpers import REPO, WORLD_DATE, aws_connection_uri, ticketing_system

TARGETS = [
    {"aws_conn_id": "aws_default", "regions": ["us-east-1", "us-west-2"]},
    {"aws_conn_id": "aws_ml_platform", "regions": ["eu-west-1"]},  # another account, through AssumeRole
]


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", tmp_path.as_uri())
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REQUIRED_TAGS", json.dumps(["team", "environment"]))
    return tmp_path / "eks_compliance_audit"


@pytest.fixture
def audit_dag(demo_fleet, airflow_db, reports, fast_dag_test, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_ML_PLATFORM",
        aws_connection_uri(os.environ["AWS_ENDPOINT_URL"], "eu-west-1", "arn:aws:iam::210987654321:role/fleet-audit"),
    )
    monkeypatch.setenv("AIRFLOW_VAR_EKS_FLEET", json.dumps(TARGETS))  # the fleet's connections may be named
    return DagBag(str(REPO / "dags" / "eks_compliance_audit.py")).get_dag("eks_compliance_audit")


def audit(dag, **conf: Any) -> dict[str, Any]:
    run = dag.test(run_conf={"targets": TARGETS, **conf})
    assert run.state == "success"
    written = run.get_task_instance("report").xcom_pull(task_ids="report")
    page = Path(written["report_html"][7:]).read_text()
    assert page.startswith("<!doctype html>") and "Clusters by checks" in page
    return json.loads(Path(written["report_json"][7:]).read_text())


def statuses(report: dict[str, Any], cluster: str) -> dict[str, str]:
    return {check["id"]: check["status"] for check in statuses_detail(report, cluster)}


def statuses_detail(report: dict[str, Any], cluster: str) -> list[dict[str, Any]]:
    return next(c for c in report["clusters"] if c["cluster"] == cluster)["checks"]


def run_as_default_service_account(cluster: str, region: str) -> None:
    from kubernetes.dynamic import DynamicClient

    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "exporter", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "exporter"}},
            "template": {
                "metadata": {"labels": {"app": "exporter"}},
                "spec": {"containers": [{"name": "exporter", "image": "public.ecr.aws/docker/library/busybox:1"}]},
            },
        },
    }
    with eks_kubernetes_client(cluster, aws_conn_id="aws_platform_admin", region_name=region) as api_client:
        DynamicClient(api_client).resources.get(api_version="apps/v1", kind="Deployment").create(
            body=deployment, namespace="default"
        )


def use_removed_flowcontrol_api(cluster: str) -> None:
    """A client still calling flowcontrol v1beta3 on a 1.31 cluster: EKS Insights flags it (ERROR)."""
    from kubernetes.client import ApiClient

    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    with eks_kubernetes_client(cluster, region_name="us-east-1") as api_client:
        ApiClient.call_api(
            api_client,
            "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas",
            "GET",
            auth_settings=["BearerToken"],
            _preload_content=False,
        )


def test_hardened_and_neglected_clusters_get_the_expected_verdicts(audit_dag, demo_fleet, reports):
    use_removed_flowcontrol_api("analytics-staging")
    report = audit(audit_dag)

    assert [(c["account"], c["cluster"]) for c in report["clusters"]] == [
        ("123456789012", "analytics-staging"),
        ("123456789012", "orders-prod"),
        ("123456789012", "payments-prod"),
        ("123456789012", "edge-dev"),
        ("210987654321", "ml-platform"),
        ("210987654321", "web-staging"),
    ]
    # Hardened: on the fleet's date (2026-01-20) 1.32 is in standard support and its node AMI is a week old.
    assert {check: status for check, status in statuses(report, "payments-prod").items() if status != "PASS"} == {}
    assert statuses(report, "analytics-staging") == {
        "EKS-ENDPOINT-PUBLIC": "FAIL",
        "EKS-VERSION-SUPPORT": "WARN",
        "EKS-UPGRADE-POLICY": "WARN",
        "EKS-SECRETS-KMS": "FAIL",
        "EKS-CONTROL-PLANE-LOGS": "FAIL",
        "EKS-DELETION-PROTECTION": "FAIL",
        "EKS-AUTH-MODE": "FAIL",
        "EKS-NODES-PRIVATE": "FAIL",
        "EKS-IMDSV2": "FAIL",
        "EKS-NODE-VOLUME-ENCRYPTION": "FAIL",
        "EKS-ADDONS-CURRENT": "FAIL",
        "EKS-POD-IDENTITY": "FAIL",
        "EKS-NODE-AMI": "FAIL",
        "EKS-INSIGHTS": "FAIL",
        "K8S-NETWORK-POLICY": "FAIL",
        "K8S-POD-SECURITY": "FAIL",
        "K8S-ANONYMOUS-RBAC": "PASS",
        "K8S-DEFAULT-SA": "PASS",
        "K8S-PRIVILEGED": "PASS",
        "EKS-TAGS": "FAIL",
    }
    ml = statuses(report, "ml-platform")
    assert (ml["EKS-ENDPOINT-PUBLIC"], ml["K8S-ANONYMOUS-RBAC"], ml["K8S-PRIVILEGED"]) == ("PASS", "FAIL", "FAIL")
    assert ml["EKS-POD-IDENTITY"] == "FAIL"
    assert (reports / "latest" / "report.json").exists()
    assert report["trend"]["previous_run_id"] is None and report["trend"]["resolved"] == []


def test_second_night_reports_the_trend_and_honours_waivers_until_they_expire(audit_dag, monkeypatch, reports):
    first = audit(audit_dag, targets=TARGETS[:1])  # a full run of that account: the baseline
    assert statuses(first, "analytics-staging")["EKS-DELETION-PROTECTION"] == "FAIL"

    eks = boto3.client("eks", region_name="us-east-1")
    eks.update_cluster_config(name="analytics-staging", deletionProtection=True)  # fixed overnight
    today = WORLD_DATE  # the runbooks' today in tests (EKS_RUNBOOKS_AS_OF)
    monkeypatch.setenv(
        "AIRFLOW_VAR_EKS_COMPLIANCE_WAIVERS",
        json.dumps(
            [
                {"check": "EKS-SECRETS-KMS", "cluster": "analytics-*", "reason": "CHG-42", "expires": str(today)},
                {
                    "check": "EKS-ENDPOINT-PUBLIC",
                    "cluster": "analytics-*",
                    "reason": "old",
                    "expires": str(today - timedelta(days=1)),
                },
            ]
        ),
    )
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REQUIRED_TAGS", json.dumps(["team", "environment", "owner"]))  # new rule
    run_as_default_service_account("edge-dev", "us-west-2")  # a new workload, deployed carelessly
    second = audit(audit_dag, cluster_names=["analytics-staging", "edge-dev"])

    analytics = {check["id"]: check for check in statuses_detail(second, "analytics-staging")}
    assert analytics["EKS-DELETION-PROTECTION"]["status"] == "PASS"
    assert (
        analytics["EKS-SECRETS-KMS"]["status"] == "WAIVED"
        and analytics["EKS-SECRETS-KMS"]["waiver"] == f"CHG-42 (until {today})"
    )
    assert analytics["EKS-ENDPOINT-PUBLIC"]["status"] == "FAIL"  # its waiver expired yesterday
    trend = second["trend"]
    assert trend["previous_run_id"] == first["run_id"]
    # A filtered run compares with the full one, and leaves it as the baseline of the next night.
    assert second["scope"]["replaces_latest"] is False
    assert json.loads((reports / "latest" / "report.json").read_text())["run_id"] == first["run_id"]
    assert {(f["cluster"], f["check"]) for f in trend["resolved"]} == {
        ("analytics-staging", "EKS-DELETION-PROTECTION"),
        ("analytics-staging", "EKS-SECRETS-KMS"),  # waived: no longer a failure
    }
    assert {(f["cluster"], f["check"]) for f in trend["new_failures"]} == {
        ("edge-dev", "EKS-TAGS"),
        ("edge-dev", "K8S-DEFAULT-SA"),
    }
    default_sa = next(c for c in statuses_detail(second, "edge-dev") if c["id"] == "K8S-DEFAULT-SA")
    assert default_sa["objects"] == ["default/Deployment/exporter"]


def test_a_cluster_whose_apis_fail_is_error_and_the_rest_of_the_fleet_is_audited(audit_dag, demo_fleet):
    for parameter in ("name", "clusterName"):
        demo_fleet.faults.add_from_dict(
            {"kind": "error", "service": "eks", "match": {parameter: "edge-dev"}, "error": "ServerException"}
        )
    report = audit(audit_dag, targets=TARGETS[:1])

    edge = next(c for c in report["clusters"] if c["cluster"] == "edge-dev")
    assert {check["status"] for check in edge["checks"]} == {"ERROR"}
    assert "ServerException" in edge["checks"][0]["detail"]
    assert statuses(report, "payments-prod")["EKS-SECRETS-KMS"] == "PASS"
    assert report["summary"]["by_status"]["ERROR"] == 20


def test_unknown_checks_in_the_filter_are_refused_naming_them(audit_dag):
    from eks_runbooks.tasks.audit import InvalidAuditInput, validate_filters

    run = audit_dag.test(run_conf={"targets": TARGETS, "checks": ["EKS-NO-SUCH-CHECK"]})
    assert run.state == "failed" and run.get_task_instance("discover").state == "failed"
    with pytest.raises(InvalidAuditInput, match="EKS-NO-SUCH-CHECK"):
        validate_filters([], ["EKS-NO-SUCH-CHECK"])


@pytest.fixture
def ticketing(monkeypatch) -> Iterator[list[dict]]:
    """A ticketing system on ticketing_default that records what it is sent."""
    with ticketing_system() as (url, received):
        monkeypatch.delenv("AIRFLOW_VAR_EKS_COMPLIANCE_SNS_TOPIC", raising=False)
        monkeypatch.setenv("AIRFLOW_CONN_TICKETING_DEFAULT", url)
        yield received


def test_a_full_run_after_a_filtered_one_neither_announces_nor_alerts_old_failures(audit_dag, ticketing):
    us_east = [{"aws_conn_id": "aws_default", "regions": ["us-east-1"]}]
    first = audit(audit_dag, targets=us_east)  # payments-prod and analytics-staging, which fails HIGH checks
    assert statuses(first, "analytics-staging")["EKS-ENDPOINT-PUBLIC"] == "FAIL"
    audit(audit_dag, targets=us_east, cluster_names=["payments-prod"])
    third = audit(audit_dag, targets=us_east)

    assert third["trend"]["previous_run_id"] == first["run_id"]
    assert third["trend"]["new_failures"] == [] and third["trend"]["resolved"] == []
    assert third["notifications"] == [] and ticketing == []


def test_a_cluster_whose_audit_fails_is_error_with_its_cause_and_the_rest_of_its_batch_is_audited(
    audit_dag, monkeypatch
):
    import eks_runbooks.readers.audit_facts as audit_facts

    gather = audit_facts.gather_cluster_facts

    def broken_for_analytics_staging(hook, cluster_name, **kwargs):
        if cluster_name == "analytics-staging":
            raise MemoryError("the worker ran out of memory reading analytics-staging")
        return gather(hook, cluster_name, **kwargs)

    monkeypatch.setattr(audit_facts, "gather_cluster_facts", broken_for_analytics_staging)
    run = audit_dag.test(run_conf={"targets": TARGETS[:1]})

    batches = {ti.map_index: ti.state for ti in run.get_task_instances() if ti.task_id == "audit"}
    assert sorted(batches.values()) == ["success", "success"]  # us-east-1's three clusters, us-west-2's one
    report = reported(run)
    assert {check["status"] for check in statuses_detail(report, "analytics-staging")} == {"ERROR"}
    assert "MemoryError: the worker ran out of memory" in statuses_detail(report, "analytics-staging")[0]["detail"]
    assert statuses(report, "payments-prod")["EKS-SECRETS-KMS"] == "PASS"  # same batch, audited
    assert {check["status"] for check in statuses_detail(report, "orders-prod")} != {"ERROR"}


def test_the_clusters_of_a_batch_whose_task_fails_are_error_and_the_other_batches_reported(audit_dag, monkeypatch):
    import eks_runbooks.tasks.audit as audit_tasks

    audit_batch = audit_tasks.audit_cluster_batch

    def worker_lost_in_us_west_2(batch, checks):
        if batch.region == "us-west-2":
            raise MemoryError("the worker was killed")
        return audit_batch(batch, checks)

    monkeypatch.setattr(audit_tasks, "audit_cluster_batch", worker_lost_in_us_west_2)
    audit_dag.get_task("audit").retries = 0
    run = audit_dag.test(run_conf={"targets": TARGETS[:1]})

    states = {ti.map_index: ti.state for ti in run.get_task_instances() if ti.task_id == "audit"}
    assert sorted(states.values()) == ["failed", "success"]
    assert run.get_task_instance("report").state == "success"
    report = reported(run)
    assert {check["status"] for check in statuses_detail(report, "edge-dev")} == {"ERROR"}
    assert "audit task of this cluster failed" in statuses_detail(report, "edge-dev")[0]["detail"]
    assert statuses(report, "payments-prod")["EKS-SECRETS-KMS"] == "PASS"


def reported(run) -> dict[str, Any]:
    written = run.get_task_instance("report").xcom_pull(task_ids="report")
    return json.loads(Path(written["report_json"][7:]).read_text())


def test_an_extra_privileged_daemonset_in_kube_system_is_flagged_and_the_eks_addons_are_not(audit_dag):
    from kubernetes.dynamic import DynamicClient

    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "node-debugger", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"app": "node-debugger"}},
            "template": {
                "metadata": {"labels": {"app": "node-debugger"}},
                "spec": {
                    "hostNetwork": True,
                    "containers": [
                        {
                            "name": "shell",
                            "image": "public.ecr.aws/docker/library/busybox:1",
                            "securityContext": {"privileged": True},
                        }
                    ],
                },
            },
        },
    }
    with eks_kubernetes_client("payments-prod", aws_conn_id="aws_platform_admin", region_name="us-east-1") as client:
        DynamicClient(client).resources.get(api_version="apps/v1", kind="DaemonSet").create(
            body=daemonset, namespace="kube-system"
        )
    report = audit(audit_dag, targets=TARGETS[:1], cluster_names=["payments-prod"], checks=["K8S-PRIVILEGED"])

    (check,) = statuses_detail(report, "payments-prod")
    assert check["status"] == "FAIL"
    assert check["objects"] == ["kube-system/DaemonSet/node-debugger: privileged container shell, hostNetwork"]


def test_a_target_naming_a_connection_not_on_the_allow_list_is_refused_before_any_aws_call(
    audit_dag, demo_fleet, monkeypatch
):
    from eks_runbooks.runs.connections import ConnectionRefused
    from eks_runbooks.tasks.audit import audit_targets

    monkeypatch.setenv("AIRFLOW_VAR_EKS_RUNBOOK_CONNECTIONS", json.dumps(["aws_default"]))
    demo_fleet.api_calls.clear()
    run = audit_dag.test(run_conf={"targets": TARGETS})

    assert run.state == "failed" and run.get_task_instance("discover").state == "failed"
    assert not [call for call in demo_fleet.api_calls if call[0] in ("eks", "sts")]
    with pytest.raises(ConnectionRefused, match=r"aws_ml_platform .*Variable eks_runbook_connections allows only"):
        audit_targets(TARGETS)


def test_a_report_connection_not_on_the_allow_list_is_refused_before_any_aws_call(audit_dag, demo_fleet):
    demo_fleet.api_calls.clear()
    run = audit_dag.test(run_conf={"targets": TARGETS[:1], "report_aws_conn_id": "aws_reports_elsewhere"})

    assert run.state == "failed" and run.get_task_instance("discover").state == "failed"
    assert not [call for call in demo_fleet.api_calls if call[0] in ("eks", "sts")]
