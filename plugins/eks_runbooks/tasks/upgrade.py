"""The run-level parts of the upgrade runbook: its request, its plan, and its report.

Tasks of ``eks_cluster_upgrade`` call these; the decisions are in ``core`` (``upgrade_request``,
``upgrade_plan``, ``upgrade_report``), this module reads AWS and Airflow state for them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

from eks_runbooks.core.clock import utc_now
from eks_runbooks.core.upgrade.plan import (
    UpgradePlanError,
    load_addon_rules,
    plan_addon_steps_for_hops,
    plan_upgrade_path,
)
from eks_runbooks.core.upgrade.report import (
    HOP_STEPS,
    plan_document,
    render_report_markdown,
    summarise_run,
)
from eks_runbooks.core.upgrade.request import InvalidUpgradeRequest, UpgradeRequest, parse_upgrade_request
from eks_runbooks.runs.upgrade_context import AWS_RETRIES, PLAN_TASK_ID, upgrade_request_of

if TYPE_CHECKING:
    from airflow.sdk import Context

    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.runs.reports import ReportLocation

log = logging.getLogger(__name__)

RUNBOOK = "eks_cluster_upgrade"
#: The fixed number of hop task groups: EKS's 26 months of support span at most five minor versions.
MAX_HOPS = 5
APPROVAL_TASK_ID = "approve"
FAILURE_KEY = "failure"
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


def plan_upgrade_run(hook: EksRunbookHook, request: UpgradeRequest) -> dict[str, Any]:
    """Read the cluster and EKS's version calendar and plan the run (read-only)."""
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


def remember_failure(context: Context) -> None:
    """Task failure callback: keep the error for the run's report (the report reads it from XCom)."""
    error = context.get("exception")
    if error is not None:
        context["ti"].xcom_push(key=FAILURE_KEY, value=f"{type(error).__name__}: {error}"[:4000])


def collect_report(context: Context) -> dict[str, Any]:
    """The run's report as data, from the XComs its tasks left and their states (read when the run ends)."""
    ti, dag_run = context["ti"], context["dag_run"]
    task_ids = [task_id for task_id in context["dag"].task_ids if task_id != ti.task_id]
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=task_ids).get(ti.run_id, {})
    try:
        request: dict[str, Any] | None = request_document(parse_upgrade_request(dict(context["params"])))
    except InvalidUpgradeRequest:
        request = None
    plan = ti.xcom_pull(task_ids=PLAN_TASK_ID)
    failures = [
        {"task": task_id, "message": message}
        for task_id in task_ids
        if states.get(task_id) == "failed" and (message := ti.xcom_pull(task_ids=task_id, key=FAILURE_KEY)) is not None
    ]
    failures += [
        {"task": task_id, "message": "failed (no message recorded; see the task log)"}
        for task_id in task_ids
        if states.get(task_id) == "failed" and task_id not in {failure["task"] for failure in failures}
    ]
    hops = []
    for number, hop in enumerate((plan or {}).get("hops", []), start=1):
        group = f"hop_{number}"
        steps = [
            {
                "step": step,
                "state": states.get(f"{group}.{step}") or "not run",
                "result": ti.xcom_pull(task_ids=f"{group}.{step}"),
                "failure": ti.xcom_pull(task_ids=f"{group}.{step}", key=FAILURE_KEY),
            }
            for step in HOP_STEPS
        ]
        preflight = ti.xcom_pull(task_ids=f"{group}.preflight", key="preflight")
        hops.append({**hop, "steps": steps, "preflight": preflight})
    approval = ti.xcom_pull(task_ids=APPROVAL_TASK_ID) or {}
    return run_report_document(
        dag_run.run_id,
        utc_now().isoformat(timespec="seconds"),
        request=request,
        plan=plan,
        hops=hops,
        failures=failures,
        rejected_by=approval.get("rejected_by"),
        cluster_name=str(context["params"].get("cluster_name") or "") or None,
    )


def run_report_document(
    run_id: str,
    generated_at: str,
    *,
    request: Mapping[str, Any] | None,
    plan: Mapping[str, Any] | None,
    hops: list[dict[str, Any]],
    failures: list[dict[str, str]],
    rejected_by: str | None,
    cluster_name: str | None = None,
) -> dict[str, Any]:
    """The run's ``report.json`` document: what was asked, planned, done and found, and its one-line summary.

    :param cluster_name: the cluster the run was started for, kept even when its request was refused.
    """
    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "runbook": RUNBOOK,
        "run_id": run_id,
        "cluster_name": cluster_name or (request or {}).get("cluster_name"),
        "generated_at": generated_at,
        "request": request,
        "plan": plan,
        "hops": hops,
        "failures": failures,
        "rejected_by": rejected_by,
    }
    report["summary"] = summarise_run(report)
    return report


def report_files(report: Mapping[str, Any]) -> dict[str, str]:
    """``report.json`` and ``report.md`` of a collected report."""
    preflight_markdown = {
        hop["to"]: hop["preflight"]["markdown"]
        for hop in report["hops"]
        if (hop.get("preflight") or {}).get("markdown")
    }
    return {
        "report.json": json.dumps(report, indent=2, default=str) + "\n",
        "report.md": render_report_markdown(report, preflight_markdown),
    }


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
    plan = plan_upgrade_run(hook, request)
    claim, holder = cluster_claim(hook, request.cluster_name), _holder(context)
    refused = claim is not None and claim.holder != holder and not claim.taken_over_by(holder)
    plan["held_by"] = claim.holder if refused else None
    plan["markdown"] = render_plan_markdown(plan)
    return plan


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


def report_location(context: Context) -> ReportLocation:
    """Where this run's report is written: ``<eks_reports_base>/eks_cluster_upgrade/<run id>/``."""
    from eks_runbooks.runs.reports import ReportLocation, reports_base

    run_id = context.get("run_id") or context["dag_run"].run_id
    return ReportLocation(reports_base(), RUNBOOK, run_id)


def report_url_of(context: Context) -> str:
    """The URL of the run's Markdown report (for the ticketing notifier)."""
    return report_location(context).url("report.md")


def summary_of(context: Context) -> str | None:
    """The summary the run's report holds (for the ticketing notifier); None when there is no report."""
    from eks_runbooks.runs.reports import read_report

    written = read_report(report_location(context).url("report.json"))
    return json.loads(written)["summary"] if written else None


def write_run_report(context: Context) -> dict[str, Any]:
    """The ``report`` task: write JSON and Markdown, set the DagRun note, return the summary and location."""
    from eks_runbooks.runs.notes import set_dag_run_note
    from eks_runbooks.runs.reports import write_report

    report = collect_report(context)
    request = report["request"] or {}
    location = report_location(context)
    # The note first: a run whose report store is unreachable still says how it ended.
    set_dag_run_note(context["ti"].dag_id, context["ti"].run_id, report["summary"])
    urls = write_report(location, report_files(report), aws_conn_id=request.get("aws_conn_id", "aws_default"))
    log.info("%s — report: %s", report["summary"], urls[-1])
    return {"summary": report["summary"], "report_json": urls[0], "report_markdown": urls[-1]}
