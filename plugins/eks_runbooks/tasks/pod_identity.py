"""The run-level parts of the Pod Identity migration: plan, role trust, associations, cleanup, claim, report.

Tasks of ``eks_pod_identity_migration`` call these; decisions are in ``core.pod_identity``. Every step re-reads
the cluster and does only what is left, so a re-run or a retried task repeats nothing: a role that already
trusts Pod Identity is not edited, an identical association is not created twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException

from eks_runbooks.core.clock import utc_now
from eks_runbooks.core.pod_identity.assess import assess_migration
from eks_runbooks.core.pod_identity.facts import load_pod_identity_facts
from eks_runbooks.core.pod_identity.plan import MIGRATED_BY_TAG, RUNBOOK, Action, Phase
from eks_runbooks.core.pod_identity.report import render_plan_markdown, render_report_markdown, summarise_migration
from eks_runbooks.core.pod_identity.request import InvalidMigrationRequest, MigrationRequest, parse_migration_request
from eks_runbooks.core.pod_identity.trust import with_irsa_trust, with_pod_identity_trust, without_irsa_trust
from eks_runbooks.runs import run_reports
from eks_runbooks.runs.pod_identity_context import (
    PLAN_TASK_ID,
    MigrationClients,
    image_sdks,
    migration_clients,
    migration_request_of,
    plan_of,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


log = logging.getLogger(__name__)

APPROVAL_TASK_ID = "approve"
RESTART_TASK_ID = "restart_and_verify"
STEP_TASK_IDS = ("prepare_agent", "update_trust", "associate", RESTART_TASK_ID, "cleanup")
REPORT_SCHEMA_VERSION = 1


def _holder(context: Context) -> str:
    from eks_runbooks.runs.claims import claim_holder

    return claim_holder(context["ti"].dag_id, context["ti"].run_id)


def _skip_unless(request: MigrationRequest, step: str, *phases: Phase) -> None:
    if request.dry_run:
        raise AirflowSkipException(f"Plan mode (dry_run): {step} would change cluster {request.cluster_name}; skipped")
    if request.phase not in phases:
        raise AirflowSkipException(f"{step} is not part of a {request.phase} run")


def request_document(context: Context) -> dict[str, Any]:
    """The ``validate_request`` task: the request as JSON-able data (a connection id only, no credentials)."""
    return migration_request_of(context).as_dict()


def plan_run(context: Context) -> dict[str, Any]:
    """The ``plan`` task: read the cluster, judge every service account in scope, plan the phase (read-only).

    A cluster finding that blocks the run fails the task after the plan is kept for the report.
    """
    from eks_runbooks.readers.pod_identity import read_migration_facts
    from eks_runbooks.runs.claims import cluster_claim

    request = migration_request_of(context)
    with migration_clients(request) as clients:
        facts = read_migration_facts(clients.eks, clients.iam, clients.reader, request)
        plan = assess_migration(facts, request.cluster_name, request.phase, image_sdks()).as_dict()
        claim, holder = cluster_claim(clients.eks, request.cluster_name), _holder(context)
    plan["held_by"] = claim.holder if claim and claim.holder != holder and not claim.taken_over_by(holder) else None
    plan["dry_run"] = request.dry_run
    plan["markdown"] = render_plan_markdown(plan)
    log.info("Plan for cluster %s:\n\n%s", request.cluster_name, plan["markdown"])
    if plan["blocking"] and not request.dry_run:
        context["ti"].xcom_push(key="return_value", value=plan)
        first = plan["blocking"][0]
        raise AirflowFailException(
            f"Pod Identity {request.phase} of {request.cluster_name} stopped at the plan — {first['check_id']}: "
            f"{first['detail']}. {first['remediation']} Nothing was changed."
        )
    return plan


def claim_run(context: Context) -> str:
    """The ``claim_cluster`` task: hold the cluster for this run (plan mode claims nothing)."""
    from eks_runbooks.runs.claims import claim_cluster

    request = migration_request_of(context)
    if request.dry_run:
        return "plan mode: the cluster is not claimed"
    with migration_clients(request) as clients:
        taken_from = claim_cluster(clients.eks, request.cluster_name, _holder(context))
    return f"claimed by {_holder(context)}" + (f", taken over from failed run {taken_from}" if taken_from else "")


def release_run(context: Context) -> str:
    """The ``release_cluster`` task: drop this run's claim, or keep it marked failed when a step failed."""
    from eks_runbooks.runs.claims import mark_claim_failed, release_cluster

    request = migration_request_of(context)
    ti = context["ti"]
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=list(STEP_TASK_IDS)).get(ti.run_id, {})
    failed = next((task for task in STEP_TASK_IDS if states.get(task) == "failed"), None)
    with migration_clients(request) as clients:
        if failed and mark_claim_failed(clients.eks, request.cluster_name, _holder(context)):
            return f"claim kept, marked failed at {failed}; a new run of {ti.dag_id} takes it over and resumes"
        return "claim released" if release_cluster(clients.eks, request.cluster_name, _holder(context)) else "no claim"


def _accounts(plan: Mapping[str, Any], *actions: Action) -> list[dict[str, Any]]:
    return [account for account in plan.get("service_accounts", []) if account["action"] in {str(a) for a in actions}]


def _provider_of(clients: MigrationClients, cluster_name: str) -> str:
    from eks_runbooks.core.pod_identity.trust import oidc_provider_arn

    cluster = clients.eks.get_cluster(cluster_name)
    partition, account = cluster["arn"].split(":")[1], cluster["arn"].split(":")[4]
    return oidc_provider_arn(partition, account, cluster["identity"]["oidc"]["issuer"])


def update_trust_run(context: Context) -> dict[str, Any]:
    """The ``update_trust`` task. migrate: each role trusts ``pods.eks.amazonaws.com`` (once; its OIDC statements
    stay). rollback: each service account's annotation and its role's OIDC trust are back."""
    from eks_runbooks.hooks.iam import role_name_of

    request = migration_request_of(context)
    _skip_unless(request, "update_trust", Phase.MIGRATE, Phase.ROLLBACK)
    plan, changed, unchanged = plan_of(context), [], []
    with migration_clients(request) as clients:
        if request.phase is Phase.MIGRATE:
            for role_arn in sorted({a["role_arn"] for a in _accounts(plan, Action.MIGRATE, Action.RESTART)}):
                role = clients.iam.get_role(role_name_of(role_arn))
                updated = with_pod_identity_trust(role["AssumeRolePolicyDocument"]) if role else None
                if updated is not None:
                    clients.iam.update_trust_policy(role_name_of(role_arn), updated)
                (changed if updated is not None else unchanged).append(role_arn)
        else:
            provider = _provider_of(clients, request.cluster_name)
            for account in _accounts(plan, Action.ROLL_BACK):
                changed += _restore_irsa(clients, provider, account)
    log.info("Trust policies changed: %s; already right: %s", changed or "none", unchanged or "none")
    return {"changed": changed, "unchanged": unchanged}


def _restore_irsa(clients: MigrationClients, provider: str, account: Mapping[str, Any]) -> list[str]:
    """The service account's annotation and its role's OIDC statement, put back where missing."""
    from eks_runbooks.hooks.iam import role_name_of
    from eks_runbooks.readers.workload_changes import set_service_account_annotation

    done = []
    annotation = load_pod_identity_facts().irsa_annotation
    if set_service_account_annotation(
        clients.kube_api, account["namespace"], account["name"], annotation, account["role_arn"]
    ):
        done.append(f"annotation of {account['key']}")
    role = clients.iam.get_role(role_name_of(account["role_arn"]))
    document = role["AssumeRolePolicyDocument"] if role else None
    updated = with_irsa_trust(document, provider, account["namespace"], account["name"]) if document else None
    if updated is not None:
        clients.iam.update_trust_policy(role_name_of(account["role_arn"]), updated)
        done.append(f"OIDC trust of {account['role_arn']} for {account['key']}")
    return done


def associate_run(context: Context) -> dict[str, Any]:
    """The ``associate`` task. migrate: one association per service account (tagged as this runbook's), add-ons
    through UpdateAddon. rollback: the associations this runbook made are deleted."""
    request = migration_request_of(context)
    _skip_unless(request, "associate", Phase.MIGRATE, Phase.ROLLBACK)
    plan, done = plan_of(context), {}
    with migration_clients(request) as clients:
        if request.phase is Phase.MIGRATE:
            existing = {
                f"{a['namespace']}/{a['serviceAccount']}": a["associationId"]
                for a in clients.eks.list_pod_identity_associations(request.cluster_name)
            }
            for account in _accounts(plan, Action.MIGRATE):
                if account["key"] in existing and not account.get("addon"):
                    done[account["key"]] = f"association {existing[account['key']]} exists"
                    continue
                done[account["key"]] = _associate(clients, request, account, context)
        else:
            for account in _accounts(plan, Action.ROLL_BACK):
                done[account["key"]] = _dissociate(clients, request, account)
    return done


def _associate(
    clients: MigrationClients, request: MigrationRequest, account: Mapping[str, Any], context: Context
) -> str:
    from eks_runbooks.operators.eks import default_request_token

    if account.get("addon"):
        return _move_addon(clients, request, account, context)
    created = clients.eks.create_pod_identity_association(
        request.cluster_name,
        account["namespace"],
        account["name"],
        account["role_arn"],
        tags={MIGRATED_BY_TAG: RUNBOOK},
        request_token=default_request_token(context, account["key"]),
    )
    return f"association {created['associationId']} created"


def _move_addon(
    clients: MigrationClients, request: MigrationRequest, account: Mapping[str, Any], context: Context
) -> str:
    from eks_runbooks.operators.eks import default_request_token

    addon = clients.eks.describe_addon(request.cluster_name, account["addon"])
    owned = [
        a
        for a in clients.eks.describe_pod_identity_associations(request.cluster_name)
        if a.get("ownerArn") == addon["addonArn"]
    ]
    if any(a["serviceAccount"] == account["name"] for a in owned):
        return f"add-on {account['addon']} already associates {account['name']}"
    wanted = [{"serviceAccount": a["serviceAccount"], "roleArn": a["roleArn"]} for a in owned]
    wanted.append({"serviceAccount": account["name"], "roleArn": account["role_arn"]})
    clients.eks.tag_cluster(addon["addonArn"], {MIGRATED_BY_TAG: RUNBOOK})
    clients.eks.set_addon_pod_identity(
        request.cluster_name, account["addon"], wanted, request_token=default_request_token(context, account["key"])
    )
    return f"add-on {account['addon']} moved to Pod Identity (UpdateAddon podIdentityAssociations)"


def _dissociate(clients: MigrationClients, request: MigrationRequest, account: Mapping[str, Any]) -> str:
    if account.get("addon"):
        clients.eks.set_addon_pod_identity(
            request.cluster_name, account["addon"], [], service_account_role_arn=account["role_arn"]
        )
        return f"add-on {account['addon']} back on IRSA"
    if not account.get("association_id"):
        return "no association left"
    if not clients.eks.delete_pod_identity_association(request.cluster_name, account["association_id"]):
        return f"association {account['association_id']} already deleted"
    return f"association {account['association_id']} deleted"


def cleanup_run(context: Context) -> dict[str, Any]:
    """The ``cleanup`` task: remove IRSA annotations of verified service accounts, and this cluster's OIDC
    statement from roles nothing here uses through IRSA any more. Never the IAM OIDC provider."""
    from eks_runbooks.hooks.iam import role_name_of
    from eks_runbooks.readers.workload_changes import set_service_account_annotation

    request = migration_request_of(context)
    _skip_unless(request, "cleanup", Phase.CLEANUP)
    plan, results = plan_of(context), {}
    annotation = load_pod_identity_facts().irsa_annotation
    with migration_clients(request) as clients:
        for account in _accounts(plan, Action.CLEAN_UP):
            set_service_account_annotation(clients.kube_api, account["namespace"], account["name"], annotation, None)
            results[account["key"]] = "IRSA annotation removed"
        provider = _provider_of(clients, request.cluster_name)
        for role in plan.get("roles") or []:
            if not role["remove_oidc_statement"]:
                results[role["role_arn"]] = f"OIDC statement kept: {role['reason']}"
                continue
            current = clients.iam.get_role(role_name_of(role["role_arn"]))
            updated = without_irsa_trust(current["AssumeRolePolicyDocument"], provider) if current else None
            if updated is not None:
                clients.iam.update_trust_policy(role_name_of(role["role_arn"]), updated)
            results[role["role_arn"]] = (
                "OIDC statement of this cluster removed" if updated else "no OIDC statement left"
            )
    return results


REPORTS = run_reports.RunbookReports(RUNBOOK)
report_url_of = REPORTS.url_of
summary_of = REPORTS.summary_of


def collect_report(context: Context) -> dict[str, Any]:
    """The run's report as data, from its tasks' XComs and states."""
    ti, dag_run = context["ti"], context["dag_run"]
    states = run_reports.task_states(context)
    try:
        request: dict[str, Any] | None = parse_migration_request(dict(context["params"])).as_dict()
    except InvalidMigrationRequest:
        request = None
    failures = run_reports.failures_of(context, states)
    plan = ti.xcom_pull(task_ids=PLAN_TASK_ID)
    approval = ti.xcom_pull(task_ids=APPROVAL_TASK_ID) or {}
    report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "runbook": RUNBOOK,
        "run_id": dag_run.run_id,
        "cluster_name": str(context["params"].get("cluster_name") or "") or None,
        "generated_at": utc_now().isoformat(timespec="seconds"),
        "started_at": dag_run.start_date.isoformat() if dag_run.start_date else None,
        "ended_at": datetime.now(UTC).isoformat(),
        "request": request,
        "plan": {key: value for key, value in (plan or {}).items() if key != "markdown"} or None,
        "steps": {
            task: {"state": states.get(task) or "not run", "result": ti.xcom_pull(task_ids=task)}
            for task in STEP_TASK_IDS
        },
        "results": results_per_service_account(
            plan or {}, ti.xcom_pull(task_ids=RESTART_TASK_ID) or {}, ti.xcom_pull(task_ids="cleanup") or {}
        ),
        "failures": failures,
        "rejected_by": approval.get("rejected_by"),
        "ticket_attempts": None,
    }
    report["summary"] = summarise_migration(report)
    return report


def results_per_service_account(
    plan: Mapping[str, Any], restarted: Mapping[str, Any], cleaned: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Per service account: before (its role), the action, after (the outcome) and the evidence."""
    results = {}
    for account in plan.get("service_accounts", []):
        key = account["key"]
        outcome = restarted.get(key) or {}
        results[key] = {
            "before": f"IRSA ({account['role_arn']})" if account.get("role_arn") else "no IRSA annotation",
            "action": account["action"],
            "outcome": outcome.get("outcome") or cleaned.get(key) or _unchanged(account, plan),
            "evidence": outcome.get("evidence") or list(account.get("reasons") or []),
        }
    return results


def _unchanged(account: Mapping[str, Any], plan: Mapping[str, Any]) -> str:
    if plan.get("dry_run", True):
        return (
            f"would {account['action']}"
            if account["action"] in ("migrate", "restart", "clean up", "roll back")
            else account["action"]
        )
    return account["action"]


def write_run_report(context: Context) -> dict[str, Any]:
    """The ``report`` task: JSON and Markdown, the run's note, and the ticket's attempts."""
    return run_reports.publish_run_report(context, collect_report(context), REPORTS.location(context), _report_files)


def _report_files(report: Mapping[str, Any]) -> dict[str, str]:
    return {
        "report.json": json.dumps(report, indent=2, default=str) + "\n",
        "report.md": render_report_markdown(report),
    }
