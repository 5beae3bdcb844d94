"""eks_cluster_upgrade, run by Airflow (`dag.test()`) against the simulated demo fleet."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.helpers import REPO

CLUSTER = "payments-prod"


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", tmp_path.as_uri())
    return tmp_path / "eks_cluster_upgrade"


@pytest.fixture
def upgrade_dag(airflow_db, reports, fast_dag_test, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS", "0.2")
    return DagBag(str(REPO / "dags" / "eks_cluster_upgrade.py")).get_dag("eks_cluster_upgrade")


@pytest.fixture
def eks():
    return boto3.client("eks", region_name="us-east-1")


def upgrade(dag, **conf: Any):
    return dag.test(run_conf={"cluster_name": CLUSTER, "region": "us-east-1", **conf})


def report_of(run) -> dict[str, Any]:
    return json.loads(Path(run.get_task_instance("report").xcom_pull(task_ids="report")["report_json"][7:]).read_text())


def updates(eks, **target: str) -> list[dict[str, Any]]:
    return [
        eks.describe_update(name=CLUSTER, updateId=update_id, **target)["update"]
        for update_id in eks.list_updates(name=CLUSTER, **target)["updateIds"]
    ]


def all_updates(eks) -> dict[str, list[dict[str, Any]]]:
    """Every update of the cluster, its node groups and add-ons, by target."""
    found = {"control plane": updates(eks)}
    for nodegroup in eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]:
        found[nodegroup] = updates(eks, nodegroupName=nodegroup)
    for addon in eks.list_addons(clusterName=CLUSTER)["addons"]:
        found[addon] = updates(eks, addonName=addon)
    return found


def kubernetes(patch: dict[str, Any] | None = None, create: dict[str, Any] | None = None) -> None:
    """Patch or create one object in payments-prod through its Kubernetes API, as kubectl would."""
    from kubernetes.dynamic import DynamicClient

    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    obj = patch or create
    hook = EksRunbookHook(aws_conn_id="aws_platform_admin", region_name="us-east-1")  # an engineer, not a runbook
    with eks_kubernetes_client(CLUSTER, hook=hook) as api_client:
        resource = DynamicClient(api_client).resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        if patch:
            resource.patch(
                body=obj,
                name=obj["metadata"]["name"],
                namespace=obj["metadata"].get("namespace"),
                content_type="application/merge-patch+json",
            )
        else:
            resource.create(body=obj, namespace=obj["metadata"].get("namespace"))


def ledger_pdb(max_unavailable: int) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "ledger-api", "namespace": "payments"},
        "spec": {"maxUnavailable": max_unavailable},
    }


def test_plan_mode_plans_both_hops_and_changes_nothing(demo_fleet, upgrade_dag, eks):
    run = upgrade(upgrade_dag, target_version="1.34")

    assert run.state == "success"
    assert all(not listed for listed in all_updates(eks).values())
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["version"] == "1.32"
    assert "eks-runbooks/claimed-by" not in eks.describe_cluster(name=CLUSTER)["cluster"]["tags"]
    report = report_of(run)
    assert [(hop["from"], hop["to"]) for hop in report["plan"]["hops"]] == [("1.32", "1.33"), ("1.33", "1.34")]
    assert report["summary"].startswith("payments-prod: plan 1.32 → 1.34 (2 hop(s))")
    assert "nothing changed" in report["summary"]
    assert [hop["preflight"]["passed"] for hop in report["hops"]] == [True, True]
    assert report["hops"][1]["preflight"]["projected"] is True
    steps = {step["step"]: step["state"] for step in report["hops"][0]["steps"]}
    assert steps["preflight"] == "success" and steps["control_plane"] == steps["nodegroups"] == "skipped"
    markdown = Path(run.get_task_instance("report").xcom_pull(task_ids="report")["report_markdown"][7:]).read_text()
    assert "### Hop 1.33 → 1.34" in markdown and "kube-proxy v1.33" in markdown


def test_two_hop_upgrade_moves_everything_and_kube_proxy_after_the_nodes(demo_fleet, upgrade_dag, eks):
    run = upgrade(upgrade_dag, target_version="1.34", dry_run=False, nodegroup_parallelism=2)

    assert run.state == "success", report_of(run)["summary"]
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["version"] == "1.34"
    for nodegroup in eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]:
        assert eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=nodegroup)["nodegroup"]["version"] == "1.34"
    defaults = {
        addon["addonName"]: next(
            v["addonVersion"]
            for v in addon["addonVersions"]
            if any(c["clusterVersion"] == "1.34" and c["defaultVersion"] for c in v["compatibilities"])
        )
        for addon in eks.describe_addon_versions(kubernetesVersion="1.34")["addons"]
    }
    for addon in eks.list_addons(clusterName=CLUSTER)["addons"]:
        assert eks.describe_addon(clusterName=CLUSTER, addonName=addon)["addon"]["addonVersion"] == defaults[addon]
    history = all_updates(eks)
    assert [u["status"] for u in history["control plane"]] == ["Successful", "Successful"]
    assert len(history["general"]) == len(history["batch"]) == len(history["kube-proxy"]) == 2
    for hop in (1, 2):
        nodegroups, kube_proxy = (run.get_task_instance(f"hop_{hop}.{step}") for step in ("nodegroups", "kube_proxy"))
        assert kube_proxy.start_date >= nodegroups.end_date
        node_rolls_started = max(history[name][hop - 1]["createdAt"] for name in ("general", "batch"))
        assert history["kube-proxy"][hop - 1]["createdAt"] > node_rolls_started
    assert report_of(run)["summary"] == "payments-prod: upgraded 1.32 → 1.34 in 2 hop(s); 0 pre-flight warning(s)"
    assert "eks-runbooks/claimed-by" not in eks.describe_cluster(name=CLUSTER)["cluster"]["tags"]


def test_removed_api_in_a_helm_release_stops_the_hop_before_its_control_plane(demo_fleet, upgrade_dag, eks):
    from eks_sandbox.fleet import helm_release_secret

    # networking.k8s.io/v1alpha1 is removed in 1.33 (kubernetes/api v0.33.0 networking/v1alpha1 lifecycle file).
    service_cidr = {
        "apiVersion": "networking.k8s.io/v1alpha1",
        "kind": "ServiceCIDR",
        "metadata": {"name": "ledger-extra"},
        "spec": {"cidrs": ["10.100.0.0/16"]},
    }
    kubernetes(
        create=helm_release_secret({"name": "ledger-network", "namespace": "payments", "manifests": [service_cidr]})
    )
    run = upgrade(upgrade_dag, target_version="1.34", dry_run=False)

    assert run.state == "failed"
    assert updates(eks) == [] and eks.describe_cluster(name=CLUSTER)["cluster"]["version"] == "1.32"
    report = report_of(run)
    assert report["failures"][0]["task"] == "hop_1.preflight"
    assert "ServiceCIDR/ledger-extra" in report["failures"][0]["message"]
    assert "1.32 → 1.33" in report["summary"]
    blocking = [f for f in report["hops"][0]["preflight"]["findings"] if f["blocking"]]
    assert [f["check_id"] for f in blocking] == ["K8S-REMOVED-APIS"]
    assert "networking.k8s.io/v1beta1" in blocking[0]["detail"]
    assert {s["step"]: s["state"] for s in report["hops"][0]["steps"]}["control_plane"] == "upstream_failed"


def test_pdb_refusing_the_drain_fails_the_run_naming_it_and_a_new_run_resumes(demo_fleet, upgrade_dag, eks):
    kubernetes(patch=ledger_pdb(0))
    conf = {"target_version": "1.33", "dry_run": False, "ignore_checks": ["K8S-PDB-BLOCKS-DRAIN"]}
    failed = upgrade(upgrade_dag, **conf)

    assert failed.state == "failed"
    failure = report_of(failed)["failures"][0]
    assert failure["task"] == "hop_1.nodegroups"
    assert "PodEvictionFailure" in failure["message"]
    # EKS names only the nodes: the runbook reads the cluster to name the budget and the pods it protects.
    assert (
        "PodDisruptionBudget payments/ledger-api has maxUnavailable 0 and protects pod(s) ledger-api-"
        in (failure["message"])
    )
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["version"] == "1.33"
    claim = f"eks_cluster_upgrade/{failed.run_id} failed"  # kept for the next run of this runbook
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["tags"]["eks-runbooks/claimed-by"] == claim

    kubernetes(patch=ledger_pdb(1))
    resumed = upgrade(upgrade_dag, target_version="1.33", dry_run=False)

    assert resumed.state == "success", report_of(resumed)["summary"]
    assert "eks-runbooks/claimed-by" not in eks.describe_cluster(name=CLUSTER)["cluster"]["tags"]
    assert len(updates(eks)) == 1  # the control plane was not updated twice
    report = report_of(resumed)
    assert [(hop["from"], hop["to"]) for hop in report["plan"]["hops"]] == [("1.32", "1.33")]
    control_plane = next(s for s in report["hops"][0]["steps"] if s["step"] == "control_plane")
    assert control_plane["result"]["summary"] == "control plane at 1.33 (already)"
    for nodegroup in ("general", "batch"):
        assert eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=nodegroup)["nodegroup"]["version"] == "1.33"


def test_an_update_already_in_flight_is_attached_to_not_repeated(demo_fleet, upgrade_dag, eks):
    started = eks.update_cluster_version(name=CLUSTER, version="1.33")["update"]
    run = upgrade(upgrade_dag, target_version="1.33", dry_run=False)

    assert run.state == "success", report_of(run)["summary"]
    assert [u["id"] for u in updates(eks)] == [started["id"]]
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["version"] == "1.33"


def test_throttled_aws_calls_are_retried_and_the_upgrade_completes(demo_fleet, upgrade_dag, eks):
    rule = demo_fleet.faults.add_from_dict(
        {"kind": "error", "service": "eks", "operation": "*", "error": "ThrottlingException", "count": 4}
    )
    run = upgrade(upgrade_dag, target_version="1.33", dry_run=False)

    assert run.state == "success", report_of(run)["summary"]
    assert not any(r["id"] == rule for r in demo_fleet.faults.rules()), "the throttling was never met"
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["version"] == "1.33"


def test_a_cluster_held_by_another_run_is_refused_naming_the_holder(demo_fleet, upgrade_dag, eks):
    arn = eks.describe_cluster(name=CLUSTER)["cluster"]["arn"]
    eks.tag_resource(resourceArn=arn, tags={"eks-runbooks/claimed-by": "eks_pod_identity_migration/ticket__CHG-7"})
    run = upgrade(upgrade_dag, target_version="1.33", dry_run=False)

    assert run.state == "failed"
    assert updates(eks) == []
    failure = report_of(run)["failures"][0]
    assert failure["task"] == "claim_cluster"
    assert "held by run eks_pod_identity_migration/ticket__CHG-7" in failure["message"]
    tags = eks.describe_cluster(name=CLUSTER)["cluster"]["tags"]
    assert tags["eks-runbooks/claimed-by"] == "eks_pod_identity_migration/ticket__CHG-7"


@pytest.mark.parametrize(
    ("conf", "task", "message"),
    [
        ({"target_version": "1.33", "dryrun": False}, "validate_request", "dryrun: unknown key"),
        ({"target_version": "1.31"}, "plan", "1.31 would be a downgrade"),
        ({"target_version": "1.33", "cluster_name": "payments-typo"}, "plan", "payments-typo does not exist"),
    ],
    ids=["unknown-key", "downgrade", "unknown-cluster"],
)
def test_bad_requests_fail_before_any_change_naming_the_problem(demo_fleet, upgrade_dag, eks, conf, task, message):
    run = upgrade(upgrade_dag, **conf)

    assert run.state == "failed"
    assert updates(eks) == []
    failure = report_of(run)["failures"][0]
    assert failure["task"] == task and message in failure["message"]


def test_malformed_values_are_refused_by_the_trigger_form_schema(demo_fleet, upgrade_dag):
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError, match="target_version"):
        upgrade(upgrade_dag, target_version="1.3x")


def test_clearing_a_node_group_roll_that_ended_failed_starts_a_new_update(demo_fleet, upgrade_dag, eks):
    from datetime import UTC, datetime

    kubernetes(patch=ledger_pdb(0))
    conf = {"cluster_name": CLUSTER, "region": "us-east-1", "target_version": "1.33", "dry_run": False}
    conf["ignore_checks"] = ["K8S-PDB-BLOCKS-DRAIN"]
    logical_date = datetime(2026, 1, 5, tzinfo=UTC)
    failed = upgrade_dag.test(run_after=logical_date, logical_date=logical_date, run_conf=conf)
    assert failed.state == "failed"
    assert report_of(failed)["failures"][0]["task"] == "hop_1.nodegroups"
    rolls = {name: updates(eks, nodegroupName=name) for name in ("general", "batch")}
    failed_roll = next(name for name, found in rolls.items() if found and found[0]["status"] == "Failed")

    kubernetes(patch=ledger_pdb(1))
    # dag.test on the same logical date clears the run's task instances and runs them again: a clear.
    cleared = upgrade_dag.test(run_after=logical_date, logical_date=logical_date, run_conf=conf)

    assert cleared.run_id == failed.run_id
    assert cleared.state == "success", report_of(cleared)["summary"]
    assert sorted(u["status"] for u in updates(eks, nodegroupName=failed_roll)) == ["Failed", "Successful"]
    for nodegroup in ("general", "batch"):
        assert eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=nodegroup)["nodegroup"]["version"] == "1.33"


def test_an_unknown_ignore_checks_id_fails_validate_request_before_the_claim(demo_fleet, upgrade_dag, eks):
    run = upgrade(upgrade_dag, target_version="1.33", dry_run=False, ignore_checks=["PDB-BLOCKS-DRAIN"])

    assert run.state == "failed"
    assert updates(eks) == []
    failure = report_of(run)["failures"][0]
    assert failure["task"] == "validate_request"
    assert "ignore_checks: PDB-BLOCKS-DRAIN" in failure["message"] and "K8S-PDB-BLOCKS-DRAIN" in failure["message"]
    assert run.get_task_instance("claim_cluster").state == "upstream_failed"
    assert "eks-runbooks/claimed-by" not in eks.describe_cluster(name=CLUSTER)["cluster"]["tags"]


def test_a_connection_not_on_the_allow_list_is_refused_at_validate_request_before_any_aws_call(
    demo_fleet, upgrade_dag, eks, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_PROD_ADMIN", os.environ["AIRFLOW_CONN_AWS_PLATFORM_ADMIN"])
    demo_fleet.api_calls.clear()
    run = upgrade(upgrade_dag, target_version="1.33", dry_run=False, aws_conn_id="aws_prod_admin")
    calls = list(demo_fleet.api_calls)

    assert run.state == "failed"
    assert calls == []
    failure = report_of(run)["failures"][0]
    assert failure["task"] == "validate_request"
    assert "aws_prod_admin" in failure["message"] and "eks_runbook_connections" in failure["message"]
    assert run.get_task_instance("claim_cluster").state == "upstream_failed"
