"""The run-level parts of the nightly cost audit: which clusters, one cluster's facts, the run's prices, the report.

Variables (all optional): ``eks_fleet`` — the default targets (as the compliance audit's);
``eks_cost_alert_threshold_percent`` — tell someone when the fleet's monthly cost rises more than this (default 10);
``eks_cost_sns_topic`` — the SNS topic to tell (else the ``ticketing_default`` HTTP connection, when it exists);
``eks_reports_base`` — where reports go.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from eks_runbooks.core.audit.report import audit_scope
from eks_runbooks.core.audit.targets import ClusterBatch, ClusterRef, batch_clusters
from eks_runbooks.core.clock import utc_now
from eks_runbooks.core.cost.facts import ClusterCostFacts
from eks_runbooks.core.cost.prices import RegionPrices
from eks_runbooks.core.eks.names import CLUSTER_NAME

if TYPE_CHECKING:
    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.runs.reports import ReportLocation

log = logging.getLogger(__name__)

RUNBOOK = "eks_cost_audit"
DEFAULT_ALERT_THRESHOLD = Decimal(10)


class InvalidCostInput(AirflowFailException):
    """A param or Variable of the cost audit is malformed; the message names it (not retried)."""


class NothingDiscovered(AirflowFailException):
    """Discovery failed: the report has nothing to say (not retried; discover's log says why)."""


def discover_clusters_to_cost(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The clusters to cost in batches (``ClusterBatch.to_dict()``), from the run's targets and filter; the target
    regions that could not be listed go to XCom ``unreachable`` for the report."""
    from eks_runbooks.runs.connections import refuse_unlisted_connections
    from eks_runbooks.tasks.audit import audit_targets, discover_clusters

    params = context["params"]
    names = params["cluster_names"] or []
    bad = [name for name in names if not isinstance(name, str) or not CLUSTER_NAME.match(name)]
    if bad:
        raise InvalidCostInput(f"cluster_names: {bad!r} are not EKS cluster names")
    targets = audit_targets(params["targets"], params["aws_conn_id"], params["regions"])
    refuse_unlisted_connections([params["report_aws_conn_id"]], what="report_aws_conn_id")
    alert_threshold()  # a malformed Variable is refused before the night's work, not after it
    clusters, unreachable = discover_clusters(targets, names)
    context["ti"].xcom_push(key="unreachable", value=unreachable)
    return [batch.to_dict() for batch in batch_clusters(clusters)]


def gather_cluster_batch(batch: ClusterBatch) -> dict[str, Any]:
    """The cost facts of the batch's clusters, read through one hook — one boto3 session, one client per service,
    the region's load balancers and version calendar read once: ``{"clusters": [ClusterCostFacts.to_dict()],
    "failed": [{"aws_conn_id", "region", "cluster_name", "error"}]}``. A cluster that could not be described, or
    was throttled, is read again after the others; still failing, it is named with the error (the report says it
    is not costed, never $0) and the rest of the batch is costed."""
    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.tasks.audit import read_each_cluster

    hook = EksRunbookHook(aws_conn_id=batch.aws_conn_id, region_name=batch.region)
    read, errors = read_each_cluster(batch, lambda ref: gather_one_cluster(ref, hook=hook), what="cost facts read")
    return {
        "clusters": [read[name] for name in batch.cluster_names if name in read],
        "failed": [
            {**ref.to_dict(), "error": errors[ref.cluster_name]} for ref in batch.refs() if ref.cluster_name in errors
        ],
    }


def gather_one_cluster(ref: ClusterRef, *, hook: EksRunbookHook | None = None) -> dict[str, Any]:
    """One cluster's cost facts (``ClusterCostFacts.to_dict()``); a source that could not be read is named in
    ``errors`` and the parts it feeds are reported as not known.

    :param hook: The EKS hook of the cluster's connection and region (a batch's, shared); default: a new one.
    """
    from eks_runbooks.readers.cost_facts import gather_cost_facts

    facts = gather_cost_facts(ref.aws_conn_id, ref.region, ref.cluster_name, hook=hook)
    if "cluster" in facts.errors or any(_transient(error) for error in facts.errors.values()):
        # Nothing to cost without DescribeCluster, and a throttled read is worth another try (the batch reads it
        # again after its other clusters); then the report names the cluster as not costed (never a $0 cluster).
        raise AirflowException(
            f"Cluster {ref.cluster_name} ({ref.aws_conn_id}, {ref.region}): could not read "
            + "; ".join(f"{source}: {error}" for source, error in facts.errors.items())
        )
    for source, error in facts.errors.items():
        log.warning("Cluster %s (%s): could not read %s (%s)", ref.cluster_name, ref.region, source, error)
    return facts.to_dict()


#: Error names that a later attempt may not meet (throttling, timeouts, a server's 5xx).
TRANSIENT_ERRORS = (
    "Throttl",
    "TooManyRequests",
    "RequestLimitExceeded",
    "Timeout",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
    "ConnectionError",
    "429",
    "503",
)


def _transient(error: str) -> bool:
    return any(name in error for name in TRANSIENT_ERRORS)


def read_prices(facts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The prices of every (connection, region) the clusters are in, read once for the run: what their nodes,
    volumes and Fargate pods need (``RegionPrices.to_dict()``)."""
    from eks_runbooks.core.cost.price_list import snapshot_prices
    from eks_runbooks.readers.prices import read_region_prices

    needs: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"instance_types": set(), "volume_types": set(), "fargate": False, "auto_mode": False}
    )
    for item in facts:
        cluster = ClusterCostFacts.from_dict(item)
        need = needs[(cluster.aws_conn_id, cluster.region)]
        need["instance_types"].update(node.instance_type for node in cluster.nodes)
        need["volume_types"].update(volume.volume_type for volume in cluster.volumes)
        need["fargate"] |= bool(cluster.fargate_pods)
        need["auto_mode"] |= cluster.auto_mode
    priced = []
    for (aws_conn_id, region), need in sorted(needs.items()):
        try:
            prices = read_region_prices(
                aws_conn_id,
                region,
                sorted(need["instance_types"]),
                sorted(need["volume_types"]),
                fargate=need["fargate"],
                auto_mode=need["auto_mode"],
            )
        except Exception as error:  # throttled past botocore's retries, no credentials: the night still reports
            reason = f"the prices of {region} could not be read with {aws_conn_id} ({type(error).__name__}: {error})"
            prices = snapshot_prices(aws_conn_id, region, reason[:400])
        for note in prices.notes:
            log.warning("Prices for %s in %s: %s", aws_conn_id, region, note)
        priced.append(prices.to_dict())
    return priced


@dataclass(frozen=True)
class CostRun:
    """What the report task knows about its run.

    :param discovered: the clusters discovery listed (``ClusterRef.to_dict()``); one without facts is not costed.
    :param failed: the clusters whose facts could not be read, with the error (``gather_cluster_batch``'s).
    :param report_aws_conn_id: reads and writes ``s3://`` reports, publishes to the SNS topic.
    """

    run_id: str
    cluster_names: Sequence[str] = ()
    discovered: Sequence[Mapping[str, str]] = ()
    unreachable: Sequence[Mapping[str, str]] = ()
    report_aws_conn_id: str = "aws_default"
    spot_target_percent: int = 50
    group_by_tags: Sequence[str] = ("team",)
    failed: Sequence[Mapping[str, str]] = ()
    dag_id: str = RUNBOOK


def write_cost_report(
    run: CostRun, facts: Sequence[Mapping[str, Any]], region_prices: Sequence[Mapping[str, Any]] | None
) -> dict[str, Any]:
    """Cost every cluster, judge it, compare with the last full run, notify, write JSON + HTML + CSV (and
    ``latest/`` after a full run), set the run's note; return a summary."""
    from eks_runbooks.core.cost.report import cost_document
    from eks_runbooks.runs.reports import ReportLocation, read_report, reports_base

    facts = _one_per_cluster(facts)
    if facts and not region_prices:
        raise AirflowFailException(
            "The prices task left no prices, so nothing can be costed: read its log, fix the cause, then clear it "
            "and this task."
        )
    clusters = cost_clusters(facts, region_prices or [], run.spot_target_percent)
    base = reports_base()
    location = ReportLocation(base, RUNBOOK, run.run_id)
    previous = _previous_report(read_report(f"{base}/{RUNBOOK}/latest/report.json", aws_conn_id=run.report_aws_conn_id))
    document = cost_document(
        run.run_id,
        utc_now().isoformat(timespec="seconds"),
        clusters,
        previous,
        audit_scope(run.cluster_names, ()),
        list(run.unreachable),
        tag_keys=tuple(run.group_by_tags),
        not_costed=_not_costed(run, facts),
    )
    document["notifications"] = _alert(document, location.url("report.html"), run.report_aws_conn_id)
    return _publish(run, location, document)


def _one_per_cluster(facts: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One entry per (account, region, cluster): two connections into one account list its clusters twice."""
    seen: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for item in facts:
        key = (item.get("account") or item["aws_conn_id"], item["region"], item["cluster"])
        if key in seen:
            log.warning(
                "Cluster %s (%s, account %s) is reached through both %s and %s: costed once, through %s",
                item["cluster"],
                item["region"],
                key[0],
                seen[key]["aws_conn_id"],
                item["aws_conn_id"],
                seen[key]["aws_conn_id"],
            )
            continue
        seen[key] = item
    return list(seen.values())


def _previous_report(raw: bytes | None) -> dict[str, Any] | None:
    """The last full run's document, or None (a first night) when there is none or it cannot be read: a corrupt
    or foreign ``latest/report.json`` must not stop every night from here on (this run replaces it)."""
    if not raw:
        return None
    try:
        previous = json.loads(raw)
        if isinstance(previous, dict) and isinstance(previous.get("clusters"), list) and "monthly_usd" in previous:
            return previous
        problem = "it is not a cost report of this layout"
    except ValueError as error:
        problem = f"it is not JSON ({error})"
    log.warning("latest/report.json is ignored, this run has no trend: %s. A full run replaces it.", problem)
    return None


def cost_clusters(
    facts: Sequence[Mapping[str, Any]], region_prices: Sequence[Mapping[str, Any]], spot_target_percent: int
) -> list[dict[str, Any]]:
    """Each cluster's cost and findings (the report's ``clusters`` entries)."""
    from eks_runbooks.core.cost.costing import cluster_cost
    from eks_runbooks.core.cost.findings import CostPolicy, cost_findings

    prices = {(p["aws_conn_id"], p["region"]): RegionPrices.from_dict(p) for p in region_prices}
    policy = CostPolicy(spot_target_share=Decimal(spot_target_percent) / 100)
    results = []
    for item in facts:
        cluster = ClusterCostFacts.from_dict(item)
        region = prices[(cluster.aws_conn_id, cluster.region)]
        cost = cluster_cost(cluster, region)
        results.append({**cost.to_dict(), "findings": cost_findings(cluster, cost, region, policy)})
    return results


def _not_costed(run: CostRun, facts: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The discovered clusters without facts: their facts could not be read (the error is said), or the gather
    task of their batch failed."""
    read = {(f["aws_conn_id"], f["region"], f["cluster"]) for f in facts}
    missing = [c for c in run.discovered if (c["aws_conn_id"], c["region"], c["cluster_name"]) not in read]
    errors = {(f["aws_conn_id"], f["region"], f["cluster_name"]): f["error"] for f in run.failed}
    not_costed = []
    for cluster in missing:
        error = errors.get((cluster["aws_conn_id"], cluster["region"], cluster["cluster_name"]))
        reason = (
            f"its facts could not be read: {error} (see the log of its gather task)"
            if error
            else "its gather task failed: nothing was read (see that task's log)"
        )
        log.error(
            "Cluster %s (%s, %s) is not costed: %s. Fix the cause, then clear its gather task and the ones after it "
            "(or trigger a run with cluster_names)",
            cluster["cluster_name"],
            cluster["aws_conn_id"],
            cluster["region"],
            reason,
        )
        not_costed.append(
            {
                "cluster": cluster["cluster_name"],
                "region": cluster["region"],
                "aws_conn_id": cluster["aws_conn_id"],
                "reason": reason,
            }
        )
    return not_costed


def alert_threshold() -> Decimal:
    """Variable ``eks_cost_alert_threshold_percent`` (default 10): a rise of the fleet's monthly cost above it is
    told."""
    from airflow.sdk import Variable

    value = Variable.get("eks_cost_alert_threshold_percent", default=None)
    if value is None:
        return DEFAULT_ALERT_THRESHOLD
    try:
        threshold = Decimal(str(value).strip())
    except InvalidOperation:
        threshold = Decimal(-1)
    if not threshold.is_finite() or threshold < 0:
        raise InvalidCostInput(
            f"Variable eks_cost_alert_threshold_percent must be a percentage ≥ 0 (e.g. 10), not {value!r}: fix it or "
            "delete it (default 10)"
        )
    return threshold


def _alert(document: Mapping[str, Any], report_url: str, aws_conn_id: str) -> list[dict[str, str]]:
    """Tell someone when the fleet's cost rose past the threshold or a new extended-support charge appeared —
    from full runs only (a filtered run's total is not comparable with the baseline)."""
    from airflow.sdk import Variable

    from eks_runbooks.core.cost.report import cost_alerts
    from eks_runbooks.runs.alerts import send_alert

    reasons = cost_alerts(document, alert_threshold())
    if not reasons:
        return []
    if not document["scope"]["replaces_latest"]:
        reason = f"filtered run: the next full run compares with the same baseline ({len(reasons)} reason(s))"
        log.info("No alert sent (%s)", reason)
        return [{"channel": "none", "status": "skipped", "reason": reason}]
    message = {
        "runbook": RUNBOOK,
        "reasons": reasons,
        "fleet_monthly_usd": document["monthly_usd"],
        "report_url": report_url,
    }
    topic = Variable.get("eks_cost_sns_topic", default=None)
    return [send_alert(topic, message, f"EKS cost: {reasons[0]}", aws_conn_id=aws_conn_id)]


def _publish(run: CostRun, location: ReportLocation, document: dict[str, Any]) -> dict[str, Any]:
    from eks_runbooks.core.cost.report import cost_report_files, cost_summary
    from eks_runbooks.runs.notes import set_dag_run_note
    from eks_runbooks.runs.reports import update_latest, write_report

    files = cost_report_files(document)
    urls = write_report(location, files, aws_conn_id=run.report_aws_conn_id)
    if document["scope"]["replaces_latest"]:
        update_latest(location.base, RUNBOOK, files, aws_conn_id=run.report_aws_conn_id)
    else:
        log.info("Filtered run (cluster_names): latest/ is left as the last full run wrote it")
    summary = cost_summary(document)
    log.info("%s — report: %s", summary, location.url("report.html"))
    set_dag_run_note(run.dag_id, run.run_id, summary)
    return {
        "summary": summary,
        "report_json": urls[0],
        "report_html": location.url("report.html"),
        "fleet_monthly_usd": document["monthly_usd"],
    }
