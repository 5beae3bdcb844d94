"""The bootstrap's report as a person reads it: one summary line, then every gate with its evidence, what exists
(with ARNs and ids), the compliance baseline, and in plan mode the exact requests a real run would send."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eks_runbooks.core.bootstrap.calls import STEP_TITLES, STEPS


def summarise_bootstrap(report: Mapping[str, Any]) -> str:
    """One line: the cluster, how the run ended, and the first failure's first line."""
    cluster = report.get("cluster_name") or "unknown cluster"
    request = report.get("request") or {}
    if report.get("rejected_by"):
        return f"Bootstrap of {cluster}: rejected by {report['rejected_by']}; nothing was changed"
    if report.get("failures"):
        first = report["failures"][0]
        line = (first.get("message") or "").strip().splitlines() or ["see the task log"]
        return f"Bootstrap of {cluster}: failed at {first['task']} — {line[0]}"
    preflight = report.get("preflight") or {}
    if request.get("dry_run", True):
        count = len(preflight.get("calls") or [])
        return f"Bootstrap of {cluster} (plan): every pre-flight gate passed; {count} requests would be sent"
    version = (preflight.get("resolved") or {}).get("version", "?")
    return f"Bootstrap of {cluster}: built at Kubernetes {version}; every gate and the compliance baseline passed"


def _preflight_lines(preflight: Mapping[str, Any]) -> list[str]:
    lines = ["## Pre-flight", "", "| Gate | Status | Detail |", "|---|---|---|"]
    for check in preflight.get("checks") or []:
        detail = str(check.get("detail", "")).replace("|", "\\|")
        lines.append(f"| {check['check_id']} {check.get('title', '')} | {check['status']} | {detail} |")
    return [*lines, ""]


def _sent_lines(sent: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"- {outcome['outcome']}: {outcome['creates']}" + _id(outcome) for outcome in sent]


def _id(outcome: Mapping[str, Any]) -> str:
    return f" (`{outcome['id']}`)" if outcome.get("id") else ""


def _gate_lines(result: Mapping[str, Any] | None) -> list[str]:
    gate = (result or {}).get("gate") or {}
    lines = [f"- evidence: {line}" for line in gate.get("evidence") or []]
    return lines + [f"- **problem**: {problem}" for problem in gate.get("problems") or []]


def _step_lines(steps: Mapping[str, Any]) -> list[str]:
    lines = ["## Steps", ""]
    for step in (*STEPS, "smoke_test", "baseline", "teardown_on_failure"):
        entry = steps.get(step) or {}
        title = STEP_TITLES.get(step, step.replace("_", " "))
        lines += [f"### {title} — {entry.get('state', 'not run')}", ""]
        lines += _sent_lines(entry.get("sent") or [])
        result = entry.get("result") or {}
        lines += _gate_lines(result)
        if step == "baseline":
            lines += [f"- {check['id']}: {check['status']} — {check['detail']}" for check in result.get("checks") or []]
        if step == "teardown_on_failure":
            lines += [f"- removed: {what}" for what in result.get("removed") or []]
            lines += [f"- kept: {what}" for what in result.get("kept") or []]
            lines += [f"- to do: {what}" for what in result.get("instructions") or []]
        lines.append("")
    return lines


def render_report_markdown(report: Mapping[str, Any]) -> str:
    """The run's Markdown report."""
    preflight = report.get("preflight") or {}
    lines = [f"# Bootstrap of {report.get('cluster_name') or 'unknown cluster'}", "", report["summary"], ""]
    lines += [f"Run `{report['run_id']}`, generated {report['generated_at']}.", ""]
    for failure in report.get("failures") or []:
        lines += [f"- **{failure['task']} failed**: {failure['message']}"]
    lines += ["", *_preflight_lines(preflight)]
    if (report.get("request") or {}).get("dry_run", True):
        lines += [
            "## Requests a real run would send",
            "",
            preflight.get("requests_markdown") or "(none: a gate failed)",
        ]
    else:
        lines += _step_lines(report.get("steps") or {})
    if report.get("ticket_attempts"):
        lines += ["", "## Ticket attempts", ""]
        lines += [f"- {a['run_id']}: {a['state']} — {a['summary']}" for a in report["ticket_attempts"]]
    return "\n".join(lines).rstrip() + "\n"
