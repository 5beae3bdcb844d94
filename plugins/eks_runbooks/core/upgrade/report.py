"""What an upgrade run planned, did and found, as data (JSON) and as a page a person reads (Markdown).

The plan is written before anything changes and shown to the approver; the report is written when the run
ends, whatever the outcome, and its first line is the run's summary (the DagRun note, the ticket comment).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from eks_runbooks.core.upgrade.plan import AddonStep, UpgradePath

#: The steps of every hop, in the order they run (task ids inside a hop's task group).
HOP_STEPS = ("preflight", "control_plane", "addons", "nodegroups", "kube_proxy", "validate")

STEP_TITLES = {
    "preflight": "Pre-flight gates",
    "control_plane": "Control plane",
    "addons": "Add-ons",
    "nodegroups": "Node groups",
    "kube_proxy": "kube-proxy",
    "validate": "Validation",
}


def nodegroup_actions(nodegroups: Iterable[Mapping[str, Any]], hop_version: str) -> list[dict[str, str]]:
    """What the hop does to each managed node group (DescribeNodegroup objects, as they are before the run).

    Node groups whose launch template names a custom AMI (``amiType`` CUSTOM) cannot be moved by EKS: a person
    must build an AMI for the new version and make it a new launch template version.
    """
    actions = []
    for nodegroup in nodegroups:
        name, version = nodegroup["nodegroupName"], nodegroup.get("version", "")
        if nodegroup.get("amiType") == "CUSTOM":
            template = nodegroup.get("launchTemplate", {})
            action = (
                f"manual: runs a custom AMI from launch template {template.get('name') or template.get('id')}; "
                f"create a launch template version with an AMI for Kubernetes {hop_version}"
            )
        elif version == hop_version:
            action = "already at version"
        else:
            action = f"roll nodes {version} → {hop_version}"
        actions.append({"nodegroup": name, "version": version, "action": action})
    return actions


def plan_document(
    path: UpgradePath,
    addon_steps: Mapping[str, Sequence[AddonStep]],
    nodegroups: Sequence[Mapping[str, Any]],
    *,
    region: str,
    dry_run: bool,
    held_by: str | None = None,
) -> dict[str, Any]:
    """The run's plan as plain data: the hops, each with its add-on steps and node group actions.

    Each hop starts from what the hops before it leave: its node groups at the previous hop's version.
    """
    hops = []
    projected = [dict(nodegroup) for nodegroup in nodegroups]
    for hop in path.hops:
        hops.append(
            {
                "from": hop.from_version,
                "to": hop.to_version,
                "addons": [asdict(step) for step in addon_steps.get(hop.to_version, ())],
                "nodegroups": nodegroup_actions(projected, hop.to_version),
            }
        )
        projected = [{**nodegroup, "version": hop.to_version} for nodegroup in projected]
    return {
        "cluster_name": path.cluster_name,
        "region": region,
        "current_version": path.current_version,
        "target_version": path.target_version,
        "dry_run": dry_run,
        "nothing_to_do": path.nothing_to_do,
        "held_by": held_by,
        "hops": hops,
    }


def addon_versions_after(hops: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Add-on name → its version once these planned hops are done (add-ons they leave alone absent)."""
    return {step["addon_name"]: step["to_version"] for hop in hops for step in hop["addons"]}


def render_plan_markdown(plan: Mapping[str, Any]) -> str:
    """The plan as the approver and the report show it."""
    cluster, hops = plan["cluster_name"], plan["hops"]
    lines = [f"## Plan: {cluster} ({plan['region']}) {plan['current_version']} → {plan['target_version']}", ""]
    if plan["nothing_to_do"]:
        return "\n".join([*lines, f"Nothing to do: {cluster} already runs {plan['target_version']}.", ""])
    lines.append(f"{len(hops)} hop(s), one minor version each: " + ", ".join(f"{h['from']} → {h['to']}" for h in hops))
    if plan.get("held_by"):
        lines.append(f"\n**Held by run {plan['held_by']}**: a run that changes the cluster would be refused now.")
    for hop in hops:
        lines += [
            "",
            f"### Hop {hop['from']} → {hop['to']}",
            "",
            "1. Pre-flight gates (stop here on a blocking finding)",
        ]
        lines.append(f"2. Control plane: UpdateClusterVersion to {hop['to']}")
        before = [step for step in hop["addons"] if not step["after_nodegroups"]]
        after = [step for step in hop["addons"] if step["after_nodegroups"]]
        lines.append("3. Add-ons: " + (_addon_list(before) or "none to update"))
        lines.append(
            "4. Node groups: " + ("; ".join(f"{n['nodegroup']} — {n['action']}" for n in hop["nodegroups"]) or "none")
        )
        lines.append("5. kube-proxy (after the nodes): " + (_addon_list(after) or "none to update"))
        lines.append("6. Validation: control plane, nodes, kube-system DaemonSets, CoreDNS, add-ons, workloads")
    return "\n".join([*lines, ""])


def _addon_list(steps: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{s['addon_name']} {s['from_version']} → {s['to_version']}" for s in steps)


def summarise_run(report: Mapping[str, Any]) -> str:
    """One line: the cluster, what happened, and where it stopped or what it found."""
    request, plan = report.get("request") or {}, report.get("plan")
    cluster = request.get("cluster_name") or report.get("cluster_name") or "cluster"
    failure = next(iter(report.get("failures", [])), None)
    if failure is not None:
        first_line = failure["message"].strip().splitlines()[0] if failure["message"].strip() else "see the task log"
        return f"{cluster}: FAILED at {failure['task']} — {first_line}"
    if plan is None:
        return f"{cluster}: no plan was made (the run ended before planning)"
    span = f"{plan['current_version']} → {plan['target_version']}"
    if plan["nothing_to_do"]:
        return f"{cluster}: nothing to do — already at {plan['target_version']}"
    hops = len(plan["hops"])
    if report.get("rejected_by"):
        return f"{cluster}: upgrade {span} rejected by {report['rejected_by']}; nothing changed"
    blocked = [hop for hop in report.get("hops", []) if hop.get("preflight") and not hop["preflight"]["passed"]]
    warnings = sum(
        1
        for hop in report.get("hops", [])
        for finding in (hop.get("preflight") or {}).get("findings", [])
        if finding["status"] == "WARN"
    )
    if plan["dry_run"]:
        if blocked:
            return f"{cluster}: plan {span} ({hops} hop(s)) — would stop at {_blocked_by(blocked[0])}; nothing changed"
        return f"{cluster}: plan {span} ({hops} hop(s)) — pre-flight passed, {warnings} warning(s); nothing changed"
    done = hops_done(report.get("hops", []))
    if len(done) < hops:
        reached = done[-1]["to"] if done else plan["current_version"]
        return (
            f"{cluster}: upgrade {span} stopped after {len(done)} of {hops} hop(s), at {reached}; nothing failed, "
            "see the report"
        )
    return f"{cluster}: upgraded {span} in {hops} hop(s); {warnings} pre-flight warning(s)"


def hops_done(hops: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The hops whose validation passed, in order: what the run really did, whatever it planned."""
    done = []
    for hop in hops:
        if not any(step["step"] == "validate" and step["state"] == "success" for step in hop.get("steps", [])):
            break
        done.append(hop)
    return done


def _blocked_by(hop: Mapping[str, Any]) -> str:
    ids = dict.fromkeys(f["check_id"] for f in hop["preflight"]["findings"] if f["blocking"])
    return f"{hop['from']} → {hop['to']}, blocked by {', '.join(ids)}"


def render_report_markdown(report: Mapping[str, Any], preflight_markdown: Mapping[str, str]) -> str:
    """The run's report page: summary, request, failures, the plan, then each hop's steps and pre-flight.

    :param preflight_markdown: hop version → that hop's rendered pre-flight section.
    """
    lines = [f"# eks_cluster_upgrade — {report['run_id']}", "", f"**{report['summary']}**", ""]
    lines.append(f"Generated {report['generated_at']}. {_when(report)}".rstrip())
    lines += _attempts_section(report.get("ticket_attempts") or [], report["run_id"])
    request = report.get("request")
    if request:
        lines += ["", "## Request", ""]
        lines += [f"- `{key}`: `{value}`" for key, value in request.items()]
    if report.get("failures"):
        lines += ["", "## What stopped the run", ""]
        for failure in report["failures"]:
            lines += [f"- **{failure['task']}**: {failure['message']}"]
    if report.get("plan"):
        lines += ["", render_plan_markdown(report["plan"])]
    for hop in report.get("hops", []):
        lines += ["", f"## Hop {hop['from']} → {hop['to']}", ""]
        lines += [_when(hop), ""] if hop.get("started_at") else []
        lines += ["| step | state | started | ended | duration | result |", "|---|---|---|---|---|---|"]
        for step in hop["steps"]:
            lines.append(
                f"| {STEP_TITLES[step['step']]} | {step['state']} | {step.get('started_at', '')} | "
                f"{step.get('ended_at', '')} | {_duration(step.get('duration_seconds'))} | {_describe_result(step)} |"
            )
        if hop["to"] in preflight_markdown:
            lines += ["", preflight_markdown[hop["to"]]]
    lines += _passed_checks_section(report.get("hops", []))
    return "\n".join([*lines, ""])


def _passed_checks_section(hops: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each check that passed, once, with the hops it passed for (what it saw: the last of them)."""
    passed: dict[str, dict[str, Any]] = {}
    for hop in hops:
        for finding in (hop.get("preflight") or {}).get("findings", []):
            if finding["status"] == "PASS":
                entry = passed.setdefault(finding["check_id"], {"title": finding.get("title", ""), "hops": []})
                entry["hops"].append(f"{hop['from']} → {hop['to']}")
                entry["detail"] = finding.get("detail", "")
    if not passed:
        return []
    lines = ["", "## Passed checks", ""]
    for check_id, entry in passed.items():
        lines.append(f"- **{check_id}** {entry['title']} ({', '.join(entry['hops'])}): {entry['detail']}")
    return lines


def _attempts_section(attempts: Sequence[Mapping[str, Any]], run_id: str) -> list[str]:
    """Every run of the same ticket, this one included (a ticket retried after a failure)."""
    if len(attempts) < 2:
        return []
    lines = ["", "## Attempts of this ticket", "", "| run | state | summary |", "|---|---|---|"]
    for attempt in attempts:
        label = f"`{attempt['run_id']}`" + (" (this run)" if attempt["run_id"] == run_id else "")
        link = f"[{label}]({attempt['report_markdown']})" if attempt.get("report_markdown") else label
        summary = attempt["summary"].replace("|", "\\|")
        lines.append(f"| {link} | {attempt['state']} | {summary} |")
    return lines


def _describe_result(step: Mapping[str, Any]) -> str:
    if step.get("failure"):
        return step["failure"].replace("|", "\\|").replace("\n", " ")
    result = step.get("result")
    if isinstance(result, Mapping) and result.get("summary"):
        return str(result["summary"]).replace("|", "\\|")
    return ""


def span_of(started_at: str | None = None, ended_at: str | None = None) -> dict[str, Any]:
    """``started_at``, ``ended_at`` (ISO 8601 UTC, to the second) and ``duration_seconds``; {} if it never ran."""
    if not started_at or not ended_at:
        return {}
    start, end = datetime.fromisoformat(started_at), datetime.fromisoformat(ended_at)
    return {
        "started_at": start.isoformat(timespec="seconds"),
        "ended_at": end.isoformat(timespec="seconds"),
        "duration_seconds": max(0, round((end - start).total_seconds())),
    }


def span_of_all(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The span from the first start to the last end of ``parts`` (steps of a hop); {} if none ran."""
    timed = [part for part in parts if part.get("started_at")]
    if not timed:
        return {}
    return span_of(min(p["started_at"] for p in timed), max(p["ended_at"] for p in timed))


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def _when(part: Mapping[str, Any]) -> str:
    if not part.get("started_at"):
        return ""
    return f"Started {part['started_at']}, ended {part['ended_at']}, took {_duration(part['duration_seconds'])}."
