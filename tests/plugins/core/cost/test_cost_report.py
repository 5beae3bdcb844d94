"""The cost report: fleet totals and groupings, findings ranked by saving, the trend between comparable runs, the
page (with its chart), the CSV files and why to notify. Every expected figure here is worked out by hand."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal

from eks_runbooks.core.cost.report import (
    cost_alerts,
    cost_document,
    cost_report_files,
    cost_summary,
    render_cost_csv,
    render_cost_html,
)
from tests.helpers import REPO

PARTS = ("control_plane", "nodes", "fargate", "storage", "load_balancers")
US_EAST = "Price List API (us-east-1) 2026-01-20"
EU_CENTRAL = "Price List API (eu-central-1) 2026-01-20"
SPOT_EU = "DescribeSpotPriceHistory eu-west-1 2026-01-20T02:59:00Z"
SNAPSHOT_EC2 = "price snapshot 2026-11-01: aws.amazon.com/ec2/pricing/on-demand"
SNAPSHOT_EKS = "price snapshot 2026-11-01: aws.amazon.com/eks/pricing"
SNAPSHOT_NOTE = "aws_edge: Price List API refused (AccessDeniedException); prices from the snapshot of 2026-11-01"
FULL = {"cluster_names": [], "checks": [], "replaces_latest": True}


def line(part, item, detail, quantity, unit, usd, per, source, monthly):
    """One priced line as costing writes it (usd None: not priced)."""
    return {
        "part": part,
        "item": item,
        "detail": detail,
        "quantity": quantity,
        "unit": unit,
        "unit_price": None if usd is None else {"usd": usd, "unit": per, "source": source},
        "monthly_usd": monthly,
    }


def finding(cluster, check, obj, saving, status="FAIL", detail="evidence", **where):
    return {
        "check_id": check,
        "title": f"{check} title",
        "severity": "MEDIUM",
        "status": status,
        "cluster": cluster,
        "region": where.get("region", "us-east-1"),
        "account": where.get("account", "123456789012"),
        "aws_conn_id": where.get("aws_conn_id", "aws_default"),
        "object": obj,
        "detail": detail,
        "monthly_saving_usd": saving,
        "remediation": f"fix {check}",
    }


def result(name, lines, findings=(), *, account="123456789012", region="us-east-1", conn="aws_default", **extra):
    """A cluster's result; its by_part and total are the sums of its priced lines (as costing builds them)."""
    by_part = {part: Decimal("0.00") for part in PARTS}
    for entry in lines:
        if entry["monthly_usd"] is not None:
            by_part[entry["part"]] += Decimal(entry["monthly_usd"])
    return {
        "cluster": name,
        "region": region,
        "account": account,
        "aws_conn_id": conn,
        "version": extra.get("version", "1.33"),
        "tags": extra.get("tags", {}),
        "monthly_usd": str(sum(by_part.values())),
        "by_part": {part: str(value) for part, value in by_part.items()},
        "lines": list(lines),
        "unpriced": list(extra.get("unpriced", [])),
        "extended_support": extra.get("extended_support"),
        "price_notes": list(extra.get("price_notes", [])),
        "errors": {},
        "findings": list(findings),
    }


def control_plane(source=US_EAST):
    return line("control_plane", "standard", "standard support", "1", "cluster", "0.10", "hour", source, "73.00")


def demo_like_fleet() -> list[dict]:
    """Five clusters shaped like the demo fleet's seeds (prices us-east-1 / eu-west-1 list prices)."""
    eu = {"region": "eu-west-1"}
    west = {"region": "us-west-2"}
    edge = {"region": "eu-west-1", "account": "210987654321", "aws_conn_id": "aws_edge"}
    web = {"region": "eu-west-1", "account": "210987654321"}
    return [
        result(
            "orders-prod",
            [
                control_plane(),
                line("nodes", "general", "3 x m5.large ON_DEMAND", "3", "node", "0.096", "hour", US_EAST, "210.24"),
                line("fargate", "settlement vCPU", "2 pods", "0.5", "vCPU", "0.04048", "vCPU-hour", US_EAST, "14.78"),
                line("fargate", "settlement memory", "2 pods", "1", "GB", "0.004445", "GB-hour", US_EAST, "3.24"),
                line("storage", "gp2", "3 volumes", "300", "GiB", "0.10", "GB-month", US_EAST, "30.00"),
                line("load_balancers", "application", "orders ALB", "1", "lb", "0.0225", "hour", US_EAST, "16.43"),
            ],
            [finding("orders-prod", "COST-GP2-VOLUMES", "storageclass/gp2", "6.00")],
            tags={"team": "payments", "environment": "production"},
        ),
        result(
            "analytics-staging",
            [
                control_plane(),
                line(
                    "control_plane", "extended", "extended support", "1", "cluster", "0.50", "hour", US_EAST, "365.00"
                ),
                line("nodes", "batch", "2 x m5.xlarge ON_DEMAND", "2", "node", "0.192", "hour", US_EAST, "280.32"),
            ],
            [
                finding("analytics-staging", "COST-EXTENDED-SUPPORT", "cluster/analytics-staging", "365.00", **west),
                finding("analytics-staging", "COST-SPOT-SHARE", "nodegroup/batch", "91.10", **west),
            ],
            region="us-west-2",
            version="1.31",
            tags={"team": "data", "environment": "staging"},
            extended_support={"status": "running", "from": "2025-12-01", "adds_monthly_usd": "365.00"},
        ),
        result(
            "edge-dev",
            [
                control_plane(SNAPSHOT_EKS),
                line(
                    "nodes", "system", "2 x t3.medium ON_DEMAND", "2", "node", "0.0456", "hour", SNAPSHOT_EC2, "66.58"
                ),
                line("load_balancers", "network", "ingress NLB", "1", "lb", None, None, None, None),
            ],
            [
                finding("edge-dev", "COST-NO-WORKLOADS", "cluster/edge-dev", "139.58", status="WARN", **edge),
                finding("edge-dev", "COST-IDLE-CAPACITY", "nodegroup/system", "33.29", **edge),
            ],
            account="210987654321",
            region="eu-west-1",
            conn="aws_edge",
            unpriced=["load_balancers network: no price for network load balancers in eu-west-1"],
            price_notes=[SNAPSHOT_NOTE],
        ),
        result(
            "ml-platform",
            [
                control_plane(EU_CENTRAL),
                line("nodes", "cpu", "2 x m5.2xlarge ON_DEMAND", "2", "node", "0.428", "hour", EU_CENTRAL, "624.88"),
            ],
            [finding("ml-platform", "COST-IDLE-CAPACITY", "nodegroup/cpu", "312.44", **eu)],
            region="eu-west-1",
            tags={"team": "ml"},
        ),
        result(
            "web-staging",
            [
                control_plane(EU_CENTRAL),
                line("nodes", "api", "3 x t3.medium ON_DEMAND", "3", "node", "0.0456", "hour", EU_CENTRAL, "99.86"),
                line("nodes", "web", "2 x m5.large SPOT (eu-west-1a)", "2", "node", "0.04", "hour", SPOT_EU, "58.40"),
            ],
            [
                finding("web-staging", "COST-PREFIX-DELEGATION", "nodegroup/api", "66.58", **web),
                finding("web-staging", "COST-IDLE-CAPACITY", "nodegroup/api", "33.29", **web),
            ],
            account="210987654321",
            region="eu-west-1",
            tags={"team": "web", "environment": "staging"},
        ),
    ]


def document(clusters, previous=None, *, run_id="r2", scope=FULL, unreachable=(), tag_keys=("team",)):
    return cost_document(
        run_id, f"2026-01-20T03:{run_id[-1]}0:00+00:00", clusters, previous, scope, list(unreachable), tag_keys
    )


def small(name, nodes="0.00", *, extended=False, findings=(), **where):
    """A cluster with a standard (or extended) control plane and one node line."""
    lines = [control_plane()]
    if extended:
        lines.append(line("control_plane", "extended", "extended", "1", "cluster", "0.50", "hour", US_EAST, "365.00"))
    lines.append(line("nodes", "general", "nodes", "1", "node", "0.10", "hour", US_EAST, nodes))
    status = {"status": "running", "from": "2026-01-01", "adds_monthly_usd": "365.00"} if extended else None
    return result(name, lines, findings, extended_support=status, **where)


# --- the document -------------------------------------------------------------------------------------------


def test_the_fleet_total_and_its_parts_are_the_sums_of_the_clusters_priced_lines():
    doc = document(demo_like_fleet())
    assert doc["monthly_usd"] == "2134.73"
    assert doc["by_part"] == {
        "control_plane": "730.00",
        "nodes": "1340.28",
        "fargate": "18.02",
        "storage": "30.00",
        "load_balancers": "16.43",
    }


def test_costs_are_grouped_by_account_region_and_tag_with_untagged_for_a_cluster_without_the_tag():
    doc = document(demo_like_fleet(), tag_keys=("team", "environment"))
    assert doc["by_account"] == {"123456789012": "1763.89", "210987654321": "370.84"}
    assert doc["by_region"] == {"eu-west-1": "1068.72", "us-west-2": "718.32", "us-east-1": "347.69"}
    assert list(doc["by_tag"]["team"].items()) == [
        ("data", "718.32"),
        ("ml", "697.88"),
        ("payments", "347.69"),
        ("web", "231.26"),
        ("untagged", "139.58"),
    ]
    assert doc["by_tag"]["environment"] == {"staging": "949.58", "untagged": "837.46", "production": "347.69"}


def test_the_document_travels_as_json_unchanged():
    doc = two_runs()
    assert json.loads(json.dumps(doc)) == doc


def test_clusters_are_listed_most_expensive_first():
    doc = document(demo_like_fleet())
    assert [c["cluster"] for c in doc["clusters"]] == [
        "analytics-staging",
        "ml-platform",
        "orders-prod",
        "web-staging",
        "edge-dev",
    ]


def test_findings_of_every_cluster_are_ranked_by_saving_then_cluster():
    ranked = [(f["cluster"], f["check_id"], f["monthly_saving_usd"]) for f in document(demo_like_fleet())["findings"]]
    assert ranked == [
        ("analytics-staging", "COST-EXTENDED-SUPPORT", "365.00"),
        ("ml-platform", "COST-IDLE-CAPACITY", "312.44"),
        ("edge-dev", "COST-NO-WORKLOADS", "139.58"),
        ("analytics-staging", "COST-SPOT-SHARE", "91.10"),
        ("web-staging", "COST-PREFIX-DELEGATION", "66.58"),
        ("edge-dev", "COST-IDLE-CAPACITY", "33.29"),  # same saving as web-staging's: the cluster decides
        ("web-staging", "COST-IDLE-CAPACITY", "33.29"),
        ("orders-prod", "COST-GP2-VOLUMES", "6.00"),
    ]


def test_findings_of_one_cluster_with_the_same_saving_are_ranked_by_check_and_unpriced_savings_come_last():
    fleet = [
        small(
            "a",
            "73.00",
            findings=[
                finding("a", "COST-SPOT-SHARE", "nodegroup/general", None),
                finding("a", "COST-SPOT-SHARE", "nodegroup/x", "10.00"),
                finding("a", "COST-IDLE-CAPACITY", "nodegroup/general", "10.00"),
            ],
        )
    ]
    ranked = [(f["check_id"], f["object"]) for f in document(fleet)["findings"]]
    assert ranked == [
        ("COST-IDLE-CAPACITY", "nodegroup/general"),
        ("COST-SPOT-SHARE", "nodegroup/x"),
        ("COST-SPOT-SHARE", "nodegroup/general"),
    ]


def test_the_possible_saving_counts_findings_on_one_object_once_and_no_cluster_saves_more_than_it_costs():
    # analytics 365.00 + 91.10; ml 312.44; edge-dev min(139.58 + 33.29, its 139.58); web-staging's two findings on
    # nodegroup/api overlap: the larger, 66.58; orders 6.00.
    assert document(demo_like_fleet())["possible_saving_usd"] == "980.70"


def test_cluster_wide_findings_add_up_and_a_surcharge_still_to_come_is_no_saving_today():
    fleet = [
        small(
            "a",
            "1000.00",
            extended=True,
            findings=[
                finding("a", "COST-EXTENDED-SUPPORT", "cluster/a", "365.00"),
                finding("a", "COST-SPOT-SHARE", "cluster/a", "222.65"),
            ],
        ),
        small("b", "1000.00", findings=[finding("b", "COST-EXTENDED-SUPPORT", "cluster/b", "365.00", status="WARN")]),
    ]
    assert document(fleet)["possible_saving_usd"] == "587.65"


def test_price_sources_name_the_parts_they_priced_and_the_clusters_on_the_snapshot_say_why():
    doc = document(demo_like_fleet())
    sources = {s["source"]: s["parts"] for s in doc["price_sources"]}
    assert sources == {
        US_EAST: ["control_plane", "fargate", "load_balancers", "nodes", "storage"],
        EU_CENTRAL: ["control_plane", "nodes"],
        SPOT_EU: ["nodes"],
        SNAPSHOT_EC2: ["nodes"],
        SNAPSHOT_EKS: ["control_plane"],
    }
    assert doc["price_notes"] == [{"note": SNAPSHOT_NOTE, "clusters": ["edge-dev"]}]
    assert [(s["cluster"], s["parts"], s["why"]) for s in doc["snapshot_clusters"]] == [
        ("edge-dev", ["control_plane", "nodes"], [SNAPSHOT_NOTE])
    ]


def test_items_nobody_could_price_are_listed_with_their_cluster():
    unpriced = document(demo_like_fleet())["unpriced"]
    assert [(u["cluster"], u["region"], u["item"]) for u in unpriced] == [
        ("edge-dev", "eu-west-1", "load_balancers network: no price for network load balancers in eu-west-1")
    ]


def test_the_first_run_has_no_trend_and_starts_the_history():
    doc = document(demo_like_fleet(), run_id="r1")
    trend = doc["trend"]
    assert trend["previous_run_id"] is None and trend["delta_usd"] is None and trend["delta_percent"] is None
    assert trend["new_clusters"] == trend["gone_clusters"] == trend["new_findings"] == [] == trend["resolved_findings"]
    assert trend["new_extended_support"] == []
    assert doc["history"] == [
        {"run_id": "r1", "generated_at": doc["generated_at"], "monthly_usd": "2134.73", "by_part": doc["by_part"]}
    ]


def test_the_second_run_gives_the_delta_overall_and_by_part_and_names_new_and_gone_clusters():
    first = document([small("a", "100.00"), small("b", "50.00")], run_id="r1")
    trend = document([small("a", "150.00"), small("c", "20.00")], first, run_id="r2")["trend"]
    # 296.00 → 316.00: +20.00, 20 / 296 = 6.756…%
    assert (trend["previous_run_id"], trend["previous_monthly_usd"], trend["monthly_usd"]) == ("r1", "296.00", "316.00")
    assert (trend["delta_usd"], trend["delta_percent"]) == ("20.00", "6.76")
    assert trend["by_part"]["control_plane"] == {
        "previous": "146.00",
        "now": "146.00",
        "delta_usd": "0.00",
        "delta_percent": "0.00",
    }
    assert trend["by_part"]["nodes"] == {
        "previous": "150.00",
        "now": "170.00",
        "delta_usd": "20.00",
        "delta_percent": "13.33",
    }
    assert trend["by_part"]["fargate"]["delta_percent"] is None  # nothing to compare with: no percentage
    assert [(c["cluster"], c["monthly_usd"]) for c in trend["new_clusters"]] == [("c", "93.00")]
    assert [(c["cluster"], c["monthly_usd"]) for c in trend["gone_clusters"]] == [("b", "123.00")]


def test_a_control_plane_that_entered_extended_support_or_a_new_cluster_born_in_it_is_a_new_charge():
    first = document([small("a"), small("old", extended=True)], run_id="r1")
    tonight = [small("a", extended=True), small("old", extended=True), small("fresh", extended=True), small("b")]
    new = document(tonight, first)["trend"]["new_extended_support"]
    assert [(c["cluster"], c["adds_monthly_usd"]) for c in new] == [("a", "365.00"), ("fresh", "365.00")]


def test_findings_are_new_or_resolved_only_on_clusters_both_runs_priced():
    first = document(
        [
            small(
                "a",
                findings=[
                    finding("a", "COST-IDLE-CAPACITY", "nodegroup/x", "5.00"),
                    finding("a", "COST-GP2-VOLUMES", "gp2", "1.00"),
                ],
            ),
            small("b", findings=[finding("b", "COST-NO-WORKLOADS", "cluster/b", "73.00", status="WARN")]),
        ],
        run_id="r1",
    )
    tonight = [
        small(
            "a",
            findings=[
                finding("a", "COST-GP2-VOLUMES", "gp2", "2.00"),
                finding("a", "COST-PREFIX-DELEGATION", "nodegroup/x", "7.00"),
            ],
        ),
        small("c", findings=[finding("c", "COST-IDLE-CAPACITY", "nodegroup/y", "9.00")]),
    ]
    trend = document(tonight, first)["trend"]
    assert [(f["cluster"], f["check_id"], f["object"]) for f in trend["new_findings"]] == [
        ("a", "COST-PREFIX-DELEGATION", "nodegroup/x")
    ]
    assert [(f["cluster"], f["check_id"], f["object"]) for f in trend["resolved_findings"]] == [
        ("a", "COST-IDLE-CAPACITY", "nodegroup/x")
    ]


def test_a_filtered_run_is_compared_with_the_same_clusters_of_the_last_full_run_and_does_not_replace_it():
    first = document([small("a", "100.00"), small("b", "50.00")], run_id="r1")
    scope = {"cluster_names": ["a"], "checks": [], "replaces_latest": False}
    doc = document([small("a", "110.00")], first, scope=scope)
    assert doc["scope"]["replaces_latest"] is False and "Filtered run" in render_cost_html(doc)
    trend = doc["trend"]
    assert trend["gone_clusters"] == [] and (trend["previous_monthly_usd"], trend["delta_usd"]) == ("173.00", "10.00")


def test_clusters_of_a_target_that_could_not_be_listed_are_not_seen_rather_than_gone():
    first = document([small("a", "100.00"), small("b", "50.00", region="eu-west-1", conn="aws_edge")], run_id="r1")
    unreachable = [{"aws_conn_id": "aws_edge", "region": "eu-west-1", "error": "EndpointConnectionError: timeout"}]
    doc = document([small("a", "100.00")], first, unreachable=unreachable)
    trend = doc["trend"]
    assert trend["gone_clusters"] == [] and [c["cluster"] for c in trend["not_seen"]] == ["b"]
    assert trend["delta_usd"] == "0.00"
    assert doc["unreachable_targets"] == unreachable


def test_the_history_keeps_the_last_30_runs():
    previous = document([small("a")], run_id="r0")
    previous["history"] = [
        {
            "run_id": f"r{i:02}",
            "generated_at": f"2026-01-{i % 28 + 1:02}T03:00:00+00:00",
            "monthly_usd": "73.00",
            "by_part": {},
        }
        for i in range(30)
    ]
    history = document([small("a")], previous, run_id="r9")["history"]
    assert len(history) == 30
    assert (history[0]["run_id"], history[-2]["run_id"], history[-1]["run_id"]) == ("r01", "r29", "r9")


def test_a_report_made_again_for_the_same_run_replaces_its_history_entry():
    first = document([small("a", "10.00")], run_id="r1")
    again = document([small("a", "20.00")], first, run_id="r1")
    assert [(h["run_id"], h["monthly_usd"]) for h in again["history"]] == [("r1", "93.00")]


# --- the page ----------------------------------------------------------------------------------------------


def two_runs() -> dict:
    first = document(demo_like_fleet(), run_id="r1")
    return document(demo_like_fleet(), first, run_id="r2")


def test_the_page_draws_the_cost_by_part_over_the_runs_as_an_inline_svg_and_loads_nothing_from_elsewhere():
    page = render_cost_html(two_runs())
    assert page.count("<svg") == 1
    chart = page[page.index("<svg") : page.index("</svg>")]
    assert all(label in chart for label in ("control plane", "nodes", "load balancers"))
    assert "http" not in page  # no namespace URL, no metadata link, no external asset
    assert not re.search(r"<(script|link|img|iframe)\b", page)


def test_a_url_the_fleet_gave_is_shown_as_text_never_linked():
    fleet = demo_like_fleet()
    url = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/index.json"
    fleet[2]["price_notes"] = [f"snapshot from {url}"]
    page = render_cost_html(document(fleet))
    assert f"snapshot from {url}" in page and "http" not in page.replace(url, "")
    assert not re.search(r"""(href|src)=["'](?!#)""", page)


def test_every_string_the_fleet_gave_is_escaped():
    fleet = demo_like_fleet()
    fleet[0]["tags"]["team"] = "<b>payments</b>"
    fleet[0]["lines"][1]["detail"] = '3 x m5.large <img src=x onerror="alert(1)">'
    fleet[0]["findings"][0]["detail"] = "gp2 & friends"
    page = render_cost_html(document(fleet))
    assert "<b>payments</b>" not in page and "&lt;b&gt;payments&lt;/b&gt;" in page
    assert "<img" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "gp2 &amp; friends" in page


def test_the_page_gives_the_total_and_its_trend_and_lists_findings_by_saving_with_evidence_and_remediation():
    page = render_cost_html(two_runs())
    assert "$2,134.73" in page and "+$0.00" in page
    findings = page[page.index('id="findings"') :]
    order = [
        findings.index(f"fix {check}") for check in ("COST-EXTENDED-SUPPORT", "COST-IDLE-CAPACITY", "COST-GP2-VOLUMES")
    ]
    assert order == sorted(order)
    assert "$980.70" in page  # the possible saving


def test_the_page_of_the_first_run_says_there_is_nothing_to_compare_with():
    page = render_cost_html(document(demo_like_fleet(), run_id="r1"))
    assert "first run" in page.lower() and "<svg" in page


def test_each_cluster_shows_its_lines_with_unit_price_and_source_and_what_was_not_priced():
    fleet = demo_like_fleet()
    fleet[4]["extended_support"] = {"status": "coming", "from": "2026-03-23", "adds_monthly_usd": "365.00"}
    page = render_cost_html(document(fleet))
    assert "enters extended support on 2026-03-23: +$365.00 per month" in page
    assert "in extended support since 2025-12-01: +$365.00 per month" in page
    assert "$0.096 per hour" in page and US_EAST in page
    assert "not priced" in page and "no price for network load balancers in eu-west-1" in page
    assert "1 item(s) not priced or not read" in page  # edge-dev's total in the clusters table leaves it out
    assert SNAPSHOT_NOTE in page


# --- CSV ---------------------------------------------------------------------------------------------------


def test_the_csv_files_parse_back_one_row_per_cluster_line_and_one_per_finding():
    doc = document(demo_like_fleet())
    files = render_cost_csv(doc)
    costs = list(csv.DictReader(io.StringIO(files["costs.csv"])))
    assert len(costs) == sum(len(c["lines"]) for c in doc["clusters"]) == 17
    nodes = next(row for row in costs if row["cluster"] == "orders-prod" and row["part"] == "nodes")
    assert (nodes["account"], nodes["region"], nodes["item"], nodes["quantity"], nodes["unit"]) == (
        "123456789012",
        "us-east-1",
        "general",
        "3",
        "node",
    )
    assert (nodes["unit_price_usd"], nodes["price_unit"], nodes["source"], nodes["monthly_usd"]) == (
        "0.096",
        "hour",
        US_EAST,
        "210.24",
    )
    unpriced = next(row for row in costs if row["item"] == "network")
    assert unpriced["unit_price_usd"] == "" and unpriced["monthly_usd"] == ""
    findings = list(csv.DictReader(io.StringIO(files["findings.csv"])))
    assert [(row["cluster"], row["check_id"], row["monthly_saving_usd"]) for row in findings][:2] == [
        ("analytics-staging", "COST-EXTENDED-SUPPORT", "365.00"),
        ("ml-platform", "COST-IDLE-CAPACITY", "312.44"),
    ]
    assert len(findings) == 8 and findings[0]["remediation"] == "fix COST-EXTENDED-SUPPORT"


# --- why to notify, and the run's note ---------------------------------------------------------------------


def test_a_rise_above_the_threshold_is_a_reason_to_notify_and_one_below_is_not():
    first = document([small("a", "100.00"), small("b", "50.00")], run_id="r1")
    doc = document([small("a", "150.00"), small("c", "20.00")], first)  # +6.76 %
    [reason] = cost_alerts(doc, Decimal("5"))
    assert "6.76" in reason and "$296.00" in reason and "$316.00" in reason
    assert cost_alerts(doc, Decimal("10")) == []


def test_the_first_run_and_a_falling_cost_are_no_reason_to_notify():
    assert cost_alerts(document([small("a", "100.00")], run_id="r1"), Decimal("0")) == []
    first = document([small("a", "100.00")], run_id="r1")
    assert cost_alerts(document([small("a", "50.00")], first), Decimal("0")) == []


def test_a_new_extended_support_charge_is_a_reason_to_notify_naming_the_cluster():
    first = document([small("a", "100.00"), small("b", "100.00")], run_id="r1")
    doc = document([small("a", "100.00", extended=True), small("b", "100.00")], first)
    reasons = cost_alerts(doc, Decimal("1000"))
    assert len(reasons) == 1 and "extended support" in reasons[0] and "a (us-east-1" in reasons[0]


def test_the_summary_gives_total_delta_top_saving_unpriced_count_and_snapshot_use():
    summary = cost_summary(two_runs())
    assert "$2,134.73" in summary and "+$0.00" in summary
    assert "analytics-staging COST-EXTENDED-SUPPORT $365.00" in summary
    assert "1 item(s) not priced" in summary and "snapshot prices: edge-dev" in summary
    assert "\n" not in summary


def test_every_key_of_the_document_is_documented_in_the_interfaces():
    text = (REPO / "docs" / "interfaces.md").read_text()
    body = text[text.index("### The cost audit's report") :]
    body = body[: body.index("\n## ")]
    documented = {name for row in re.findall(r"^\| (.+?) \|", body, re.M) for name in re.findall(r"`(\w+)`", row)} | {
        "schema_version"
    }
    assert documented == set(two_runs())


def test_the_summary_names_at_most_five_clusters_on_the_snapshot():
    fleet = [small(f"c{i}", region="eu-west-1") for i in range(7)]
    for cluster in fleet:
        cluster["lines"][0]["unit_price"]["source"] = SNAPSHOT_EKS
    assert "snapshot prices: c0, c1, c2, c3, c4 and 2 more" in cost_summary(document(fleet))


def test_a_part_whose_facts_could_not_be_read_is_not_known_on_the_page_and_left_out_of_the_fleet_total():
    dev = small("dev", "0.00")
    dev["lines"] = dev["lines"][:1]
    dev["by_part"]["nodes"] = None  # costing: the kubernetes facts could not be read
    dev["monthly_usd"] = "73.00"
    dev["unpriced"] = ["nodes: not known, its facts could not be read (kubernetes: Unauthorized)"]
    dev["errors"] = {"kubernetes": "Unauthorized"}
    doc = document([dev, small("a", "100.00")])
    assert (doc["monthly_usd"], doc["by_part"]["nodes"]) == ("246.00", "100.00")
    page = render_cost_html(doc)
    assert "<td class='n'>not known</td>" in page and "Could not read kubernetes: Unauthorized" in page
    assert "2 item(s) not priced or not read" in page


def test_a_night_when_no_target_could_be_listed_still_gives_a_page_a_summary_and_csv_headers():
    unreachable = [{"aws_conn_id": "aws_default", "region": "us-east-1", "error": "EndpointConnectionError: timeout"}]
    first = document([small("a", "100.00")], run_id="r1")
    doc = document([], first, unreachable=unreachable)
    assert doc["monthly_usd"] == "0.00" and [c["cluster"] for c in doc["trend"]["not_seen"]] == ["a"]
    assert "EndpointConnectionError: timeout" in render_cost_html(doc)
    assert "1 target region(s) unreachable" in cost_summary(doc)
    assert cost_alerts(doc, Decimal("5")) == []
    assert render_cost_csv(doc)["findings.csv"].startswith("rank,account,region,cluster,check_id")


def test_the_report_files_are_the_json_document_the_page_and_the_two_csv_files():
    doc = two_runs()
    files = cost_report_files(doc)
    assert set(files) == {"report.json", "report.html", "costs.csv", "findings.csv"}
    assert json.loads(files["report.json"]) == doc and files["report.html"].startswith("<!doctype html>")


def test_a_cluster_not_costed_last_night_is_not_compared_tonight_and_one_not_costed_tonight_is_not_gone():
    from eks_runbooks.core.cost.report import cost_alerts, cost_document

    missing = lambda name: {"cluster": name, "region": "us-east-1", "aws_conn_id": "aws_default", "reason": "x"}  # noqa: E731
    last = cost_document(
        "r1", "2026-01-19T03:00:00+00:00", [small("b", "100.00")], None, FULL, [], not_costed=[missing("a")]
    )
    tonight = cost_document(
        "r2", "2026-01-20T03:00:00+00:00", [small("a", "100.00")], last, FULL, [], not_costed=[missing("b")]
    )
    trend = tonight["trend"]
    assert [c["cluster"] for c in trend["not_compared"]] == ["a"]
    assert [c["cluster"] for c in trend["not_seen"]] == ["b"]
    assert trend["new_clusters"] == trend["gone_clusters"] == []
    assert trend["delta_usd"] == "0.00"
    assert cost_alerts(tonight, Decimal(10)) == []
