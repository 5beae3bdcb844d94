"""The run-level parts of the compliance audit: which clusters, one cluster's audit, the night's report.

Variables (all optional): ``eks_fleet`` — the default targets, a JSON list of ``{"aws_conn_id", "regions"}``;
``eks_required_tags`` — JSON list of tag keys; ``eks_compliance_waivers`` — JSON list of waivers;
``eks_compliance_sns_topic`` — an SNS topic ARN for new HIGH/CRITICAL failures (else the ``ticketing_default``
HTTP connection, when it exists); ``eks_reports_base`` — where reports go.

The ``report_aws_conn_id`` param names the AWS connection that reads and writes ``s3://`` reports and publishes to
the SNS topic.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

from eks_runbooks.core.audit.compliance import apply_waivers, audit_cluster, load_audit_catalogue, parse_waivers
from eks_runbooks.core.audit.report import (
    audit_document,
    audit_scope,
    failures_to_notify,
    render_audit_html,
    unaudited_cluster,
)
from eks_runbooks.core.audit.targets import AuditTarget, ClusterBatch, ClusterRef, parse_target_line
from eks_runbooks.core.clock import utc_now, utc_today
from eks_runbooks.core.eks.names import CHECK_ID, CLUSTER_NAME, CONNECTION_ID, REGION
from eks_runbooks.runs.connections import refuse_unlisted_connections

if TYPE_CHECKING:
    from eks_runbooks.hooks.eks import EksRunbookHook

log = logging.getLogger(__name__)

RUNBOOK = "eks_compliance_audit"


class InvalidAuditInput(AirflowFailException):
    """Targets, filters or waivers are malformed; the message names the entry and key (not retried)."""


def audit_targets(
    targets: Sequence[Mapping[str, Any] | str] | None,
    aws_conn_id: str | None = None,
    regions: Sequence[str] | None = None,
) -> list[AuditTarget]:
    """The targets to audit, from the first of: ``targets`` (several accounts: objects, or the form's lines
    ``connection: region, region``); ``aws_conn_id`` and/or ``regions`` (one account, the form's fields; a missing
    one is ``aws_default`` / the connection's region); Variable ``eks_fleet``; ``aws_default`` in its region."""
    from airflow.sdk import Variable

    if targets and (aws_conn_id or regions):
        raise InvalidAuditInput(
            "Give either targets (several accounts) or aws_conn_id/regions (one account), not both: "
            f"targets={list(targets)!r}, aws_conn_id={aws_conn_id!r}, regions={regions!r}"
        )
    if not targets and (aws_conn_id or regions):
        conn_id = aws_conn_id or "aws_default"
        targets = [{"aws_conn_id": conn_id, "regions": list(regions or [_default_region(conn_id)])}]
    if not targets:
        targets = Variable.get("eks_fleet", default=None, deserialize_json=True) or [
            {"aws_conn_id": "aws_default", "regions": [_default_region("aws_default")]}
        ]
    valid = [_valid_target(index, target) for index, target in enumerate(targets)]
    refuse_unlisted_connections([target.aws_conn_id for target in valid], what="targets")
    return valid


def _valid_target(index: int, target: Any) -> AuditTarget:
    if isinstance(target, str):  # a line of the trigger form
        try:
            target = parse_target_line(target)
        except ValueError as error:
            raise InvalidAuditInput(f"targets[{index}]: {error}") from None
    if not isinstance(target, Mapping) or set(target) - {"aws_conn_id", "regions"}:
        raise InvalidAuditInput(f'targets[{index}] must be {{"aws_conn_id": ..., "regions": [...]}}, not {target!r}')
    conn_id, regions = target.get("aws_conn_id", "aws_default"), target.get("regions")
    if not isinstance(conn_id, str) or not CONNECTION_ID.match(conn_id):
        raise InvalidAuditInput(f"targets[{index}].aws_conn_id {conn_id!r} is not an Airflow connection id")
    if not isinstance(regions, list) or not regions or not all(isinstance(r, str) and REGION.match(r) for r in regions):
        raise InvalidAuditInput(f"targets[{index}].regions {regions!r} is not a list of AWS regions")
    return AuditTarget(conn_id, tuple(dict.fromkeys(regions)))


def _default_region(conn_id: str) -> str:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=conn_id, client_type="eks").conn_region_name or "us-east-1"


def validate_filters(cluster_names: Sequence[str], checks: Sequence[str]) -> None:
    """Refuse filters that can never match (a typo must not silently audit nothing)."""
    bad = [name for name in cluster_names if not isinstance(name, str) or not CLUSTER_NAME.match(name)]
    if bad:
        raise InvalidAuditInput(f"cluster_names: {bad!r} are not EKS cluster names")
    known = {spec.id for spec in load_audit_catalogue()}
    unknown = [
        check for check in checks if not isinstance(check, str) or not CHECK_ID.match(check) or check not in known
    ]
    if unknown:
        raise InvalidAuditInput(f"checks: {unknown!r} are not audit checks (known: {', '.join(sorted(known))})")


def discover_clusters(
    targets: Sequence[AuditTarget], cluster_names: Sequence[str]
) -> tuple[list[ClusterRef], list[dict[str, str]]]:
    """(clusters to audit, targets that could not be listed) — one unreachable region never stops the rest."""
    from eks_runbooks.hooks.eks import EksRunbookHook

    clusters, unreachable = [], []
    for target in targets:
        for region in target.regions:
            try:
                hook = EksRunbookHook(aws_conn_id=target.aws_conn_id, region_name=region)
                names = hook.paginate("list_clusters", "clusters")
            except Exception as error:  # any failure of one target/region is reported, not fatal
                unreachable.append(
                    {
                        "aws_conn_id": target.aws_conn_id,
                        "region": region,
                        "error": f"{type(error).__name__}: {error}",
                    }
                )
                continue
            clusters += [
                ClusterRef(target.aws_conn_id, region, name)
                for name in sorted(names)
                if not cluster_names or name in cluster_names
            ]
    return clusters, unreachable


def audit_cluster_batch(batch: ClusterBatch, checks: Sequence[str]) -> dict[str, Any]:
    """The batch's clusters audited through one hook — one boto3 session, one client per service, the region's
    version calendar and add-on versions read once: ``{"clusters": [audit_one_cluster results], "failed":
    [{"aws_conn_id", "region", "cluster_name", "error"}]}``. A cluster whose audit raises is named with its error
    (ERROR in the report) and the rest of the batch is still audited."""
    from airflow.sdk import Variable

    from eks_runbooks.hooks.eks import EksRunbookHook

    required = tuple(Variable.get("eks_required_tags", default=[], deserialize_json=True))
    hook = EksRunbookHook(aws_conn_id=batch.aws_conn_id, region_name=batch.region)
    audited, errors = read_each_cluster(
        batch, lambda ref: audit_one_cluster(ref, checks, hook=hook, required_tags=required), what="audit"
    )
    return {
        "clusters": [audited[name] for name in batch.cluster_names if name in audited],
        "failed": [
            {**ref.to_dict(), "error": errors[ref.cluster_name]} for ref in batch.refs() if ref.cluster_name in errors
        ],
    }


#: How many times a batch reads a cluster whose read failed (throttled, an API server that did not answer): once
#: more after the rest of the batch, so that a task retry never reads the clusters already read again.
READS_PER_CLUSTER = 2


def read_each_cluster(
    batch: ClusterBatch, read: Callable[[ClusterRef], dict[str, Any]], *, what: str
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """``read`` each cluster of the batch; one failing must not cost the others theirs. A cluster that failed is
    read again after the others (``READS_PER_CLUSTER`` in all). Returns (what was read, the last error of each
    cluster never read) by cluster name."""
    done: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    pending = batch.refs()
    for _ in range(READS_PER_CLUSTER):
        for ref in pending:
            try:
                done[ref.cluster_name] = read(ref)
                errors.pop(ref.cluster_name, None)
            except Exception as error:  # one cluster must not cost the others of its batch their result
                log.warning("Cluster %s (%s, %s): its %s failed: %s", *_where(ref), what, error)
                errors[ref.cluster_name] = f"{type(error).__name__}: {str(error)[:300]}"
        pending = [ref for ref in pending if ref.cluster_name in errors]
    return done, errors


def _where(ref: ClusterRef) -> tuple[str, str, str]:
    return ref.cluster_name, ref.aws_conn_id, ref.region


def batch_outcomes(outcomes: Sequence[Mapping[str, Any] | None]) -> tuple[list[Any], list[dict[str, str]]]:
    """(every cluster's result, the clusters that failed with their error) from the fleet tasks' outcomes; a batch
    whose task failed left None (its clusters are in neither list)."""
    done = [outcome for outcome in outcomes if outcome]
    return [item for outcome in done for item in outcome["clusters"]], [f for o in done for f in o["failed"]]


def discovered_clusters(batches: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Every cluster of discover's batches (``ClusterRef.to_dict()``), in order."""
    return [ref.to_dict() for batch in batches for ref in ClusterBatch.from_dict(batch).refs()]


def audit_one_cluster(
    ref: ClusterRef,
    checks: Sequence[str],
    *,
    hook: EksRunbookHook | None = None,
    required_tags: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One cluster's results (before waivers), shaped as the report's ``clusters`` entries.

    :param hook: The EKS hook of the cluster's connection and region (a batch's, shared); default: a new one.
    :param required_tags: The tag keys every cluster must carry; default: Variable ``eks_required_tags``.
    """
    from airflow.sdk import Variable

    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.readers.audit_facts import gather_cluster_facts

    if required_tags is None:
        required_tags = Variable.get("eks_required_tags", default=[], deserialize_json=True)
    hook = hook or EksRunbookHook(aws_conn_id=ref.aws_conn_id, region_name=ref.region)
    facts = gather_cluster_facts(hook, ref.cluster_name, required_tags=tuple(required_tags))
    results = audit_cluster(facts, load_audit_catalogue(), only=checks or None)
    for source, error in facts.errors.items():
        log.warning("Cluster %s: could not read %s (%s)", ref.cluster_name, source, error)
    return {
        "cluster": ref.cluster_name,
        "region": ref.region,
        "account": facts.account or "unknown",
        "version": facts.cluster.get("version"),
        "aws_conn_id": ref.aws_conn_id,
        "checks": [result.as_dict() for result in results],
    }


@dataclass(frozen=True)
class AuditRun:
    """What the report task knows about its run: the id, the filters, what discovery found.

    :param discovered: the clusters discovery listed (``ClusterRef.to_dict()``); one without a result is ERROR.
    :param failed: the clusters whose audit raised, with the error (``audit_cluster_batch``'s ``failed``).
    :param report_aws_conn_id: reads and writes ``s3://`` reports, publishes to the SNS topic.
    """

    run_id: str
    cluster_names: Sequence[str] = ()
    checks: Sequence[str] = ()
    discovered: Sequence[Mapping[str, str]] = ()
    unreachable: Sequence[Mapping[str, str]] = ()
    report_aws_conn_id: str = "aws_default"
    failed: Sequence[Mapping[str, str]] = ()
    dag_id: str = RUNBOOK


def write_audit_report(run: AuditRun, results: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Apply waivers, compare with the last full report, notify, write JSON + HTML (and ``latest/`` after a full
    run), set the run's note; return a summary. A cluster whose audit task failed is in the report, every check
    ERROR."""
    from eks_runbooks.runs.notes import set_dag_run_note
    from eks_runbooks.runs.reports import ReportLocation, read_report, reports_base, update_latest, write_report

    clusters = _with_waivers([result for result in results if result]) + _unaudited(run, results)
    scope = audit_scope(run.cluster_names, run.checks)
    base = reports_base()
    location = ReportLocation(base, RUNBOOK, run.run_id)
    previous_raw = read_report(f"{base}/{RUNBOOK}/latest/report.json", aws_conn_id=run.report_aws_conn_id)
    previous = json.loads(previous_raw) if previous_raw else None
    report = audit_document(run.run_id, utc_now().isoformat(timespec="seconds"), clusters, previous, scope)
    report["unreachable_targets"] = list(run.unreachable)
    report["notifications"] = _alert(report, location.url("report.html"), run.report_aws_conn_id)
    files = {
        "report.json": json.dumps(report, indent=2, default=str) + "\n",
        "report.html": render_audit_html(report, load_audit_catalogue()),
    }
    urls = write_report(location, files, aws_conn_id=run.report_aws_conn_id)
    if scope["replaces_latest"]:
        update_latest(base, RUNBOOK, files, aws_conn_id=run.report_aws_conn_id)
    else:
        log.info("Filtered run (%s): latest/ is left as the last full run wrote it", _filters(scope))
    summary = audit_summary(report)
    log.info("%s — report: %s", summary, urls[-1])
    set_dag_run_note(run.dag_id, run.run_id, summary)
    return {"summary": summary, "report_json": urls[0], "report_html": urls[-1]}


def _alert(report: Mapping[str, Any], report_url: str, aws_conn_id: str) -> list[dict[str, str]]:
    """Alert on new HIGH/CRITICAL failures — from full runs only: the next full run compares with the same
    baseline as a filtered one, so alerting from both would tell the same failure twice."""
    failures = failures_to_notify(report)
    if failures and not report["scope"]["replaces_latest"]:
        reason = f"filtered run: the next full run alerts on these {len(failures)} new failure(s)"
        log.info("No alert sent (%s)", reason)
        return [{"channel": "none", "status": "skipped", "reason": reason}]
    return notify_new_failures(failures, report_url, aws_conn_id=aws_conn_id)


def _with_waivers(clusters: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    from airflow.sdk import Variable

    from eks_runbooks.core.audit.compliance import CheckResult

    try:
        waivers = parse_waivers(Variable.get("eks_compliance_waivers", default=[], deserialize_json=True))
    except ValueError as error:
        # Reporting without the waivers would announce every waived finding as new: fix the Variable first.
        raise InvalidAuditInput(f"{error}. Fix the Variable, then clear this task.") from None
    today = utc_today()
    return [
        {
            **cluster,
            "checks": [
                result.as_dict()
                for result in apply_waivers(
                    cluster["cluster"], [CheckResult.from_dict(c) for c in cluster["checks"]], waivers, today
                )
            ],
        }
        for cluster in clusters
    ]


def _unaudited(run: AuditRun, results: Sequence[Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """Report entries for the discovered clusters that have no result: their audit raised (the error is said), or
    the task of their batch failed."""
    audited = {(r["aws_conn_id"], r["region"], r["cluster"]) for r in results if r}
    missing = [c for c in run.discovered if (c["aws_conn_id"], c["region"], c["cluster_name"]) not in audited]
    errors = {(f["aws_conn_id"], f["region"], f["cluster_name"]): f["error"] for f in run.failed}
    catalogue = load_audit_catalogue()
    entries = []
    for cluster in missing:
        error = errors.get((cluster["aws_conn_id"], cluster["region"], cluster["cluster_name"]))
        reason = (
            f"the audit of this cluster failed: {error} (see the log of its audit task)"
            if error
            else "the audit task of this cluster failed: nothing was read (see that task's log)"
        )
        log.error(
            "Cluster %s (%s, %s): %s, so it is ERROR in this report; fix the cause, then clear its audit task and "
            "this one (or trigger a run with cluster_names)",
            cluster["cluster_name"],
            cluster["aws_conn_id"],
            cluster["region"],
            reason,
        )
        entries.append(unaudited_cluster(cluster, catalogue, run.checks, reason))
    return entries


def audit_summary(report: Mapping[str, Any]) -> str:
    """One line for the run's note and the log: counts, new failures (named), resolved, what was not audited."""
    counts = report["summary"]["by_status"]
    new = report["trend"]["new_failures"]
    named = ", ".join(f"{f['cluster']} {f['check']}" for f in new[:5]) + (
        f" and {len(new) - 5} more" if len(new) > 5 else ""
    )
    parts = [
        "Compliance audit: "
        + f"{report['summary']['clusters']} cluster(s): "
        + ", ".join(f"{count} {status}" for status, count in counts.items() if count),
        f"{len(new)} new failure(s)" + (f" ({named})" if new else ""),
        f"{len(report['trend']['resolved'])} resolved",
    ]
    if report.get("unreachable_targets"):
        parts.append(f"{len(report['unreachable_targets'])} target region(s) unreachable")
    lost = [n for n in report.get("notifications") or [] if n["status"] == "failed"]
    if lost:
        parts.append(f"notification failed: {lost[0]['channel']}")
    if not report["scope"]["replaces_latest"]:
        parts.append(f"filtered ({_filters(report['scope'])})")
    return "; ".join(parts)


def _filters(scope: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={', '.join(scope[name])}" for name in ("cluster_names", "checks") if scope[name])


def notify_new_failures(
    failures: Sequence[Mapping[str, str]], report_url: str, *, aws_conn_id: str = "aws_default"
) -> list[dict[str, str]]:
    """Tell someone about new HIGH/CRITICAL failures: the SNS topic of Variable ``eks_compliance_sns_topic``,
    else ``ticketing_default`` (``runs/alerts.send_alert``).

    Returns what happened, for the report: ``[{"channel", "status": "sent" | "failed" | "not configured",
    "reason"}]`` (empty when there was nothing new to say). Never raises: a lost alert is recorded and logged.

    :param aws_conn_id: the AWS connection that publishes to the SNS topic.
    """
    from airflow.sdk import Variable

    from eks_runbooks.runs.alerts import send_alert

    if not failures:
        return []
    message = {"runbook": RUNBOOK, "new_failures": list(failures), "report_url": report_url}
    subject = f"EKS audit: {len(failures)} new HIGH/CRITICAL failure(s)"
    topic = Variable.get("eks_compliance_sns_topic", default=None)
    return [send_alert(topic, message, subject, aws_conn_id=aws_conn_id)]
