"""The audit report: a trend only between comparable runs, clusters that were not audited, a page a person reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from eks_runbooks.core.audit.compliance import audit_trend, load_audit_catalogue
from eks_runbooks.core.audit.report import audit_document, audit_scope, render_audit_html, unaudited_cluster
from tests.helpers import REPO

CATALOGUE = load_audit_catalogue()


def cluster(name: str, **statuses: str) -> dict:
    """A report entry: check id (with _ for -) → status."""
    return {
        "account": "111122223333",
        "region": "us-east-1",
        "cluster": name,
        "version": "1.33",
        "checks": [
            {"id": check.replace("_", "-"), "status": status, "severity": "HIGH", "detail": f"{status} detail"}
            for check, status in statuses.items()
        ],
    }


def report(*clusters: dict, run_id: str = "r1") -> dict:
    return {"run_id": run_id, "clusters": list(clusters)}


def pairs(findings: list[dict]) -> set[tuple[str, str]]:
    return {(finding["cluster"], finding["check"]) for finding in findings}


def test_a_full_run_after_a_filtered_one_does_not_announce_the_unfiltered_clusters_old_failures_as_new():
    full = report(cluster("a", EKS_TAGS="FAIL"), cluster("b", EKS_TAGS="FAIL", EKS_IMDSV2="FAIL"))
    filtered = [cluster("a", EKS_TAGS="PASS")]  # cluster_names=["a"], not kept as the baseline
    assert audit_scope(["a"], [])["replaces_latest"] is False

    tonight = [cluster("a", EKS_TAGS="PASS"), cluster("b", EKS_TAGS="FAIL", EKS_IMDSV2="FAIL")]
    assert pairs(audit_trend(full, filtered)["resolved"]) == {("a", "EKS-TAGS")}
    trend = audit_trend(full, tonight)
    assert trend["new_failures"] == [] and pairs(trend["resolved"]) == {("a", "EKS-TAGS")}


def test_only_pairs_evaluated_in_both_runs_are_compared():
    previous = report(cluster("a", EKS_TAGS="FAIL", EKS_IMDSV2="PASS"))
    # checks=["EKS-IMDSV2"] tonight; cluster b is new to the fleet.
    trend = audit_trend(previous, [cluster("a", EKS_IMDSV2="FAIL"), cluster("b", EKS_TAGS="FAIL")])
    assert pairs(trend["new_failures"]) == {("a", "EKS-IMDSV2")}
    assert trend["resolved"] == [] and trend["compared"] == 1


def test_an_error_or_a_cluster_not_audited_is_neither_resolved_nor_new():
    previous = report(cluster("a", EKS_TAGS="FAIL", EKS_IMDSV2="ERROR"), cluster("b", EKS_TAGS="FAIL"))
    tonight = [cluster("a", EKS_TAGS="ERROR", EKS_IMDSV2="FAIL")]  # b unreachable tonight
    trend = audit_trend(previous, tonight)
    assert trend["new_failures"] == [] and trend["resolved"] == [] and trend["compared"] == 0


def test_a_fail_after_a_pass_is_new_and_a_waived_or_fixed_failure_is_resolved():
    previous = report(cluster("a", EKS_TAGS="PASS", EKS_IMDSV2="FAIL", EKS_AUTH_MODE="FAIL", EKS_INSIGHTS="FAIL"))
    tonight = [cluster("a", EKS_TAGS="FAIL", EKS_IMDSV2="WAIVED", EKS_AUTH_MODE="PASS", EKS_INSIGHTS="FAIL")]
    trend = audit_trend(previous, tonight)
    assert pairs(trend["new_failures"]) == {("a", "EKS-TAGS")}
    assert pairs(trend["resolved"]) == {("a", "EKS-IMDSV2"), ("a", "EKS-AUTH-MODE")}


def test_the_first_report_has_nothing_to_compare_so_nothing_is_new():
    trend = audit_trend(None, [cluster("a", EKS_TAGS="FAIL")])
    assert trend["previous_run_id"] is None and trend["new_failures"] == [] and trend["compared"] == 0


def test_a_cluster_whose_audit_task_failed_is_error_for_every_check_of_the_run():
    entry = unaudited_cluster(
        {"aws_conn_id": "aws_default", "region": "us-west-2", "cluster_name": "edge-dev"},
        CATALOGUE,
        ["EKS-TAGS", "EKS-IMDSV2"],
        "the audit task failed",
    )
    assert entry["cluster"] == "edge-dev" and entry["region"] == "us-west-2"
    assert [(c["id"], c["status"], c["detail"]) for c in entry["checks"]] == [
        ("EKS-IMDSV2", "ERROR", "the audit task failed"),
        ("EKS-TAGS", "ERROR", "the audit task failed"),
    ]


def page(*clusters: dict, **extra) -> str:
    document = audit_document("r2", "2026-01-20T02:00:00+00:00", list(clusters), None, audit_scope([], []))
    return render_audit_html({**document, **extra}, CATALOGUE)


def test_the_matrix_shows_check_titles_and_fits_a_wide_screen_with_the_cluster_column_in_view():
    html = page(cluster("a", EKS_TAGS="PASS", EKS_IMDSV2="FAIL"))
    titles = {spec.id: spec.title for spec in CATALOGUE}
    assert titles["EKS-TAGS"] in html and titles["EKS-IMDSV2"] in html
    style = re.search(r"<style>(.*)</style>", html).group(1)
    assert "table-layout:fixed" in style and "position:sticky" in style and "overflow-wrap" in style
    # 20 checks at 58 px beside a 190 px cluster column fit 1440 px less the page margins.
    assert 190 + len(CATALOGUE) * 58 <= 1440 - 64


def test_skip_reasons_and_lost_notifications_are_on_the_page():
    html = page(
        cluster("a", EKS_TAGS="SKIP"),
        notifications=[{"channel": "ticketing_default", "status": "failed", "reason": "HTTP 503: busy"}],
    )
    assert "SKIP detail" in html
    assert "ticketing_default: failed — HTTP 503: busy" in html


def test_every_dag_or_variable_named_in_a_catalogue_is_one_that_exists():
    dag_ids = {
        match for path in (REPO / "dags").glob("*.py") for match in re.findall(r'dag_id="(\w+)"', path.read_text())
    }
    variables = set(re.findall(r"^\| `(eks_\w+)` \| `", (REPO / "docs" / "interfaces.md").read_text(), re.M))
    assert {"eks_cluster_upgrade", "eks_compliance_audit", "eks_fleet_inventory"} <= dag_ids
    for catalogue in ("compliance.yaml", "upgrade-preflight.yaml"):
        entries = yaml.safe_load(Path(REPO / "include" / "checks" / catalogue).read_text())["checks"]
        for entry in entries:
            named = set(
                re.findall(r"\beks_[a-z0-9_]+", f"{entry['title']} {entry['rationale']} {entry['remediation']}")
            )
            assert named <= dag_ids | variables, (
                f"{catalogue} {entry['id']} names {sorted(named - dag_ids - variables)}"
            )
