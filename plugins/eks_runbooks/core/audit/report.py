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
    run_id: str,
    generated_at: str,
    clusters: Sequence[Mapping[str, Any]],
    previous: Mapping[str, Any] | None,
    scope: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The night's report, with its trend against the previous report (None on the first night).

    :param scope: what the run was asked to audit (:func:`audit_scope`); default: everything.
    """
    ordered = sorted(clusters, key=lambda c: (c["account"], c["region"], c["cluster"]))
    return {
        # The layout version of report.json (docs/interfaces.md); a report without it is version 1.
        "schema_version": 1,
        "run_id": run_id,
        "generated_at": generated_at,
        "scope": dict(scope or audit_scope([], [])),
        "clusters": ordered,
        "summary": summarise_audit(ordered),
        "trend": audit_trend(previous, ordered),
    }


def audit_scope(cluster_names: Sequence[str], checks: Sequence[str]) -> dict[str, Any]:
    """The run's filters, and whether its report may become ``latest/`` — the baseline the next night compares
    with: only a run of every cluster and every check may (a filtered run would shrink the baseline)."""
    return {
        "cluster_names": sorted(cluster_names),
        "checks": sorted(checks),
        "replaces_latest": not cluster_names and not checks,
    }


def unaudited_cluster(
    cluster: Mapping[str, Any], catalogue: Sequence[AuditCheckSpec], only: Sequence[str], reason: str
) -> dict[str, Any]:
    """The report entry of a cluster whose audit produced nothing (its task failed): every check ERROR, naming why.

    :param cluster: ``{"aws_conn_id", "region", "cluster_name"}`` as discovery listed it.
    """
    return {
        "cluster": cluster["cluster_name"],
        "region": cluster["region"],
        "account": "unknown",
        "version": None,
        "aws_conn_id": cluster["aws_conn_id"],
        "checks": [
            {"id": spec.id, "status": "ERROR", "severity": str(spec.severity), "detail": reason, "objects": []}
            for spec in catalogue
            if not only or spec.id in only
        ],
    }


def failures_to_notify(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """New failures of HIGH or CRITICAL checks since the last full run."""
    return [failure for failure in report["trend"]["new_failures"] if failure["severity"] in NOTIFY_SEVERITIES]


#: Fits a 1440 px screen: fixed column widths, wrapped headers, the cluster column stays in view when scrolled.
_STYLE = (
    "body{font-family:sans-serif;margin:1em 2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 6px;font-size:13px;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere}"
    ".matrix-wrap{max-width:100%;overflow-x:auto}"
    "table.matrix{table-layout:fixed;width:max(100%,calc(190px + var(--checks) * 58px))}"
    "table.matrix th{font-size:11px;font-weight:normal}table.matrix th b{display:block;font-size:10px}"
    "table.matrix col.cluster{width:190px}"
    "table.matrix tr>:first-child{position:sticky;left:0;background:#fff;z-index:1}"
    "td.s{color:#fff;text-align:center;font-weight:bold;font-size:11px;padding:4px 1px}"
    "table.findings{table-layout:fixed;width:100%}"
)


def render_audit_html(report: Mapping[str, Any], catalogue: Sequence[AuditCheckSpec]) -> str:
    """A self-contained page: no script, no external asset."""
    specs = {spec.id: spec for spec in catalogue}
    counts = report["summary"]["by_status"]
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>EKS compliance audit {escape(report['run_id'])}</title>",
            f"<style>{_STYLE}</style></head><body>",
            f"<h1>EKS compliance audit</h1><p>Run {escape(report['run_id'])}, generated "
            f"{escape(report['generated_at'])}: {report['summary']['clusters']} cluster(s); "
            + ", ".join(f"{count} {status}" for status, count in counts.items() if count)
            + "</p>",
            _scope_html(report.get("scope")),
            "<h2>Clusters by checks</h2>",
            _matrix_html(report, catalogue),
            "<h2>Since the previous run</h2>",
            _trend_html(report["trend"]),
            _notifications_html(report.get("notifications") or []),
            _unreachable_html(report.get("unreachable_targets") or []),
            "<h2>Findings</h2>",
            _findings_html(report, specs),
            "<h2>Not checked (SKIP)</h2>",
            _skipped_html(report, specs),
            "</body></html>",
        ]
    )


def _matrix_html(report: Mapping[str, Any], catalogue: Sequence[AuditCheckSpec]) -> str:
    shown = [spec for spec in catalogue if any(_result(c, spec.id) for c in report["clusters"])]
    header = "".join(f"<th><b>{escape(spec.id)}</b>{escape(spec.title)}</th>" for spec in shown)
    rows = "".join(
        f"<tr><th>{escape(cluster['cluster'])}<br><small>{escape(cluster['account'])} · "
        f"{escape(cluster['region'])} · {escape(str(cluster.get('version') or '?'))}</small></th>"
        + "".join(_cell(_result(cluster, spec.id)) for spec in shown)
        + "</tr>"
        for cluster in report["clusters"]
    )
    return (
        f'<div class="matrix-wrap"><table class="matrix" style="--checks:{len(shown)}">'
        f'<colgroup><col class="cluster"></colgroup><tr><th>cluster</th>{header}</tr>{rows}</table></div>'
    )


def _findings_html(report: Mapping[str, Any], specs: Mapping[str, AuditCheckSpec]) -> str:
    rows = "".join(
        f"<tr><td>{escape(cluster['cluster'])}</td><td>{_check_name(check['id'], specs)}</td>"
        f"{_badge(check['status'])}<td>{escape(check['severity'])}</td><td>{escape(check['detail'])}"
        + (f"<br><small>{escape(', '.join(check.get('objects') or []))}</small>" if check.get("objects") else "")
        + (f"<br><em>Waived: {escape(check['waiver'])}</em>" if check.get("waiver") else "")
        + f"</td><td>{escape(specs[check['id']].remediation) if check['id'] in specs else ''}</td></tr>"
        for cluster in report["clusters"]
        for check in cluster["checks"]
        if check["status"] not in (Status.PASS, Status.SKIP)
    )
    return (
        '<table class="findings"><colgroup><col style="width:10%"><col style="width:14%"><col style="width:6%">'
        '<col style="width:6%"><col style="width:34%"><col style="width:30%"></colgroup>'
        "<tr><th>cluster</th><th>check</th><th>status</th><th>severity</th><th>evidence</th>"
        f"<th>remediation</th></tr>{rows}</table>"
    )


def _skipped_html(report: Mapping[str, Any], specs: Mapping[str, AuditCheckSpec]) -> str:
    rows = "".join(
        f"<tr><td>{escape(cluster['cluster'])}</td><td>{_check_name(check['id'], specs)}</td>"
        f"<td>{escape(check['detail'])}</td></tr>"
        for cluster in report["clusters"]
        for check in cluster["checks"]
        if check["status"] == Status.SKIP
    )
    if not rows:
        return "<p>Every check applied to every cluster.</p>"
    return f'<table class="findings"><tr><th>cluster</th><th>check</th><th>why not checked</th></tr>{rows}</table>'


def _check_name(check_id: str, specs: Mapping[str, AuditCheckSpec]) -> str:
    title = f"<br><small>{escape(specs[check_id].title)}</small>" if check_id in specs else ""
    return f"{escape(check_id)}{title}"


def _scope_html(scope: Mapping[str, Any] | None) -> str:
    if not scope or scope.get("replaces_latest", True):
        return ""
    filters = "; ".join(
        f"{name}: {escape(', '.join(scope[name]))}" for name in ("cluster_names", "checks") if scope.get(name)
    )
    return (
        f"<p><strong>Filtered run</strong> ({filters}): compared with the last full run, and not kept as the "
        "baseline of the next one.</p>"
    )


def _notifications_html(notifications: Sequence[Mapping[str, Any]]) -> str:
    if not notifications:
        return ""
    items = "".join(
        f"<li>{escape(n['channel'])}: {escape(n['status'])}"
        + (f" — {escape(n['reason'])}" if n.get("reason") else "")
        + "</li>"
        for n in notifications
    )
    return f"<h3>Notifications</h3><ul>{items}</ul>"


def _unreachable_html(unreachable: Sequence[Mapping[str, str]]) -> str:
    if not unreachable:
        return ""
    items = "".join(
        f"<li>{escape(u['aws_conn_id'])} in {escape(u['region'])}: {escape(u['error'])}</li>" for u in unreachable
    )
    return f"<h3>Targets that could not be listed (their clusters are not in this report)</h3><ul>{items}</ul>"


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
        return "<p>No earlier full run to compare with: nothing is new or resolved yet.</p>"

    def listed(items: Sequence[Mapping[str, str]]) -> str:
        if not items:
            return "<li>none</li>"
        return "".join(
            f"<li>{escape(i['cluster'])} ({escape(i['region'])}): {escape(i['check'])} [{escape(i['severity'])}]</li>"
            for i in items
        )

    return (
        f"<p>Compared with {escape(trend['previous_run_id'])}, over the {trend.get('compared', '?')} "
        "(cluster, check) pairs both runs evaluated (an ERROR or a cluster not audited is not compared).</p>"
        f"<h3>New failures</h3><ul>{listed(trend['new_failures'])}</ul>"
        f"<h3>Resolved</h3><ul>{listed(trend['resolved'])}</ul>"
    )
