"""The run-level parts of the compliance audit: which clusters, one cluster's audit, the night's report.

Variables (all optional): ``eks_fleet`` — the default targets, a JSON list of ``{"aws_conn_id", "regions"}``;
``eks_required_tags`` — JSON list of tag keys; ``eks_compliance_waivers`` — JSON list of waivers;
``eks_compliance_sns_topic`` — an SNS topic ARN for new HIGH/CRITICAL failures (else the ``ticketing_default``
HTTP connection, when it exists); ``eks_reports_base`` — where reports go.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException

from eks_runbooks.core.audit.compliance import apply_waivers, audit_cluster, load_audit_catalogue, parse_waivers
from eks_runbooks.core.audit.report import audit_document, failures_to_notify, render_audit_html
from eks_runbooks.core.audit.targets import AuditTarget, ClusterRef
from eks_runbooks.core.clock import utc_now, utc_today
from eks_runbooks.core.eks.names import CHECK_ID, CLUSTER_NAME, CONNECTION_ID, REGION
from eks_runbooks.runs.connections import refuse_unlisted_connections

log = logging.getLogger(__name__)

RUNBOOK = "eks_compliance_audit"


class InvalidAuditInput(AirflowFailException):
    """Targets, filters or waivers are malformed; the message names the entry and key (not retried)."""


def audit_targets(targets: Sequence[Mapping[str, Any]]) -> list[AuditTarget]:
    """The targets to audit: the param when given, else Variable ``eks_fleet``, else ``aws_default`` in its region."""
    from airflow.sdk import Variable

    if not targets:
        targets = Variable.get("eks_fleet", default=None, deserialize_json=True) or [
            {"aws_conn_id": "aws_default", "regions": [_default_region("aws_default")]}
        ]
    valid = [_valid_target(index, target) for index, target in enumerate(targets)]
    refuse_unlisted_connections([target.aws_conn_id for target in valid], what="targets")
    return valid


def _valid_target(index: int, target: Any) -> AuditTarget:
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


def audit_one_cluster(ref: ClusterRef, checks: Sequence[str]) -> dict[str, Any]:
    """One cluster's results (before waivers), shaped as the report's ``clusters`` entries."""
    from airflow.sdk import Variable

    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.readers.audit_facts import gather_cluster_facts

    required = tuple(Variable.get("eks_required_tags", default=[], deserialize_json=True))
    hook = EksRunbookHook(aws_conn_id=ref.aws_conn_id, region_name=ref.region)
    facts = gather_cluster_facts(hook, ref.cluster_name, required_tags=required)
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


def write_audit_report(
    run_id: str, clusters: Sequence[Mapping[str, Any]], unreachable: Sequence[Mapping[str, str]]
) -> dict[str, Any]:
    """Apply waivers, compare with the previous report, write JSON + HTML (and latest/), notify; return a summary."""
    from airflow.sdk import Variable

    from eks_runbooks.core.audit.compliance import CheckResult
    from eks_runbooks.runs.reports import ReportLocation, read_report, reports_base, update_latest, write_report

    today = utc_today()
    try:
        waivers = parse_waivers(Variable.get("eks_compliance_waivers", default=[], deserialize_json=True))
    except ValueError as error:
        # Reporting without the waivers would announce every waived finding as new: fix the Variable first.
        raise InvalidAuditInput(f"{error}. Fix the Variable, then clear this task.") from None
    waived = []
    for cluster in clusters:
        results = [CheckResult.from_dict(check) for check in cluster["checks"]]
        checks = [r.as_dict() for r in apply_waivers(cluster["cluster"], results, waivers, today)]
        waived.append({**cluster, "checks": checks})
    base = reports_base()
    previous_raw = read_report(f"{base}/{RUNBOOK}/latest/report.json")
    previous = json.loads(previous_raw) if previous_raw else None
    report = audit_document(run_id, utc_now().isoformat(timespec="seconds"), waived, previous)
    report["unreachable_targets"] = list(unreachable)
    files = {
        "report.json": json.dumps(report, indent=2, default=str) + "\n",
        "report.html": render_audit_html(report, load_audit_catalogue()),
    }
    urls = write_report(ReportLocation(base, RUNBOOK, run_id), files)
    update_latest(base, RUNBOOK, files)
    notify_new_failures(failures_to_notify(report), urls[-1])
    counts = report["summary"]["by_status"]
    summary = (
        f"{len(waived)} cluster(s): "
        + ", ".join(f"{count} {status}" for status, count in counts.items() if count)
        + f"; {len(report['trend']['new_failures'])} new failure(s), {len(report['trend']['resolved'])} resolved"
    )
    log.info("%s — report: %s", summary, urls[-1])
    return {"summary": summary, "report_json": urls[0], "report_html": urls[-1]}


def notify_new_failures(failures: Sequence[Mapping[str, str]], report_url: str) -> str | None:
    """Tell someone about new HIGH/CRITICAL failures: SNS when a topic is configured, else ``ticketing_default``.

    Returns where the notification went (None when there was nothing to say or nowhere to say it). Never raises.
    """
    from airflow.sdk import Variable

    if not failures:
        return None
    message = {"runbook": RUNBOOK, "new_failures": list(failures), "report_url": report_url}
    try:
        topic = Variable.get("eks_compliance_sns_topic", default=None)
        if topic:
            from airflow.providers.amazon.aws.hooks.sns import SnsHook

            SnsHook(aws_conn_id="aws_default", region_name=_topic_region(topic)).publish_to_target(
                target_arn=topic,
                message=json.dumps(message),
                subject=f"EKS audit: {len(failures)} new HIGH/CRITICAL failure(s)",
            )
            return topic
        from airflow.providers.http.hooks.http import HttpHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            HttpHook.get_connection("ticketing_default")
        except AirflowNotFoundException:
            log.info("%d new HIGH/CRITICAL failure(s); no SNS topic or ticketing_default to tell", len(failures))
            return None
        HttpHook(method="POST", http_conn_id="ticketing_default").run(
            endpoint="/", json=message, extra_options={"timeout": 10, "check_response": False}
        )
        return "ticketing_default"
    except Exception as error:  # a notification never fails the audit
        log.warning("Could not notify new failures (%s)", type(error).__name__)
        return None


def _topic_region(topic_arn: str) -> str | None:
    match = re.match(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):", topic_arn)
    return match.group(1) if match else None
