"""The cost audit's run-level tasks when something goes wrong: nothing is lost, nothing is costed at $0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eks_runbooks.core.audit.targets import ClusterBatch, ClusterRef
from eks_runbooks.core.cost.facts import MANAGED, ON_DEMAND, ClusterCostFacts, NodeFacts
from eks_runbooks.core.cost.price_list import snapshot_prices
from eks_runbooks.tasks import cost
from eks_runbooks.tasks.cost import CostRun, gather_cluster_batch, gather_one_cluster, read_prices, write_cost_report


def facts(name: str = "web", conn: str = "aws_default", account: str = "123456789012") -> dict:
    node = NodeFacts("ip-10-0-0-1", "m5.large", ON_DEMAND, "us-east-1a", MANAGED, "general", 2000, 8192, 29)
    cluster = ClusterCostFacts(
        conn, "us-east-1", name, account=account, version="1.33", support="standard", upgrade_policy="STANDARD"
    )
    cluster.nodes = [node]
    cluster.workload_pods = 1
    return cluster.to_dict()


def prices(conn: str = "aws_default") -> list[dict]:
    return [snapshot_prices(conn, "us-east-1", "the test reads no Price List").to_dict()]


@pytest.fixture
def reports(tmp_path: Path, airflow_db, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", tmp_path.as_uri())
    return tmp_path / "eks_cost_audit"


def written(summary: dict) -> dict:
    return json.loads(Path(summary["report_json"][7:]).read_text())


@pytest.mark.parametrize(
    "errors",
    [
        {"cluster": "ClientError: An error occurred (AccessDeniedException) when calling DescribeCluster"},
        {"nodes": "ApiException: (429) Reason: Too Many Requests"},
        {"load_balancers": "ClientError: An error occurred (Throttling) when calling DescribeLoadBalancers"},
    ],
)
def test_a_cluster_not_described_or_throttled_fails_its_task_to_be_retried_rather_than_cost_nothing(
    monkeypatch, errors
):
    from eks_runbooks.readers import cost_facts

    def read(conn: str, region: str, name: str, hook=None) -> ClusterCostFacts:
        return ClusterCostFacts(conn, region, name, errors=errors)

    monkeypatch.setattr(cost_facts, "gather_cost_facts", read)
    with pytest.raises(cost.AirflowException, match="web"):
        gather_one_cluster(ClusterRef("aws_default", "us-east-1", "web"))


def test_a_source_refused_for_good_is_reported_and_the_rest_costed(monkeypatch):
    from eks_runbooks.readers import cost_facts

    def read(conn: str, region: str, name: str, hook=None) -> ClusterCostFacts:
        return ClusterCostFacts(conn, region, name, errors={"volumes": "ApiException: (403) Reason: Forbidden"})

    monkeypatch.setattr(cost_facts, "gather_cost_facts", read)
    assert gather_one_cluster(ClusterRef("aws_default", "us-east-1", "web"))["errors"] == {
        "volumes": "ApiException: (403) Reason: Forbidden"
    }


def test_a_batch_reads_a_throttled_cluster_again_after_the_others_and_names_one_never_described(monkeypatch):
    from eks_runbooks.readers import cost_facts

    reads = []

    def read(conn: str, region: str, name: str, hook=None) -> ClusterCostFacts:
        reads.append(name)
        if name == "gone":
            return ClusterCostFacts(conn, region, name, errors={"cluster": "ResourceNotFoundException: gone"})
        if name == "busy" and reads.count("busy") == 1:
            return ClusterCostFacts(conn, region, name, errors={"nodes": "ApiException: (429) Too Many Requests"})
        return ClusterCostFacts(conn, region, name, account="123456789012")

    monkeypatch.setattr(cost_facts, "gather_cost_facts", read)
    outcome = gather_cluster_batch(ClusterBatch("aws_default", "us-east-1", ("web", "busy", "gone", "api")))

    assert reads == ["web", "busy", "gone", "api", "busy", "gone"]  # the clusters read are never read again
    assert [facts["cluster"] for facts in outcome["clusters"]] == ["web", "busy", "api"]
    ((failed),) = outcome["failed"]
    assert failed["cluster_name"] == "gone" and "ResourceNotFoundException: gone" in failed["error"]


def test_a_cluster_whose_facts_could_not_be_read_is_named_not_costed_with_the_reason(reports):
    discovered = [
        {"aws_conn_id": "aws_default", "region": "us-east-1", "cluster_name": "web"},
        {"aws_conn_id": "aws_default", "region": "us-east-1", "cluster_name": "gone"},
    ]
    failed = [{**discovered[1], "error": "AirflowException: could not read cluster: ResourceNotFoundException"}]
    report = written(
        write_cost_report(CostRun("manual__1", discovered=discovered, failed=failed), [facts("web")], prices())
    )
    ((not_costed),) = report["not_costed"]
    assert not_costed["cluster"] == "gone" and "ResourceNotFoundException" in not_costed["reason"]


def test_a_region_whose_prices_cannot_be_read_at_all_is_priced_from_the_snapshot_saying_why(monkeypatch):
    from eks_runbooks.readers import prices as prices_reader

    def throttled(*args, **kwargs):
        raise RuntimeError("Throttling: Rate exceeded (after 10 attempts)")

    monkeypatch.setattr(prices_reader, "read_region_prices", throttled)
    (region,) = read_prices([facts()])
    assert region["on_demand"]["m5.large"]["source"].startswith("price snapshot")
    assert any("Throttling" in note and "aws_default" in note for note in region["notes"])


def test_a_night_with_no_cluster_found_still_reports_the_targets_it_could_not_list(reports):
    unreachable = [{"aws_conn_id": "aws_prod", "region": "eu-west-1", "error": "ExpiredToken"}]
    report = written(write_cost_report(CostRun("manual__1", unreachable=unreachable), [], None))
    assert (report["clusters"], report["monthly_usd"], report["unreachable_targets"]) == ([], "0.00", unreachable)


def test_a_cluster_whose_gather_task_failed_is_named_not_costed_and_in_no_total(reports):
    discovered = [
        {"aws_conn_id": "aws_default", "region": "us-east-1", "cluster_name": "web"},
        {"aws_conn_id": "aws_default", "region": "us-east-1", "cluster_name": "api"},
    ]
    report = written(write_cost_report(CostRun("manual__1", discovered=discovered), [facts("web")], prices()))
    assert [c["cluster"] for c in report["clusters"]] == ["web"]
    assert [c["cluster"] for c in report["not_costed"]] == ["api"]


def test_a_cluster_reached_through_two_connections_of_one_account_is_costed_once(reports):
    both = [facts("web", "aws_default"), facts("web", "aws_platform")]
    report = written(write_cost_report(CostRun("manual__1"), both, prices() + prices("aws_platform")))
    assert [(c["cluster"], c["aws_conn_id"]) for c in report["clusters"]] == [("web", "aws_default")]


def test_a_corrupt_latest_report_is_a_first_night_and_is_replaced(reports):
    (reports / "latest").mkdir(parents=True)
    (reports / "latest" / "report.json").write_text('{"clusters": "not a list"')
    report = written(write_cost_report(CostRun("manual__1"), [facts()], prices()))
    assert report["trend"]["previous_run_id"] is None
    assert json.loads((reports / "latest" / "report.json").read_text())["run_id"] == "manual__1"
