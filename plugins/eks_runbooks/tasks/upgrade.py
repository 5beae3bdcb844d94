"""The run-level parts of the upgrade runbook: its request, its plan, and its report.

Tasks of ``eks_cluster_upgrade`` call these; the decisions are in ``core`` (``upgrade_request``,
``upgrade_plan``, ``upgrade_report``), this module reads AWS and Airflow state for them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

from eks_runbooks.core.clock import utc_now
from eks_runbooks.core.upgrade.plan import (
    UpgradePlanError,
    hop_groups_needed,
    load_addon_rules,
    load_version_calendar,
    plan_addon_steps_for_hops,
    plan_upgrade_path,
    refuse_plan_longer_than,
)
from eks_runbooks.core.upgrade.report import (
    HOP_STEPS,
    plan_document,
    render_report_markdown,
    span_of,
    span_of_all,
    summarise_run,
)
from eks_runbooks.core.upgrade.request import InvalidUpgradeRequest, UpgradeRequest, parse_upgrade_request
from eks_runbooks.runs import run_reports
from eks_runbooks.runs.run_reports import FAILURE_KEY, TIMING_KEY
from eks_runbooks.runs.upgrade_context import AWS_RETRIES, PLAN_TASK_ID, upgrade_request_of

if TYPE_CHECKING:
    from airflow.sdk import Context

    from eks_runbooks.hooks.eks import EksRunbookHook

log = logging.getLogger(__name__)

RUNBOOK = "eks_cluster_upgrade"
#: The number of hop task groups: the longest plan any day of EKS's calendar allows (core.upgrade.plan
#: ``hop_groups_needed``). A plan longer than the DAG's hop groups is refused by the plan task.
MAX_HOPS = hop_groups_needed(load_version_calendar())
APPROVAL_TASK_ID = "approve"
#: The layout version of ``report.json`` (docs/interfaces.md): a new key keeps it; a key removed, renamed or
#: changing meaning raises it.
REPORT_SCHEMA_VERSION = 1


def request_document(request: UpgradeRequest) -> dict[str, Any]:
    """The request as JSON-able data for XCom and the report (no credentials: a connection id only)."""
    return {
        **{key: getattr(request, key) for key in request.__dataclass_fields__},
        "addon_version_policy": request.addon_version_policy.value,
        "addon_conflicts": request.addon_conflicts.value,
        "ignore_checks": list(request.ignore_checks),
    }


def plan_upgrade_run(hook: EksRunbookHook, request: UpgradeRequest, max_hops: int = MAX_HOPS) -> dict[str, Any]:
    """Read the cluster and EKS's version calendar and plan the run (read-only).

    :param max_hops: the hop groups the DAG has; a longer plan is refused.
    """
    from botocore.exceptions import ClientError

    try:
        cluster = hook.get_cluster(request.cluster_name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        raise AirflowFailException(
            f"Cluster {request.cluster_name} does not exist in {request.region} for connection "
            f"{request.aws_conn_id}; check cluster_name, region and aws_conn_id (`aws eks list-clusters "
            f"--region {request.region}` lists what exists). Nothing was changed."
        ) from None
    nodegroups = hook.describe_nodegroups(request.cluster_name)
    try:
        path = plan_upgrade_path(
            request.cluster_name,
            cluster["version"],
            request.target_version,
            hook.describe_cluster_versions(),
            [nodegroup["version"] for nodegroup in nodegroups if nodegroup.get("version")],
        )
        refuse_plan_longer_than(path, max_hops)
        installed = {addon["addonName"]: addon["addonVersion"] for addon in hook.describe_addons(request.cluster_name)}
        addon_steps = plan_addon_steps_for_hops(
            request.cluster_name,
            installed,
            path.hops,
            {hop.to_version: hook.describe_addon_versions(hop.to_version) for hop in path.hops},
            load_addon_rules(),
            request.addon_version_policy,
        )
    except UpgradePlanError as error:
        raise AirflowFailException(f"{error} Nothing was changed.") from None
    return plan_document(path, addon_steps, nodegroups, region=request.region, dry_run=request.dry_run)


def collect_report(context: Context) -> dict[str, Any]:
    """The run's report as data, from the XComs its tasks left and their states (read when the run ends)."""
    ti, dag_run = context["ti"], context["dag_run"]
    states = run_reports.task_states(context)
    try:
        request: dict[str, Any] | None = request_document(parse_upgrade_request(dict(context["params"])))
    except InvalidUpgradeRequest:
        request = None
    plan = ti.xcom_pull(task_ids=PLAN_TASK_ID)
    failures = run_reports.failures_of(context, states)
    hops = [_hop_report(ti, number, hop, states) for number, hop in enumerate((plan or {}).get("hops", []), start=1)]
    approval = ti.xcom_pull(task_ids=APPROVAL_TASK_ID) or {}
    started = dag_run.start_date
    return run_report_document(
        dag_run.run_id,
        utc_now().isoformat(timespec="seconds"),
        request=request,
        plan=plan,
        hops=hops,
        failures=failures,
        rejected_by=approval.get("rejected_by"),
        started_at=started.isoformat() if started else None,
        ended_at=datetime.now(UTC).isoformat(),
        cluster_name=str(context["params"].get("cluster_name") or "") or None,
    )


def _hop_report(ti: Any, number: int, hop: Mapping[str, Any], states: Mapping[str, str]) -> dict[str, Any]:
    """One planned hop as the run did it: each step's state, result, failure and times, and its pre-flight."""
    group = f"hop_{number}"
    steps = [
        {
            "step": step,
            "state": states.get(f"{group}.{step}") or "not run",
            "result": ti.xcom_pull(task_ids=f"{group}.{step}"),
            "failure": ti.xcom_pull(task_ids=f"{group}.{step}", key=FAILURE_KEY),
            **span_of(**(ti.xcom_pull(task_ids=f"{group}.{step}", key=TIMING_KEY) or {})),
        }
        for step in HOP_STEPS
    ]
    preflight = ti.xcom_pull(task_ids=f"{group}.preflight", key="preflight")
    return {**hop, "steps": steps, "preflight": preflight, **span_of_all(steps)}


def run_report_document(
    run_id: str,
    generated_at: str,
    *,
    request: Mapping[str, Any] | None,
    plan: Mapping[str, Any] | None,
    hops: list[dict[str, Any]],
    failures: list[dict[str, str]],
    rejected_by: str | None,
    started_at: str | None = None,
    ended_at: str | None = None,
    cluster_name: str | None = None,
) -> dict[str, Any]:
    """The run's ``report.json`` document: what was asked, planned, done and found, and its one-line summary.

    :param started_at: when the run started (ISO 8601, Airflow's clock, as the grid shows it).
    :param ended_at: when the report is made: the run's end.
    :param cluster_name: the cluster the run was started for, kept even when its request was refused.
    """
    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "runbook": RUNBOOK,
        "run_id": run_id,
        "cluster_name": cluster_name or (request or {}).get("cluster_name"),
        "generated_at": generated_at,
        "started_at": None,
        "ended_at": None,
        "duration_seconds": None,
        **span_of(started_at, ended_at),
        "request": request,
        "plan": plan,
        "hops": hops,
        "failures": failures,
        "rejected_by": rejected_by,
        "ticket_attempts": None,
    }
    report["summary"] = summarise_run(report)
    return report


def report_files(report: Mapping[str, Any]) -> dict[str, str]:
    """``report.json`` and ``report.md`` of a collected report."""
    preflight_markdown = {
        hop["to"]: _preflight_markdown(hop["preflight"]) for hop in report["hops"] if hop.get("preflight")
    }
    return {
        "report.json": json.dumps(report, indent=2, default=str) + "\n",
        "report.md": render_report_markdown(report, preflight_markdown),
    }


def _preflight_markdown(preflight: Mapping[str, Any]) -> str:
    """A hop's pre-flight section without its passed checks: the report lists those once for every hop."""
    from eks_runbooks.core.upgrade.preflight import preflight_result_of, render_preflight_markdown

    markdown = render_preflight_markdown(preflight_result_of(preflight), with_passes=False)
    if preflight.get("projected"):
        markdown += "\n_Projected: this hop was judged as if the earlier hops were done._\n"
    return markdown


def _hook(request: UpgradeRequest) -> EksRunbookHook:
    from botocore.config import Config

    from eks_runbooks.hooks.eks import EksRunbookHook

    return EksRunbookHook(aws_conn_id=request.aws_conn_id, region_name=request.region, config=Config(**AWS_RETRIES))


def _holder(context: Context) -> str:
    from eks_runbooks.runs.claims import claim_holder

    return claim_holder(context["ti"].dag_id, context["ti"].run_id)


def plan_run(context: Context) -> dict[str, Any]:
    """The ``plan`` task: the plan as data plus its Markdown (shown to the approver)."""
    from eks_runbooks.core.upgrade.report import render_plan_markdown
    from eks_runbooks.runs.claims import cluster_claim

    request = upgrade_request_of(context)
    hook = _hook(request)
    plan = plan_upgrade_run(hook, request, hop_groups_of(context["dag"]))
    claim, holder = cluster_claim(hook, request.cluster_name), _holder(context)
    refused = claim is not None and claim.holder != holder and not claim.taken_over_by(holder)
    plan["held_by"] = claim.holder if refused else None
    plan["markdown"] = render_plan_markdown(plan)
    log.info("Plan of cluster %s:\n\n%s", request.cluster_name, plan["markdown"])
    return plan


def hop_groups_of(dag: Any) -> int:
    """How many hops the DAG can run: its ``hop_<n>`` task groups (each has a ``preflight``)."""
    return sum(1 for task_id in dag.task_ids if re.fullmatch(r"hop_\d+\.preflight", task_id))


def claim_run(context: Context) -> str:
    """The ``claim_cluster`` task: hold the cluster for this run (plan mode claims nothing)."""
    from eks_runbooks.runs.claims import claim_cluster

    request = upgrade_request_of(context)
    if request.dry_run:
        return "plan mode: the cluster is not claimed"
    holder = _holder(context)
    taken_from = claim_cluster(_hook(request), request.cluster_name, holder)
    if taken_from:
        return f"claimed by {holder}, taken over from failed run {taken_from}"
    return f"claimed by {holder}"


def release_run(context: Context) -> str:
    """The ``release_cluster`` task: drop this run's claim, or keep it marked failed when the run failed after
    its first change could have been made (another run's claim is left alone)."""
    from eks_runbooks.runs.claims import mark_claim_failed, release_cluster

    request = upgrade_request_of(context)
    hook, holder = _hook(request), _holder(context)
    stopped_at = _failed_after_a_change(context)
    if stopped_at and mark_claim_failed(hook, request.cluster_name, holder):
        return (
            f"claim kept, marked failed: the run stopped at {stopped_at}; a new run of {context['ti'].dag_id} "
            f"on {request.cluster_name} takes it over and resumes"
        )
    if release_cluster(hook, request.cluster_name, holder):
        return "claim released"
    return "no claim of this run to release"


def _failed_after_a_change(context: Context) -> str | None:
    """The first failed hop step, except the first pre-flight (nothing has changed before it ends); else None."""
    ti = context["ti"]
    hop_tasks = [task_id for task_id in context["dag"].task_ids if task_id.startswith("hop_")]
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=hop_tasks).get(ti.run_id, {})
    return next(
        (task_id for task_id in hop_tasks if states.get(task_id) == "failed" and task_id != "hop_1.preflight"),
        None,
    )


REPORTS = run_reports.RunbookReports(RUNBOOK)
report_url_of = REPORTS.url_of
summary_of = REPORTS.summary_of


def write_run_report(context: Context) -> dict[str, Any]:
    """The ``report`` task: write JSON and Markdown, set the DagRun note, return the summary and location."""
    return run_reports.publish_run_report(context, collect_report(context), REPORTS.location(context), report_files)
