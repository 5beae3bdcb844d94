"""
### EKS fleet compliance audit (nightly)

Every night at 02:00 UTC (and on demand) audits every EKS cluster of the fleet against the checks of
`include/checks/compliance.yaml`: endpoint exposure, version support and its cost, upgrade policy, secrets
encryption, control-plane logs, deletion protection, authentication mode, private nodes, IMDSv2, volume
encryption, add-on currency, Pod Identity, node AMIs, Insights, NetworkPolicies, Pod Security, anonymous RBAC,
default service accounts, privileged workloads, required tags.

One task per batch of up to 25 clusters of one connection and region (named by them), at most 16 at once: one
AWS session, one AssumeRole and one client per service for the batch. Each check is PASS, FAIL, WARN, ERROR (a fact
could not be read, or the cluster's audit failed — the rest of its batch and of the fleet is still audited and
reported; a retry of a failed batch task audits its clusters again), SKIP (with the reason) or WAIVED (Variable
`eks_compliance_waivers`, until each waiver's expiry). Findings never fail the run.

**Report**: JSON and HTML under `<eks_reports_base>/eks_compliance_audit/<run id>/`; a run of every cluster and
check also replaces `latest/`, the baseline of the next run's trend (new failures, resolved — over the
(cluster, check) pairs both runs evaluated). New HIGH/CRITICAL failures go to the SNS topic in Variable
`eks_compliance_sns_topic` (through `report_aws_conn_id`), else to the `ticketing_default` connection; a failed
notification is recorded in the report. The run's note carries the counts and the new failures.

**Targets**: the AWS connection and regions fields; else `targets` (several accounts, one line each:
`connection: region, region`); else Variable `eks_fleet` (`[{"aws_conn_id": ..., "regions": [...]}]`); else
`aws_default` in its region. Read-only; IAM policy: `include/iam/eks_compliance_audit.json`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, TriggerRule, dag, get_current_context, task

from eks_runbooks.core.eks.names import CHECK_ID_PATTERN
from eks_runbooks.runs.params import FILTERS, fleet_cluster_names_param, fleet_report_params, fleet_target_params


@dag(
    dag_id="eks_compliance_audit",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["eks", "fleet", "compliance", "read-only"],
    default_args={"owner": "platform", "retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        **fleet_target_params("audit"),
        "cluster_names": fleet_cluster_names_param(),
        "checks": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "pattern": CHECK_ID_PATTERN},
            title="Only these checks",
            description="Check ids from include/checks/compliance.yaml, one per line. Empty: all.",
            section=FILTERS,
        ),
        **fleet_report_params(),
    },
)
def eks_compliance_audit() -> None:
    @task
    def discover() -> list[dict]:
        from eks_runbooks.core.audit.targets import batch_clusters
        from eks_runbooks.runs.connections import refuse_unlisted_connections
        from eks_runbooks.tasks.audit import audit_targets, discover_clusters, validate_filters

        context = get_current_context()
        params = context["params"]
        validate_filters(params["cluster_names"] or [], params["checks"] or [])
        targets = audit_targets(params["targets"], params["aws_conn_id"], params["regions"])
        refuse_unlisted_connections([params["report_aws_conn_id"]], what="report_aws_conn_id")
        clusters, unreachable = discover_clusters(targets, params["cluster_names"] or [])
        context["ti"].xcom_push(key="unreachable", value=unreachable)
        return [batch.to_dict() for batch in batch_clusters(clusters)]

    @task(map_index_template="{{ task.op_kwargs['batch']['label'] }}", max_active_tis_per_dagrun=16)
    def audit(batch: dict) -> dict:
        from eks_runbooks.core.audit.targets import ClusterBatch
        from eks_runbooks.tasks.audit import audit_cluster_batch

        return audit_cluster_batch(ClusterBatch.from_dict(batch), get_current_context()["params"]["checks"] or [])

    # Runs when some batch's audit task failed (its clusters are ERROR in the report), not when discovery did.
    @task(trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
    def report(outcomes: list[dict | None], batches: list[dict]) -> dict:
        from eks_runbooks.tasks.audit import AuditRun, batch_outcomes, discovered_clusters, write_audit_report

        context = get_current_context()
        params = context["params"]
        results, failed = batch_outcomes(list(outcomes))
        run = AuditRun(
            run_id=context["run_id"],
            cluster_names=params["cluster_names"] or [],
            checks=params["checks"] or [],
            discovered=discovered_clusters(batches),
            unreachable=context["ti"].xcom_pull(task_ids="discover", key="unreachable") or [],
            report_aws_conn_id=params["report_aws_conn_id"],
            failed=failed,
        )
        return write_audit_report(run, results)

    batches = discover()
    report(audit.expand(batch=batches), batches)


eks_compliance_audit()
