from __future__ import annotations

from typing import Any

from eks_runbooks.core.upgrade.plan import AddonStep, Hop, UpgradePath
from eks_runbooks.core.upgrade.report import (
    nodegroup_actions,
    plan_document,
    render_plan_markdown,
    render_report_markdown,
    summarise_run,
)

PATH = UpgradePath("payments", "1.32", "1.34", (Hop("1.32", "1.33"), Hop("1.33", "1.34")))
NODEGROUPS = [
    {"nodegroupName": "general", "version": "1.32", "amiType": "AL2023_x86_64_STANDARD"},
    {"nodegroupName": "gpu", "version": "1.32", "amiType": "CUSTOM", "launchTemplate": {"name": "gpu-lt"}},
]
STEPS = {
    "1.33": [AddonStep("coredns", "v1.11.4", "v1.12.4", False), AddonStep("kube-proxy", "v1.32.1", "v1.33.1", True)],
    "1.34": [],
}


def plan(**changes: Any) -> dict[str, Any]:
    return {**plan_document(PATH, STEPS, NODEGROUPS, region="us-east-1", dry_run=False), **changes}


def preflight(passed: bool, *statuses: tuple[str, str]) -> dict[str, Any]:
    return {
        "passed": passed,
        "findings": [{"check_id": cid, "status": st, "blocking": st == "FAIL"} for cid, st in statuses],
    }


def test_a_custom_ami_node_group_is_a_manual_step_naming_its_launch_template():
    actions = {a["nodegroup"]: a["action"] for a in nodegroup_actions(NODEGROUPS, "1.33")}
    assert actions["general"] == "roll nodes 1.32 → 1.33"
    assert actions["gpu"].startswith("manual: runs a custom AMI from launch template gpu-lt")


def test_plan_lists_each_hop_with_addons_before_and_kube_proxy_after_the_node_groups():
    markdown = render_plan_markdown(plan())
    assert "2 hop(s), one minor version each: 1.32 → 1.33, 1.33 → 1.34" in markdown
    assert "3. Add-ons: coredns v1.11.4 → v1.12.4" in markdown
    assert "5. kube-proxy (after the nodes): kube-proxy v1.32.1 → v1.33.1" in markdown
    assert "gpu — manual" in markdown


def test_plan_with_nothing_to_do_says_so():
    empty = plan_document(UpgradePath("payments", "1.34", "1.34", ()), {}, [], region="us-east-1", dry_run=True)
    assert "Nothing to do: payments already runs 1.34." in render_plan_markdown(empty)
    assert summarise_run({"request": {"cluster_name": "payments"}, "plan": empty}) == (
        "payments: nothing to do — already at 1.34"
    )


def test_summary_of_a_failed_run_names_the_task_and_the_first_line_of_the_error():
    report = {
        "request": {"cluster_name": "payments"},
        "plan": plan(),
        "failures": [{"task": "hop_1.nodegroups", "message": "EksUpdateFailedError: PodEvictionFailure\nmore"}],
    }
    assert summarise_run(report) == "payments: FAILED at hop_1.nodegroups — EksUpdateFailedError: PodEvictionFailure"


def test_summary_of_a_refused_request_still_starts_with_the_cluster_it_named():
    report = {
        "request": None,
        "cluster_name": "payments",
        "plan": None,
        "failures": [{"task": "validate_request", "message": "UpgradeRequestRejected: dryrun: unknown key"}],
    }
    assert summarise_run(report) == "payments: FAILED at validate_request — UpgradeRequestRejected: dryrun: unknown key"


def test_summary_of_a_plan_names_the_hop_that_would_stop_and_its_checks():
    hops = [
        {"from": "1.32", "to": "1.33", "preflight": preflight(True, ("K8S-SINGLE-REPLICA", "WARN"))},
        {"from": "1.33", "to": "1.34", "preflight": preflight(False, ("K8S-REMOVED-APIS", "FAIL"))},
    ]
    report = {"request": {"cluster_name": "payments"}, "plan": plan(dry_run=True), "hops": hops}
    assert summarise_run(report) == (
        "payments: plan 1.32 → 1.34 (2 hop(s)) — would stop at 1.33 → 1.34, blocked by K8S-REMOVED-APIS; "
        "nothing changed"
    )


def test_summary_of_a_rejected_and_of_a_finished_upgrade():
    base = {"request": {"cluster_name": "payments"}, "plan": plan(), "hops": []}
    assert summarise_run({**base, "rejected_by": "alice"}) == (
        "payments: upgrade 1.32 → 1.34 rejected by alice; nothing changed"
    )
    assert (
        summarise_run({**base, "hops": ran("success", "success")})
        == "payments: upgraded 1.32 → 1.34 in 2 hop(s); 0 pre-flight warning(s)"
    )


def test_report_page_leads_with_the_summary_and_what_stopped_the_run():
    report = {
        "run_id": "ticket__CHG-1",
        "generated_at": "2026-11-21T10:00:00+00:00",
        "summary": "payments: FAILED at hop_1.control_plane — boom",
        "request": {"cluster_name": "payments", "dry_run": False},
        "plan": plan(),
        "failures": [{"task": "hop_1.control_plane", "message": "boom | with a pipe"}],
        "hops": [
            {
                "from": "1.32",
                "to": "1.33",
                "steps": [{"step": "control_plane", "state": "failed", "failure": "boom | with a pipe"}],
            }
        ],
    }
    page = render_report_markdown(report, {"1.33": "## Pre-flight: payments 1.32 → 1.33"})
    assert page.splitlines()[2] == "**payments: FAILED at hop_1.control_plane — boom**"
    assert "- **hop_1.control_plane**: boom | with a pipe" in page
    assert "| Control plane | failed |  |  |  | boom \\| with a pipe |" in page
    assert "## Pre-flight: payments 1.32 → 1.33" in page


def ran(*states: str) -> list[dict[str, Any]]:
    """Report hops of ``plan()`` whose validation ended in these states (the hops after them did not run)."""
    return [
        {"from": hop["from"], "to": hop["to"], "steps": [{"step": "validate", "state": state}]}
        for hop, state in zip(plan()["hops"], states, strict=False)
    ]


def test_a_run_that_stopped_early_does_not_claim_the_target():
    report = {"request": {"cluster_name": "payments"}, "plan": plan(), "hops": ran("success", "skipped")}
    summary = summarise_run(report)
    assert "upgraded" not in summary and "1.32 → 1.34 in" not in summary
    assert (
        summary == "payments: upgrade 1.32 → 1.34 stopped after 1 of 2 hop(s), at 1.33; nothing failed, see the report"
    )


def test_each_hop_starts_from_the_versions_the_hop_before_leaves():
    second = {n["nodegroup"]: n for n in plan()["hops"][1]["nodegroups"]}
    assert second["general"]["action"] == "roll nodes 1.33 → 1.34"
    assert second["gpu"]["version"] == "1.33"


def test_a_hop_spans_its_steps_and_the_page_shows_when_each_step_ran():
    from eks_runbooks.core.upgrade.report import span_of, span_of_all

    steps = [
        {"step": "preflight", "state": "success", **span_of("2026-11-21T10:00:00+00:00", "2026-11-21T10:00:30+00:00")},
        {
            "step": "control_plane",
            "state": "success",
            **span_of("2026-11-21T10:00:31.5+00:00", "2026-11-21T10:12:01+00:00"),
        },
        {"step": "addons", "state": "skipped"},
    ]
    assert steps[1]["duration_seconds"] == 690 and steps[1]["started_at"] == "2026-11-21T10:00:31+00:00"
    hop = {"from": "1.32", "to": "1.33", "steps": steps, **span_of_all(steps)}
    assert (hop["started_at"], hop["ended_at"]) == ("2026-11-21T10:00:00+00:00", "2026-11-21T10:12:01+00:00")
    report = {"run_id": "r", "generated_at": "g", "summary": "s", "hops": [hop], **span_of_all(steps)}
    page = render_report_markdown(report, {})
    assert "| Control plane | success | 2026-11-21T10:00:31+00:00 | 2026-11-21T10:12:01+00:00 | 11 min 30 s |" in page
    assert "| Add-ons | skipped |  |  |  |  |" in page
    assert "took 12 min 01 s" in page


def test_passed_checks_are_listed_once_with_the_hops_they_passed_for():
    def passes(hop_from: str, hop_to: str) -> dict[str, Any]:
        finding = {"check_id": "EKS-CLUSTER-ACTIVE", "title": "Cluster is ACTIVE", "status": "PASS", "blocking": False}
        return {"from": hop_from, "to": hop_to, "steps": [], "preflight": {"findings": [{**finding, "detail": hop_to}]}}

    report = {
        "run_id": "r",
        "generated_at": "g",
        "summary": "s",
        "hops": [passes("1.32", "1.33"), passes("1.33", "1.34")],
    }
    page = render_report_markdown(report, {})
    assert page.count("EKS-CLUSTER-ACTIVE") == 1
    assert "- **EKS-CLUSTER-ACTIVE** Cluster is ACTIVE (1.32 → 1.33, 1.33 → 1.34): 1.34" in page


def test_the_page_lists_every_attempt_of_the_ticket():
    attempts = [
        {
            "run_id": "ticket__CHG-1",
            "state": "failed",
            "summary": "payments: FAILED | x",
            "report_markdown": "file:///a.md",
        },
        {"run_id": "ticket__CHG-1__attempt-2", "state": "success", "summary": "payments: upgraded"},
    ]
    report = {"run_id": "ticket__CHG-1__attempt-2", "generated_at": "g", "summary": "s", "ticket_attempts": attempts}
    page = render_report_markdown(report, {})
    assert "| [`ticket__CHG-1`](file:///a.md) | failed | payments: FAILED \\| x |" in page
    assert "| `ticket__CHG-1__attempt-2` (this run) | success | payments: upgraded |" in page
