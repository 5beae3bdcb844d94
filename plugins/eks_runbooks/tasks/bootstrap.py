"""The run-level parts of the cluster bootstrap: request, pre-flight and plan, smoke test, baseline, teardown,
report.

Tasks of ``eks_cluster_bootstrap`` call these; what to send is decided in ``core.bootstrap``. The building steps
in between are ``operators.bootstrap.EksBootstrapStepOperator``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException

from eks_runbooks.core.bootstrap import calls as planned
from eks_runbooks.core.bootstrap.facts import load_bootstrap_facts
from eks_runbooks.core.bootstrap.report import render_report_markdown, summarise_bootstrap
from eks_runbooks.core.bootstrap.request import InvalidBootstrapRequest, parse_bootstrap_request
from eks_runbooks.core.clock import utc_now
from eks_runbooks.runs import run_reports
from eks_runbooks.runs.bootstrap_context import PREFLIGHT_TASK_ID, bootstrap_request_of

if TYPE_CHECKING:
    from airflow.sdk import Context

    from eks_runbooks.core.bootstrap.request import BootstrapRequest

log = logging.getLogger(__name__)

RUNBOOK = "eks_cluster_bootstrap"
APPROVAL_TASK_ID = "approve"
BUILDING_STEPS = planned.STEPS
CHECKING_TASK_IDS = ("smoke_test", "baseline")
REPORT_SCHEMA_VERSION = 1


class PreflightFailed(AirflowFailException):
    """A blocking pre-flight gate failed: nothing was changed (not retried: the inputs or the account need a fix)."""


def request_document(context: Context) -> dict[str, Any]:
    """The ``validate_request`` task: the request as JSON-able data (a connection id only, no credentials)."""
    return bootstrap_request_of(context).as_dict()


def preflight_run(context: Context) -> dict[str, Any]:
    """The ``preflight`` task: every gate evaluated, the version and add-on versions resolved, and the exact
    requests the run would send (read-only, in plan mode and before a real run alike)."""
    from eks_runbooks.core.bootstrap.preflight import blocking_failures, resolve_versions, run_preflight
    from eks_runbooks.readers.bootstrap import BootstrapClients, gather_bootstrap_preflight

    request = bootstrap_request_of(context)
    clients = BootstrapClients.for_connection(request.aws_conn_id, request.region)
    inputs = gather_bootstrap_preflight(clients, request)
    findings = run_preflight(inputs)
    version, addon_versions = resolve_versions(inputs)
    document: dict[str, Any] = {
        "dry_run": request.dry_run,
        "checks": [finding.as_dict() for finding in findings],
    }
    failures = blocking_failures(findings)
    if not failures:
        resolved = planned.Resolved(
            account_id=inputs.account_id,
            partition=_partition_of(request.region),
            version=version,
            runbook_principal_arn=clients.iam.caller_principal_arn(clients.sts),
            addon_versions=dict(addon_versions),
            run_id=context["ti"].run_id,
            kms_key_arn=request.kms_key_arn,
        )
        calls = planned.planned_calls(request, resolved)
        document |= {
            "resolved": dataclasses.asdict(resolved),
            "calls": [call.as_dict() for call in calls],
            "requests_markdown": planned.calls_markdown(calls),
        }
    context["ti"].xcom_push(key="return_value", value=document)
    if failures:
        raise PreflightFailed(
            f"Pre-flight of {request.cluster_name} failed — "
            + "; ".join(f"{finding.check_id}: {finding.detail}" for finding in failures)
            + ". Nothing was changed."
        )
    return document


def _partition_of(region: str) -> str:
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def smoke_namespace(run_id: str) -> str:
    """The smoke test's own namespace (an RFC 1123 label unique to the run)."""
    return "eks-runbooks-smoke-" + hashlib.sha256(run_id.encode()).hexdigest()[:10]


def smoke_test_run(context: Context, poll_seconds: float, timeout_seconds: float) -> dict[str, Any]:
    """The ``smoke_test`` task: a Deployment and a Service on the new nodes, proven and removed."""
    from eks_runbooks.readers.bootstrap_gates import smoke_test
    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    request = _building(context, "smoke test")
    smoke = load_bootstrap_facts().smoke_test
    namespace = smoke_namespace(context["ti"].run_id)
    with eks_kubernetes_client(
        request.cluster_name, aws_conn_id=request.aws_conn_id, region_name=request.region
    ) as api:
        evidence, problems = smoke_test(
            api, namespace, smoke["image"], smoke["replicas"], timeout_seconds, poll_seconds
        )
    result = {"namespace": namespace, "gate": {"evidence": evidence, "problems": problems}}
    context["ti"].xcom_push(key="return_value", value=result)
    if problems:
        raise AirflowFailException(f"Bootstrap of {request.cluster_name}, smoke test: {'; '.join(problems)}")
    return result


def baseline_run(context: Context) -> dict[str, Any]:
    """The ``baseline`` task: the compliance audit's checks the bootstrap answers for must all PASS."""
    from eks_runbooks.core.audit.targets import ClusterRef
    from eks_runbooks.tasks.audit import audit_one_cluster

    request = _building(context, "baseline")
    wanted = load_bootstrap_facts().baseline_checks
    audited = audit_one_cluster(ClusterRef(request.aws_conn_id, request.region, request.cluster_name), wanted)
    checks = [check for check in audited["checks"] if check["id"] in wanted]
    failing = [check for check in checks if check["status"] != "PASS"]
    missing = sorted(set(wanted) - {check["id"] for check in checks})
    result = {"checks": checks, "failing": [check["id"] for check in failing], "not_evaluated": missing}
    context["ti"].xcom_push(key="return_value", value=result)
    if failing or missing:
        named = [f"{check['id']} ({check['status']}: {check['detail']})" for check in failing]
        named += [f"{check_id} (not evaluated)" for check_id in missing]
        raise AirflowFailException(
            f"Bootstrap of {request.cluster_name}: the compliance baseline does not pass — {'; '.join(named)}"
        )
    _mark_completed(request, context["ti"].run_id)
    return result


def _mark_completed(request: BootstrapRequest, run_id: str) -> None:
    """Tag the cluster with the run that finished it: later runs of the same definition refuse to change it."""
    from eks_runbooks.hooks.eks import EksRunbookHook

    hook = EksRunbookHook(aws_conn_id=request.aws_conn_id, region_name=request.region)
    hook.tag_cluster(hook.get_cluster(request.cluster_name)["arn"], {planned.TAG_COMPLETED: run_id})


def _building(context: Context, step: str) -> BootstrapRequest:
    request = bootstrap_request_of(context)
    if request.dry_run:
        raise AirflowSkipException(f"Plan mode: the {step} runs on a built cluster only")
    return request


def teardown_run(context: Context) -> dict[str, Any]:
    """The ``teardown_on_failure`` task: after a failed building step, and only when asked, remove what this run
    created that can go — deletion protection is respected: the report says what a person does."""
    from eks_runbooks.hooks.bootstrap import bootstrap_clients, remove_created
    from eks_runbooks.runs.bootstrap_context import BootstrapRequestRejected

    try:
        request = bootstrap_request_of(context)
    except BootstrapRequestRejected:
        raise AirflowSkipException("The request was refused: nothing was created") from None
    states = run_reports.task_states(context)
    failed = [task for task in (*BUILDING_STEPS, *CHECKING_TASK_IDS) if states.get(task) == "failed"]
    if request.dry_run:
        raise AirflowSkipException("Plan mode: nothing was created")
    if not failed:
        raise AirflowSkipException("No step failed: nothing to tear down")
    if not request.teardown_on_failure:
        raise AirflowSkipException("teardown_on_failure is false: the report lists what exists")
    created = [
        outcome
        for step in BUILDING_STEPS
        for outcome in (context["ti"].xcom_pull(task_ids=step, key="sent") or [])
        if outcome.get("outcome") == "created"
    ]
    clients = bootstrap_clients(request.aws_conn_id, request.region)
    return remove_created(clients, request.cluster_name, created)


REPORTS = run_reports.RunbookReports(RUNBOOK)
report_url_of = REPORTS.url_of
summary_of = REPORTS.summary_of


def collect_report(context: Context) -> dict[str, Any]:
    """The run's report as data: the request, every gate with its evidence, what was created (ARNs and ids),
    the baseline, failures."""
    ti, dag_run = context["ti"], context["dag_run"]
    states = run_reports.task_states(context)
    try:
        request: dict[str, Any] | None = parse_bootstrap_request(dict(context["params"])).as_dict()
    except InvalidBootstrapRequest:
        request = None
    preflight = ti.xcom_pull(task_ids=PREFLIGHT_TASK_ID) or {}
    approval = ti.xcom_pull(task_ids=APPROVAL_TASK_ID) or {}
    report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "runbook": RUNBOOK,
        "run_id": dag_run.run_id,
        "cluster_name": (request or {}).get("cluster_name") or str(context["params"].get("cluster_name") or "") or None,
        "generated_at": utc_now().isoformat(timespec="seconds"),
        "started_at": dag_run.start_date.isoformat() if dag_run.start_date else None,
        "ended_at": datetime.now(UTC).isoformat(),
        "request": request,
        "preflight": preflight,
        "steps": {
            task: {
                "state": states.get(task) or "not run",
                "result": ti.xcom_pull(task_ids=task),
                "sent": ti.xcom_pull(task_ids=task, key="sent") if task in BUILDING_STEPS else None,
            }
            for task in (*BUILDING_STEPS, *CHECKING_TASK_IDS, "teardown_on_failure")
        },
        "failures": run_reports.failures_of(context, states),
        "rejected_by": approval.get("rejected_by"),
        "ticket_attempts": None,
    }
    report["summary"] = summarise_bootstrap(report)
    return report


def write_run_report(context: Context) -> dict[str, Any]:
    """The ``report`` task: JSON and Markdown, the run's note, and the ticket's attempts."""
    return run_reports.publish_run_report(context, collect_report(context), REPORTS.location(context), _report_files)


def _report_files(report: Mapping[str, Any]) -> dict[str, str]:
    return {
        "report.json": json.dumps(report, indent=2, default=str) + "\n",
        "report.md": render_report_markdown(report),
    }
