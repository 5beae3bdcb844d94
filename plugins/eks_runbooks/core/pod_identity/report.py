"""The migration's plan and report as Markdown a platform engineer reads, and the run's one-line summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any


def render_plan_markdown(plan: Mapping[str, Any]) -> str:
    """The plan: what the run does to each service account, and why some stay on IRSA."""
    lines = [f"## Pod Identity {plan['phase']} plan for {plan['cluster_name']}", ""]
    for finding in plan.get("blocking") or []:
        lines.append(f"- **Blocked — {finding['check_id']}**: {finding['detail']}. {finding['remediation']}")
    if plan.get("install_agent"):
        lines.append("- Installs the eks-pod-identity-agent add-on and waits for it on every eligible node first.")
    counts = Counter(account["action"] for account in plan["service_accounts"])
    lines += [f"- {count} service account(s): {action}" for action, count in sorted(counts.items())]
    lines += ["", "| Service account | Role | Action | Workloads / why |", "|---|---|---|---|"]
    for account in plan["service_accounts"]:
        why = "; ".join(account["reasons"]) or ", ".join(account["workloads"]) or "—"
        addon = f" (add-on {account['addon']})" if account.get("addon") else ""
        lines.append(f"| {account['key']}{addon} | {account['role_arn'] or '—'} | {account['action']} | {why} |")
    for role in plan.get("roles") or []:
        verb = "remove" if role["remove_oidc_statement"] else "keep"
        lines.append(f"\n- Role {role['role_arn']}: {verb} this cluster's OIDC statement — {role['reason']}")
    if plan.get("oidc_provider_removable"):
        lines.append("\n- The cluster's IAM OIDC provider is no longer used here (this runbook never deletes it).")
    return "\n".join(lines) + "\n"


def summarise_migration(report: Mapping[str, Any]) -> str:
    """One line: the run's outcome per service account, as its note and ticket comment."""
    cluster = report.get("cluster_name") or "?"
    phase = ((report.get("request") or {}).get("phase")) or "migrate"
    if report.get("failures"):
        failure = report["failures"][0]
        return f"Pod Identity {phase} of {cluster} failed at {failure['task']}: {failure['message'][:300]}"
    if report.get("rejected_by"):
        return f"Pod Identity {phase} of {cluster} not started: the plan was {report['rejected_by']}"
    plan = report.get("plan") or {}
    if plan.get("blocking"):
        return f"Pod Identity {phase} of {cluster} blocked: {plan['blocking'][0]['detail']}"
    outcomes = Counter(result["outcome"] for result in (report.get("results") or {}).values())
    mode = "plan" if (report.get("request") or {}).get("dry_run", True) else phase
    told = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing to do"
    return f"Pod Identity {mode} of {cluster}: {told}"


def render_report_markdown(report: Mapping[str, Any]) -> str:
    """The whole report: summary, per service account before → action → after with evidence, the plan."""
    lines = [f"# {report['summary']}", "", f"Run `{report['run_id']}`, generated {report['generated_at']}.", ""]
    for failure in report.get("failures") or []:
        lines.append(f"- **{failure['task']} failed**: {failure['message']}")
    results = report.get("results") or {}
    if results:
        lines += [
            "## Per service account",
            "",
            "| Service account | Before | Action | After | Evidence |",
            "|---|---|---|---|---|",
        ]
        for key, result in sorted(results.items()):
            evidence = "; ".join(result.get("evidence") or []) or "—"
            before, action = result.get("before", "—"), result.get("action", "—")
            lines.append(f"| {key} | {before} | {action} | {result['outcome']} | {evidence} |")
        lines.append("")
    if report.get("plan"):
        lines.append(render_plan_markdown(report["plan"]))
    return "\n".join(lines) + "\n"
