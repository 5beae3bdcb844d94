"""The audit's report: the JSON document every night keeps, and the HTML page a person reads.

JSON: ``{"schema_version", "run_id", "generated_at", "clusters": [{"cluster", "region", "account", "version",
"checks": [{"id", "status", "severity", "detail", ...}]}], "summary", "trend"}``. HTML: the matrix of clusters by
checks (one colour per status), then what changed since the last run, then every finding with its evidence and
remediation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from eks_runbooks.core.audit.compliance import AuditCheckSpec, audit_trend, summarise_audit
from eks_runbooks.core.catalogue import Status

STATUS_COLOURS = {
    "PASS": "#2e7d32",
    "FAIL": "#c62828",
    "WARN": "#ef6c00",
    "ERROR": "#6a1b9a",
    "SKIP": "#9e9e9e",
    "WAIVED": "#1565c0",
}
NOTIFY_SEVERITIES = frozenset({"HIGH", "CRITICAL"})


def audit_document(
    run_id: str, generated_at: str, clusters: Sequence[Mapping[str, Any]], previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The night's report, with its trend against the previous report (None on the first night)."""
    ordered = sorted(clusters, key=lambda c: (c["account"], c["region"], c["cluster"]))
    return {
        # The layout version of report.json (docs/interfaces.md); a report without it is version 1.
        "schema_version": 1,
        "run_id": run_id,
        "generated_at": generated_at,
        "clusters": ordered,
        "summary": summarise_audit(ordered),
        "trend": audit_trend(previous, ordered),
    }


def failures_to_notify(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """New failures of HIGH or CRITICAL checks since the previous night."""
    return [failure for failure in report["trend"]["new_failures"] if failure["severity"] in NOTIFY_SEVERITIES]


def render_audit_html(report: Mapping[str, Any], catalogue: Sequence[AuditCheckSpec]) -> str:
    """A self-contained page: no script, no external asset."""
    specs = {spec.id: spec for spec in catalogue}
    check_ids = [spec.id for spec in catalogue if any(_result(c, spec.id) for c in report["clusters"])]
    counts = report["summary"]["by_status"]
    rows = []
    for cluster in report["clusters"]:
        cells = "".join(_cell(_result(cluster, check_id)) for check_id in check_ids)
        rows.append(
            f"<tr><th>{escape(cluster['cluster'])}<br><small>{escape(cluster['account'])} · "
            f"{escape(cluster['region'])} · {escape(str(cluster.get('version') or '?'))}</small></th>{cells}</tr>"
        )
    header = "".join(f'<th title="{escape(specs[c].title)}">{escape(c)}</th>' for c in check_ids)
    trend = report["trend"]
    details = [
        f"<tr><td>{escape(cluster['cluster'])}</td><td>{escape(check['id'])}</td>{_badge(check['status'])}"
        f"<td>{escape(check['severity'])}</td><td>{escape(check['detail'])}"
        + (f"<br><small>{escape(', '.join(check.get('objects') or []))}</small>" if check.get("objects") else "")
        + (f"<br><em>Waived: {escape(check['waiver'])}</em>" if check.get("waiver") else "")
        + f"</td><td>{escape(specs[check['id']].remediation) if check['id'] in specs else ''}</td></tr>"
        for cluster in report["clusters"]
        for check in cluster["checks"]
        if check["status"] not in (Status.PASS, Status.SKIP)
    ]
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>EKS compliance audit {escape(report['run_id'])}</title>",
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 6px;font-size:13px;text-align:left;vertical-align:top}"
            "td.s{color:#fff;text-align:center;font-weight:bold}</style></head><body>",
            f"<h1>EKS compliance audit</h1><p>Run {escape(report['run_id'])}, generated "
            f"{escape(report['generated_at'])}: {report['summary']['clusters']} cluster(s); "
            + ", ".join(f"{count} {status}" for status, count in counts.items() if count)
            + "</p>",
            "<h2>Clusters by checks</h2>",
            f"<table><tr><th>cluster</th>{header}</tr>{''.join(rows)}</table>",
            "<h2>Since the previous run</h2>",
            _trend_html(trend),
            "<h2>Findings</h2>",
            "<table><tr><th>cluster</th><th>check</th><th>status</th><th>severity</th><th>evidence</th>"
            f"<th>remediation</th></tr>{''.join(details)}</table>",
            "</body></html>",
        ]
    )


def _result(cluster: Mapping[str, Any], check_id: str) -> Mapping[str, Any] | None:
    return next((check for check in cluster["checks"] if check["id"] == check_id), None)


def _cell(check: Mapping[str, Any] | None) -> str:
    if check is None:
        return "<td></td>"
    return _badge(check["status"], title=check["detail"])


def _badge(status: str, title: str = "") -> str:
    return f'<td class="s" style="background:{STATUS_COLOURS[status]}" title="{escape(title)}">{escape(status)}</td>'


def _trend_html(trend: Mapping[str, Any]) -> str:
    if trend["previous_run_id"] is None:
        return "<p>First report: no previous run to compare with.</p>"

    def listed(items: Sequence[Mapping[str, str]]) -> str:
        if not items:
            return "<li>none</li>"
        return "".join(
            f"<li>{escape(i['cluster'])} ({escape(i['region'])}): {escape(i['check'])} [{escape(i['severity'])}]</li>"
            for i in items
        )

    return (
        f"<p>Compared with {escape(trend['previous_run_id'])}.</p>"
        f"<h3>New failures</h3><ul>{listed(trend['new_failures'])}</ul>"
        f"<h3>Resolved</h3><ul>{listed(trend['resolved'])}</ul>"
    )
