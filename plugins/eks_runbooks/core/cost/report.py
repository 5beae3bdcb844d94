"""The cost audit's report: the JSON document every night keeps, the page and the CSV files a person reads, and why
to notify.

Input: one result per cluster (``costing.ClusterCost.to_dict()`` plus its ``findings``). The document adds the
fleet's totals (by part, account, region, tag), the findings of every cluster ranked by monthly saving, where each
price came from, what nobody could price, the trend against the last full run and the history the chart draws.
Amounts are ``Decimal`` while computed and strings with two decimals in the document ("73.00").
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from typing import Any

#: The parts of a cluster's cost, in the order the report shows them (``by_part`` has every one).
PARTS = ("control_plane", "nodes", "fargate", "storage", "load_balancers")
PART_COLOURS = {
    "control_plane": "#5e35b1",
    "nodes": "#1e88e5",
    "fargate": "#00897b",
    "storage": "#f9a825",
    "load_balancers": "#e64a19",
}
#: Runs the chart draws: a month of nightly runs.
HISTORY_RUNS = 30
#: The tag value a cluster without the tag is counted under.
UNTAGGED = "untagged"
#: How the sources of prices read from the product's dated snapshot begin (``core/cost/price_list.snapshot_prices``).
SNAPSHOT_SOURCE_PREFIX = "price snapshot"
EXTENDED_SUPPORT_CHECK = "COST-EXTENDED-SUPPORT"
_CENT = Decimal("0.01")
_ZERO = Decimal("0")

ClusterKey = tuple[str, str, str]


def cost_document(
    run_id: str,
    generated_at: str,
    clusters: Sequence[Mapping[str, Any]],
    previous: Mapping[str, Any] | None,
    scope: Mapping[str, Any],
    unreachable: Sequence[Mapping[str, str]],
    tag_keys: Sequence[str] = ("team",),
    not_costed: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """The night's cost report, with its trend against the last full run's document (None on the first run).

    :param scope: the run's filters as ``core/audit/report.audit_scope`` gives them; a filtered run is compared
        with the same clusters of the last full run and does not replace it.
    :param unreachable: targets discovery could not list (``{"aws_conn_id", "region", "error"}``): their clusters
        are "not seen", not gone.
    :param tag_keys: the cluster tags costs are also grouped by (``team``, ``cost-center`` ...).
    :param not_costed: clusters discovery listed whose facts could not be read at all
        (``{"cluster", "region", "aws_conn_id", "reason"}``): named in the report, in no total.
    """
    ordered = [dict(c) for c in sorted(clusters, key=lambda c: (-_usd(c["monthly_usd"]), *_key(c)))]
    by_part = _sum_parts(ordered)
    this_run = {"run_id": run_id, "generated_at": generated_at, "monthly_usd": _money(_total(ordered))}
    this_run["by_part"] = {part: _money(value) for part, value in by_part.items()}
    earlier = [entry for entry in (previous or {}).get("history") or [] if entry.get("run_id") != run_id]
    return {
        "schema_version": 1,
        "run_id": run_id,
        "generated_at": generated_at,
        "scope": dict(scope),
        "unreachable_targets": [dict(target) for target in unreachable],
        "not_costed": [dict(cluster) for cluster in not_costed],
        "notifications": [],  # what became of the night's alert, once it was sent (tasks/cost.py)
        "monthly_usd": this_run["monthly_usd"],
        "by_part": this_run["by_part"],
        "by_account": _grouped(ordered, lambda c: c.get("account") or "unknown"),
        "by_region": _grouped(ordered, lambda c: c["region"]),
        "by_tag": {key: _grouped(ordered, _tag_value(key)) for key in tag_keys},
        "clusters": ordered,
        "findings": ranked_findings(ordered),
        "possible_saving_usd": _money(sum((_cluster_saving(c) for c in ordered), _ZERO)),
        "price_sources": _price_sources(ordered),
        "price_notes": _price_notes(ordered),
        "snapshot_clusters": _snapshot_clusters(ordered),
        "unpriced": [{**_where(c), "item": item} for c in ordered for item in c.get("unpriced") or []],
        "trend": cost_trend(previous, ordered, scope, unreachable, not_costed),
        "history": [*earlier, this_run][-HISTORY_RUNS:],
    }


def cost_report_files(document: Mapping[str, Any]) -> dict[str, str]:
    """Every file of the night's report, by name: ``report.json``, ``report.html``, ``costs.csv``,
    ``findings.csv`` — what ``<reports base>/eks_cost_audit/<run id>/`` (and ``latest/`` after a full run) holds."""
    return {
        "report.json": json.dumps(document, indent=2) + "\n",
        "report.html": render_cost_html(document),
        **render_cost_csv(document),
    }


def ranked_findings(clusters: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every cluster's findings, the largest monthly saving first (one nobody could price last); ties by cluster,
    then check, then object."""
    findings = [dict(finding) for cluster in clusters for finding in cluster.get("findings") or []]
    return sorted(
        findings,
        key=lambda f: (
            -_usd(f.get("monthly_saving_usd"), missing=Decimal(-1)),
            f["cluster"],
            f["check_id"],
            f.get("object") or "",
        ),
    )


def _cluster_saving(cluster: Mapping[str, Any]) -> Decimal:
    """What acting on a cluster's findings could save at most, today: findings on one node group overlap (an idle
    node group whose pods prefix delegation would also pack), so only the largest counts; cluster-wide findings
    (extended support, spot share) each count; a surcharge still to come is no saving today; and no cluster saves
    more than it costs (a cluster without workloads saves its whole cost)."""
    largest: dict[str, Decimal] = defaultdict(Decimal)
    for finding in cluster.get("findings") or []:
        if finding["check_id"] == EXTENDED_SUPPORT_CHECK and finding.get("status") != "FAIL":
            continue  # "coming": avoidable from a date, not billed yet
        obj = finding.get("object") or ""
        overlap = finding["check_id"] if obj.startswith("cluster/") else obj
        largest[overlap] = max(largest[overlap], _usd(finding.get("monthly_saving_usd")))
    return min(sum(largest.values(), _ZERO), _usd(cluster["monthly_usd"]))


def _total(clusters: Iterable[Mapping[str, Any]]) -> Decimal:
    return sum((_usd(cluster["monthly_usd"]) for cluster in clusters), _ZERO)


def _sum_parts(clusters: Iterable[Mapping[str, Any]]) -> dict[str, Decimal]:
    totals = dict.fromkeys(PARTS, _ZERO)
    for cluster in clusters:
        for part, amount in (cluster.get("by_part") or {}).items():
            totals[part] = totals.get(part, _ZERO) + _usd(amount)
    return totals


def _grouped(clusters: Iterable[Mapping[str, Any]], group_of: Callable[[Mapping[str, Any]], str]) -> dict[str, str]:
    """group → monthly USD, the most expensive group first."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for cluster in clusters:
        totals[group_of(cluster)] += _usd(cluster["monthly_usd"])
    return {group: _money(total) for group, total in sorted(totals.items(), key=lambda item: (-item[1], item[0]))}


def _tag_value(key: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda cluster: (cluster.get("tags") or {}).get(key) or UNTAGGED


def _price_sources(clusters: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every distinct source of a unit price, with the parts it priced and how many clusters used it."""
    parts: dict[str, set[str]] = defaultdict(set)
    users: dict[str, set[ClusterKey]] = defaultdict(set)
    for cluster in clusters:
        for line in cluster.get("lines") or []:
            if line.get("unit_price"):
                parts[line["unit_price"]["source"]].add(line["part"])
                users[line["unit_price"]["source"]].add(_key(cluster))
    return [{"source": s, "parts": sorted(parts[s]), "clusters": len(users[s])} for s in sorted(parts)]


def _price_notes(clusters: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each distinct note on the prices (the API refused, the snapshot's date), with the clusters it concerns."""
    named: dict[str, list[str]] = defaultdict(list)
    for cluster in clusters:
        for note in cluster.get("price_notes") or []:
            named[note].append(cluster["cluster"])
    return [{"note": note, "clusters": sorted(set(names))} for note, names in sorted(named.items())]


def _snapshot_clusters(clusters: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The clusters priced (partly) from the dated snapshot rather than the Price List, the parts, and why."""
    found = []
    for cluster in clusters:
        parts = sorted(
            {
                line["part"]
                for line in cluster.get("lines") or []
                if (line.get("unit_price") or {}).get("source", "").startswith(SNAPSHOT_SOURCE_PREFIX)
            }
        )
        if parts:
            found.append({**_where(cluster), "parts": parts, "why": list(cluster.get("price_notes") or [])})
    return sorted(found, key=lambda c: (c["account"], c["region"], c["cluster"]))


# --- the trend -----------------------------------------------------------------------------------------------


def cost_trend(
    previous: Mapping[str, Any] | None,
    clusters: Sequence[Mapping[str, Any]],
    scope: Mapping[str, Any],
    unreachable: Sequence[Mapping[str, str]],
    not_costed: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """What changed since the last full run, over the clusters both runs priced whole.

    The previous run's clusters this run did not ask for (``cluster_names``) are left out of the comparison; those
    whose target could not be listed tonight, or whose facts could not be read, are "not seen", not gone. A cluster
    new tonight adds to the delta; its findings are not "new" (nothing to compare them with) but an
    extended-support charge it was born with is. A cluster with a part not known in either run, or not costed in
    the last one, is "not compared": a hole in the figures is no change in cost.
    """
    if previous is None:
        return _no_trend()
    now_all = {_key(c): c for c in clusters}
    asked = set(scope.get("cluster_names") or [])
    lost = {(t["aws_conn_id"], t["region"]) for t in unreachable}
    unread_now = {(c["aws_conn_id"], c["region"], c["cluster"]) for c in not_costed}
    unread_then = {(c["aws_conn_id"], c["region"], c["cluster"]) for c in previous.get("not_costed") or []}
    before_all = {_key(c): c for c in previous.get("clusters") or [] if not asked or c["cluster"] in asked}
    not_seen = {
        key: c for key, c in before_all.items() if key not in now_all and (key[:2] in lost or key in unread_now)
    }
    unknown = {key for key, c in [*before_all.items(), *now_all.items()] if None in (c.get("by_part") or {}).values()}
    skipped = unknown | (unread_then & set(now_all))
    before = {key: c for key, c in before_all.items() if key not in not_seen and key not in skipped}
    now = {key: c for key, c in now_all.items() if key not in skipped}
    then_parts, now_parts = _sum_parts(before.values()), _sum_parts(now.values())
    then_total, now_total = _total(before.values()), _total(now.values())
    return {
        "previous_run_id": previous.get("run_id"),
        "previous_generated_at": previous.get("generated_at"),
        "previous_monthly_usd": _money(then_total),
        "monthly_usd": _money(now_total),
        "delta_usd": _money(now_total - then_total),
        "delta_percent": _percent(now_total - then_total, then_total),
        "by_part": {part: _change(then_parts.get(part, _ZERO), now_parts.get(part, _ZERO)) for part in now_parts},
        "new_clusters": _listed(c for key, c in now.items() if key not in before_all),
        "gone_clusters": _listed(c for key, c in before.items() if key not in now_all),
        "not_seen": _listed(not_seen.values()),
        "not_compared": _listed(c for key, c in now_all.items() if key in skipped),
        "new_extended_support": _new_extended(before_all, now_all),
        **_finding_changes(before, now),
    }


def _no_trend() -> dict[str, Any]:
    empty: dict[str, Any] = {
        name: [] for name in ("new_clusters", "gone_clusters", "not_seen", "not_compared", "new_extended_support")
    }
    return {
        "previous_run_id": None,
        "previous_generated_at": None,
        "previous_monthly_usd": None,
        "monthly_usd": None,
        "delta_usd": None,
        "delta_percent": None,
        "by_part": {},
        **empty,
        "new_findings": [],
        "resolved_findings": [],
    }


def _change(then: Decimal, now: Decimal) -> dict[str, str | None]:
    return {
        "previous": _money(then),
        "now": _money(now),
        "delta_usd": _money(now - then),
        "delta_percent": _percent(now - then, then),
    }


def _new_extended(
    before: Mapping[ClusterKey, Mapping[str, Any]], now: Mapping[ClusterKey, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Clusters whose control plane is billed for extended support tonight and was not at the last full run."""
    return _listed(
        (
            {**c, "adds_monthly_usd": c["extended_support"].get("adds_monthly_usd")}
            for key, c in now.items()
            if _extended_running(c) and not (key in before and _extended_running(before[key]))
        ),
        extra=("adds_monthly_usd",),
    )


def _extended_running(cluster: Mapping[str, Any]) -> bool:
    return (cluster.get("extended_support") or {}).get("status") == "running"


def _finding_changes(
    before: Mapping[ClusterKey, Mapping[str, Any]], now: Mapping[ClusterKey, Mapping[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Findings that appeared or went away on the clusters both runs priced, by (check, object)."""
    both = before.keys() & now.keys()

    def keyed(clusters: Mapping[ClusterKey, Mapping[str, Any]]) -> dict[tuple, Mapping[str, Any]]:
        return {
            (*key, f["check_id"], f.get("object") or ""): f for key in both for f in clusters[key].get("findings") or []
        }

    then, tonight = keyed(before), keyed(now)
    return {
        "new_findings": [_finding_ref(tonight[k]) for k in sorted(tonight.keys() - then.keys())],
        "resolved_findings": [_finding_ref(then[k]) for k in sorted(then.keys() - tonight.keys())],
    }


def _finding_ref(finding: Mapping[str, Any]) -> dict[str, Any]:
    fields = ("account", "region", "cluster", "check_id", "object", "status", "monthly_saving_usd")
    return {name: finding.get(name) for name in fields}


def _listed(clusters: Iterable[Mapping[str, Any]], extra: Sequence[str] = ("monthly_usd",)) -> list[dict[str, Any]]:
    rows = [{**_where(c), **{name: c.get(name) for name in extra}} for c in clusters]
    return sorted(rows, key=lambda c: (c["account"], c["region"], c["cluster"]))


# --- why to notify, the run's note ---------------------------------------------------------------------------


def cost_alerts(document: Mapping[str, Any], threshold_percent: Decimal) -> list[str]:
    """Reasons to tell someone: the fleet's monthly cost rose more than ``threshold_percent`` since the last full
    run, or a control plane started being billed for extended support. Empty on the first run.

    The caller sends them from full runs only: a filtered run is compared with the same baseline as the next full
    one, which would tell the same rise twice."""
    trend = document["trend"]
    if trend["previous_run_id"] is None:
        return []
    reasons = []
    then, delta = _usd(trend["previous_monthly_usd"]), _usd(trend["delta_usd"])
    risen = delta > 0 and (then == 0 or _usd(trend["delta_percent"]) > _usd(threshold_percent))
    if risen:
        percent = f"{trend['delta_percent']} %" if trend["delta_percent"] is not None else "from nothing"
        reasons.append(
            f"The fleet's monthly cost rose {percent} (threshold {threshold_percent} %) since run "
            f"{trend['previous_run_id']}: {_dollars(trend['previous_monthly_usd'])} → "
            f"{_dollars(trend['monthly_usd'])} ({_signed(trend['delta_usd'])} per month)"
        )
    if trend["new_extended_support"]:
        named = ", ".join(
            f"{c['cluster']} ({c['region']}, {c['account']}, +{_dollars(c['adds_monthly_usd'])}/month)"
            for c in trend["new_extended_support"]
        )
        reasons.append(
            f"New extended support charge on {len(trend['new_extended_support'])} cluster(s): {named}. "
            "Upgrade to a version in standard support to stop it."
        )
    return reasons


def cost_summary(document: Mapping[str, Any]) -> str:
    """One line for the run's note and the log: total, change, the top saving, what was not priced or came from
    the snapshot."""
    trend, findings = document["trend"], document["findings"]
    parts = [f"Cost audit: {len(document['clusters'])} cluster(s), {_dollars(document['monthly_usd'])}/month"]
    if trend["previous_run_id"] is None:
        parts.append("first run, nothing to compare with")
    else:
        percent = f", {_signed_percent(trend['delta_percent'])}" if trend["delta_percent"] is not None else ""
        parts.append(f"{_signed(trend['delta_usd'])}{percent} since {trend['previous_run_id']}")
    if findings:
        top = findings[0]
        parts.append(
            f"top saving {top['cluster']} {top['check_id']} {_dollars(top.get('monthly_saving_usd'))}; "
            f"possible saving {_dollars(document['possible_saving_usd'])}"
        )
    parts.append(f"{len(document['unpriced'])} item(s) not priced")
    if document["snapshot_clusters"]:
        parts.append("snapshot prices: " + _first_names([c["cluster"] for c in document["snapshot_clusters"]]))
    if document.get("unreachable_targets"):
        parts.append(f"{len(document['unreachable_targets'])} target region(s) unreachable")
    if not document["scope"].get("replaces_latest", True):
        parts.append("filtered (cluster_names=" + ", ".join(document["scope"]["cluster_names"]) + ")")
    return "; ".join(parts)


def _first_names(names: Sequence[str], shown: int = 5) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


# --- CSV -------------------------------------------------------------------------------------------------------

COST_COLUMNS = (
    "account",
    "region",
    "cluster",
    "part",
    "item",
    "detail",
    "quantity",
    "unit",
    "unit_price_usd",
    "price_unit",
    "source",
    "monthly_usd",
)
FINDING_COLUMNS = (
    "rank",
    "account",
    "region",
    "cluster",
    "check_id",
    "title",
    "severity",
    "status",
    "object",
    "monthly_saving_usd",
    "detail",
    "remediation",
)


def render_cost_csv(document: Mapping[str, Any]) -> dict[str, str]:
    """``costs.csv`` (one row per cluster and line; an empty price is one nobody could give) and ``findings.csv``
    (one row per finding, ranked by saving), for a spreadsheet."""
    costs = [
        {
            **{name: cluster.get(name) for name in ("account", "region", "cluster")},
            **{name: line.get(name) for name in ("part", "item", "detail", "quantity", "unit", "monthly_usd")},
            "unit_price_usd": (line.get("unit_price") or {}).get("usd"),
            "price_unit": (line.get("unit_price") or {}).get("unit"),
            "source": (line.get("unit_price") or {}).get("source"),
        }
        for cluster in document["clusters"]
        for line in cluster.get("lines") or []
    ]
    findings = [{**finding, "rank": rank} for rank, finding in enumerate(document["findings"], start=1)]
    return {"costs.csv": _csv(COST_COLUMNS, costs), "findings.csv": _csv(FINDING_COLUMNS, findings)}


def _csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({name: "" if row.get(name) is None else row[name] for name in columns} for row in rows)
    return out.getvalue()


# --- the page --------------------------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:sans-serif;margin:1em 2em;max-width:1400px}table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #ccc;padding:4px 6px;font-size:13px;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere}td.n,th.n{text-align:right;white-space:nowrap}"
    ".headline{font-size:20px}.up{color:#c62828}.down{color:#2e7d32}"
    ".groups{display:flex;flex-wrap:wrap;gap:2em}.chart svg{max-width:100%;height:auto}"
    "details{margin:.3em 0}summary{cursor:pointer}"
    "td.s{color:#fff;text-align:center;font-weight:bold;font-size:11px}"
    "table.wide{table-layout:fixed;width:100%}"
)
STATUS_COLOURS = {"FAIL": "#c62828", "WARN": "#ef6c00", "INFO": "#1565c0"}


def render_cost_html(document: Mapping[str, Any]) -> str:
    """One self-contained page (no script, no external asset; the chart is inline SVG): the total and its trend,
    the cost by part over the runs, the groupings, the findings ranked by saving, every cluster's lines with their
    prices and sources, the price sources and notes, and what nobody could price."""
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>EKS cost audit {escape(document['run_id'])}</title>",
            f"<style>{_STYLE}</style></head><body>",
            "<h1>EKS cost audit</h1>",
            _headline_html(document),
            _scope_html(document),
            '<h2>Monthly cost by part, run by run</h2><div class="chart">',
            cost_chart_svg(document["history"]),
            "</div>",
            _parts_html(document),
            _changes_html(document["trend"]),
            _groups_html(document),
            '<h2 id="findings">Findings, by monthly saving</h2>',
            _findings_html(document),
            "<h2>Clusters, most expensive first</h2>",
            _clusters_html(document["clusters"]),
            "<h2>Where the prices came from</h2>",
            _sources_html(document),
            "<h2>Not priced</h2>",
            _unpriced_html(document["unpriced"]),
            "</body></html>",
        ]
    )


def _headline_html(document: Mapping[str, Any]) -> str:
    trend = document["trend"]
    total = (
        f'<p class="headline"><strong>{_dollars(document["monthly_usd"])}</strong> per month (730 hours) for '
        f"{len(document['clusters'])} cluster(s)"
    )
    if trend["previous_run_id"] is None:
        change = ". First run: nothing to compare with yet.</p>"
    else:
        percent = f", {_signed_percent(trend['delta_percent'])}" if trend["delta_percent"] is not None else ""
        change = (
            f', <span class="{_direction(trend["delta_usd"])}">{_signed(trend["delta_usd"])}{percent}</span> since '
            f"run {escape(trend['previous_run_id'])} ({_dollars(trend['previous_monthly_usd'])} for the same "
            "clusters).</p>"
        )
    return (
        f"<p>Run {escape(document['run_id'])}, generated {escape(document['generated_at'])}.</p>{total}{change}"
        f"<p>Acting on every finding could save up to <strong>{_dollars(document['possible_saving_usd'])}"
        "</strong> per month (findings on one object overlap: the largest counts once).</p>"
    )


def _scope_html(document: Mapping[str, Any]) -> str:
    html = ""
    scope = document["scope"]
    if not scope.get("replaces_latest", True):
        html += (
            f"<p><strong>Filtered run</strong> (cluster_names: {escape(', '.join(scope['cluster_names']))}): "
            "compared with the same clusters of the last full run, and not kept as the baseline of the next one.</p>"
        )
    if document.get("unreachable_targets"):
        items = "".join(
            f"<li>{escape(t['aws_conn_id'])} in {escape(t['region'])}: {escape(t['error'])}</li>"
            for t in document["unreachable_targets"]
        )
        html += f"<h3>Targets that could not be listed (their clusters are not in this report)</h3><ul>{items}</ul>"
    if document.get("not_costed"):
        items = "".join(
            f"<li>{escape(c['cluster'])} ({escape(c['aws_conn_id'])}, {escape(c['region'])}): "
            f"{escape(c['reason'])}</li>"
            for c in document["not_costed"]
        )
        html += f"<h3>Clusters not costed (in no total)</h3><ul>{items}</ul>"
    return html


def _parts_html(document: Mapping[str, Any]) -> str:
    trend = document["trend"]
    rows = "".join(
        f"<tr><td>{_part_name(part)}</td><td class='n'>{_dollars(amount)}</td>"
        + (_change_cells(trend["by_part"].get(part)) if trend["previous_run_id"] else "")
        + "</tr>"
        for part, amount in document["by_part"].items()
    )
    head = "<th class='n'>previous</th><th class='n'>change</th>" if trend["previous_run_id"] else ""
    return f"<table><tr><th>part</th><th class='n'>per month</th>{head}</tr>{rows}</table>"


def _change_cells(change: Mapping[str, Any] | None) -> str:
    if not change:
        return "<td></td><td></td>"
    percent = f" ({_signed_percent(change['delta_percent'])})" if change["delta_percent"] is not None else ""
    return (
        f"<td class='n'>{_dollars(change['previous'])}</td>"
        f"<td class='n {_direction(change['delta_usd'])}'>{_signed(change['delta_usd'])}{percent}</td>"
    )


def _changes_html(trend: Mapping[str, Any]) -> str:
    if trend["previous_run_id"] is None:
        return ""
    sections = (
        (
            "New extended-support charges",
            trend["new_extended_support"],
            lambda c: f"+{_dollars(c['adds_monthly_usd'])}",
        ),
        ("New clusters", trend["new_clusters"], lambda c: _dollars(c["monthly_usd"])),
        ("Gone since then", trend["gone_clusters"], lambda c: f"was {_dollars(c['monthly_usd'])}"),
        (
            "Not seen (their target could not be listed)",
            trend["not_seen"],
            lambda c: f"was {_dollars(c['monthly_usd'])}",
        ),
        ("New findings", trend["new_findings"], _finding_line),
        ("Resolved findings", trend["resolved_findings"], _finding_line),
    )
    html = f"<h2>Since run {escape(trend['previous_run_id'])}</h2>"
    for title, items, describe in sections:
        listed = "".join(
            f"<li>{escape(item['cluster'])} ({escape(item['region'])}, {escape(item['account'])}): "
            f"{describe(item)}</li>"
            for item in items
        )
        html += f"<h3>{title}</h3><ul>{listed or '<li>none</li>'}</ul>"
    return html


def _finding_line(finding: Mapping[str, Any]) -> str:
    return (
        f"{escape(finding['check_id'])} on {escape(finding.get('object') or '')} "
        f"({_dollars(finding.get('monthly_saving_usd'))} per month)"
    )


def _groups_html(document: Mapping[str, Any]) -> str:
    tables = [("account", document["by_account"], lambda c: c.get("account") or "unknown")]
    tables.append(("region", document["by_region"], lambda c: c["region"]))
    tables += [(f"tag {key}", groups, _tag_value(key)) for key, groups in document["by_tag"].items()]
    html = ""
    for title, groups, group_of in tables:
        counts: dict[str, int] = defaultdict(int)
        for cluster in document["clusters"]:
            counts[group_of(cluster)] += 1
        rows = "".join(
            f"<tr><td>{escape(group)}</td><td class='n'>{counts[group]}</td><td class='n'>{_dollars(amount)}</td></tr>"
            for group, amount in groups.items()
        )
        html += (
            f"<table><tr><th>{escape(title)}</th><th class='n'>clusters</th><th class='n'>per month</th></tr>"
            f"{rows}</table>"
        )
    return f'<h2>By account, region and tag</h2><div class="groups">{html}</div>'


def _findings_html(document: Mapping[str, Any]) -> str:
    if not document["findings"]:
        return "<p>No finding: nothing to save that the checks know of.</p>"
    rows = "".join(
        f"<tr><td class='n'>{rank}</td><td class='n'>{_dollars(f.get('monthly_saving_usd'))}</td>"
        f"<td>{escape(f['cluster'])}<br><small>{escape(f['account'])} · {escape(f['region'])}</small></td>"
        f"<td>{escape(f['check_id'])}<br><small>{escape(f.get('title') or '')}</small></td>{_badge(f['status'])}"
        f"<td>{escape(f.get('object') or '')}</td><td>{escape(f.get('detail') or '')}</td>"
        f"<td>{escape(f.get('remediation') or '')}</td></tr>"
        for rank, f in enumerate(document["findings"], start=1)
    )
    return (
        '<table class="wide"><colgroup><col style="width:3%"><col style="width:7%"><col style="width:11%">'
        '<col style="width:13%"><col style="width:5%"><col style="width:11%"><col style="width:26%">'
        '<col style="width:24%"></colgroup><tr><th>#</th><th class="n">saving per month</th><th>cluster</th>'
        f"<th>check</th><th>status</th><th>object</th><th>evidence</th><th>remediation</th></tr>{rows}</table>"
    )


def _clusters_html(clusters: Sequence[Mapping[str, Any]]) -> str:
    header = "".join(f"<th class='n'>{_part_name(part)}</th>" for part in PARTS)
    rows = "".join(
        f"<tr><td>{escape(c['cluster'])}{_incomplete(c)}</td><td>{escape(c.get('account') or '')}</td>"
        f"<td>{escape(c['region'])}</td>"
        f"<td>{escape(str(c.get('version') or '?'))}</td>"
        + "".join(f"<td class='n'>{_part_amount(c, part)}</td>" for part in PARTS)
        + f"<td class='n'><strong>{_dollars(c['monthly_usd'])}</strong></td></tr>"
        for c in clusters
    )
    table = (
        f"<table><tr><th>cluster</th><th>account</th><th>region</th><th>version</th>{header}"
        f"<th class='n'>per month</th></tr>{rows}</table>"
    )
    return table + "<h3>Lines</h3>" + "".join(_cluster_lines_html(c) for c in clusters)


def _part_amount(cluster: Mapping[str, Any], part: str) -> str:
    """A part's amount; a part whose facts could not be read (null in ``by_part``) is not known, not $0."""
    by_part = cluster.get("by_part") or {}
    if part in by_part and by_part[part] is None:
        return "not known"
    return _dollars(by_part.get(part, "0"))


def _incomplete(cluster: Mapping[str, Any]) -> str:
    """A mark for a cluster whose total leaves something out, so nobody reads it as the whole bill."""
    missing = len(cluster.get("unpriced") or []) + len(cluster.get("errors") or {})
    return f"<br><small>{missing} item(s) not priced or not read</small>" if missing else ""


def _cluster_lines_html(cluster: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{_part_name(line['part'])}</td><td>{escape(line.get('item') or '')}</td>"
        f"<td>{escape(line.get('detail') or '')}</td><td class='n'>{escape(str(line.get('quantity') or ''))} "
        f"{escape(line.get('unit') or '')}</td><td class='n'>{_unit_price(line.get('unit_price'))}</td>"
        f"<td><small>{escape((line.get('unit_price') or {}).get('source') or '')}</small></td>"
        f"<td class='n'>{_dollars(line.get('monthly_usd'))}</td></tr>"
        for line in cluster.get("lines") or []
    )
    extras = _cluster_notes_html(cluster)
    return (
        f"<details><summary>{escape(cluster['cluster'])} ({escape(cluster['region'])}): "
        f"{_dollars(cluster['monthly_usd'])} per month</summary>{extras}"
        '<table class="wide"><colgroup><col style="width:9%"><col style="width:10%"><col style="width:29%">'
        '<col style="width:8%"><col style="width:12%"><col style="width:24%"><col style="width:8%"></colgroup>'
        "<tr><th>part</th><th>item</th><th>detail</th><th class='n'>quantity</th><th class='n'>unit price</th>"
        f"<th>source</th><th class='n'>per month</th></tr>{rows}</table></details>"
    )


def _cluster_notes_html(cluster: Mapping[str, Any]) -> str:
    notes = []
    extended = cluster.get("extended_support")
    if extended:
        verb = "in extended support since" if extended.get("status") == "running" else "enters extended support on"
        notes.append(
            f"Control plane {verb} {escape(str(extended.get('from') or '?'))}: "
            f"+{_dollars(extended.get('adds_monthly_usd'))} per month."
        )
    notes += [
        f"Could not read {escape(source)}: {escape(why)}" for source, why in (cluster.get("errors") or {}).items()
    ]
    notes += [f"Not priced: {escape(item)}" for item in cluster.get("unpriced") or []]
    notes += [escape(note) for note in cluster.get("price_notes") or []]
    return "<ul>" + "".join(f"<li>{note}</li>" for note in notes) + "</ul>" if notes else ""


def _sources_html(document: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{escape(s['source'])}</td><td>{escape(', '.join(_part_name(p) for p in s['parts']))}</td>"
        f"<td class='n'>{s['clusters']}</td></tr>"
        for s in document["price_sources"]
    )
    notes = "".join(
        f"<li>{escape(n['note'])} <small>({escape(', '.join(n['clusters']))})</small></li>"
        for n in document["price_notes"]
    )
    snapshot = "".join(
        f"<li>{escape(c['cluster'])} ({escape(c['region'])}): {escape(', '.join(_part_name(p) for p in c['parts']))}"
        "</li>"
        for c in document["snapshot_clusters"]
    )
    return (
        f"<table><tr><th>source</th><th>parts priced</th><th class='n'>clusters</th></tr>{rows}</table>"
        + (f"<h3>Notes on the prices</h3><ul>{notes}</ul>" if notes else "")
        + (f"<h3>Priced from the dated snapshot (not the Price List)</h3><ul>{snapshot}</ul>" if snapshot else "")
    )


def _unpriced_html(unpriced: Sequence[Mapping[str, str]]) -> str:
    if not unpriced:
        return "<p>Every line was priced.</p>"
    items = "".join(f"<li>{escape(u['cluster'])} ({escape(u['region'])}): {escape(u['item'])}</li>" for u in unpriced)
    return f"<p>Left out of every total (never counted as $0):</p><ul>{items}</ul>"


def _badge(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#9e9e9e")
    return f'<td class="s" style="background:{colour}">{escape(status)}</td>'


def _unit_price(price: Mapping[str, str] | None) -> str:
    if not price:
        return "not priced"
    return f"${escape(price['usd'])} per {escape(price['unit'])}"


# --- the chart -------------------------------------------------------------------------------------------------


def cost_chart_svg(history: Sequence[Mapping[str, Any]]) -> str:
    """The fleet's monthly cost by part, one stacked bar per run, as SVG to inline in the page.

    Matplotlib's object API (a ``Figure`` with no pyplot) draws without choosing or changing a backend, so the
    worker's global state is untouched; floats are fine here, the figures themselves stay Decimal."""
    import matplotlib as mpl  # heavy: imported by the report task only
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    figure = Figure(figsize=(max(6.0, 1.2 + 0.35 * len(history)), 3.4))
    axes = figure.add_subplot()
    positions = list(range(len(history)))
    bottom = [0.0] * len(history)
    extra = sorted({part for run in history for part in run.get("by_part") or {}} - set(PARTS))
    for part in (*PARTS, *extra):
        values = [float(_usd((run.get("by_part") or {}).get(part))) for run in history]
        colour = PART_COLOURS.get(part, "#9e9e9e")
        axes.bar(positions, values, bottom=bottom, label=part.replace("_", " "), color=colour, width=0.7)
        bottom = [below + value for below, value in zip(bottom, values, strict=True)]
    labels = [str(run.get("generated_at") or run.get("run_id"))[:16].replace("T", " ") for run in history]
    axes.set_xticks(positions, labels, rotation=45, ha="right", fontsize=7)
    axes.yaxis.set_major_formatter(StrMethodFormatter("${x:,.0f}"))
    axes.set_ylabel("USD per month")
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, reverse=True)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    out = io.StringIO()
    # Text as text (small, searchable); fixed ids so the same history draws the same page; no metadata block.
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "eks-cost-audit"}):
        figure.savefig(out, format="svg", metadata=dict.fromkeys(("Creator", "Date", "Format", "Type")))
    return _inline_svg(out.getvalue())


def _inline_svg(svg: str) -> str:
    """The ``<svg>`` element alone: an HTML page needs neither the XML prolog nor the namespace declarations (the
    HTML parser puts ``svg`` and ``xlink:href`` in their namespaces), and the page then names no URL of its own."""
    svg = svg[svg.index("<svg") :]
    for declaration in (' xmlns="http://www.w3.org/2000/svg"', ' xmlns:xlink="http://www.w3.org/1999/xlink"'):
        svg = svg.replace(declaration, "", 1)
    return svg.replace("<svg ", '<svg role="img" aria-label="monthly cost by part, run by run" ', 1)


# --- amounts ---------------------------------------------------------------------------------------------------


def _usd(value: Any, missing: Decimal = _ZERO) -> Decimal:
    return missing if value is None or value == "" else Decimal(str(value))


def _money(value: Decimal) -> str:
    return str(value.quantize(_CENT, ROUND_HALF_UP))


def _percent(delta: Decimal, base: Decimal) -> str | None:
    """The change in percent of ``base``; None when there was nothing to compare with."""
    return None if base == 0 else _money(delta * 100 / base)


def _dollars(value: Any) -> str:
    if value is None:
        return "not priced"
    return f"${_usd(value).quantize(_CENT, ROUND_HALF_UP):,}"


def _signed(value: Any) -> str:
    amount = _usd(value)
    return f"{'-' if amount < 0 else '+'}{_dollars(abs(amount))}"


def _signed_percent(value: Any) -> str:
    return f"{'+' if _usd(value) >= 0 else ''}{value} %"


def _direction(delta: Any) -> str:
    amount = _usd(delta)
    return "up" if amount > 0 else "down" if amount < 0 else ""


def _part_name(part: str) -> str:
    return escape(part.replace("_", " "))


def _key(cluster: Mapping[str, Any]) -> ClusterKey:
    """How a cluster is recognised from one run to the next: its connection, region and name."""
    return (cluster.get("aws_conn_id") or "", cluster["region"], cluster["cluster"])


def _where(cluster: Mapping[str, Any]) -> dict[str, str]:
    return {name: cluster.get(name) or "" for name in ("cluster", "region", "account", "aws_conn_id")}
