"""
### EKS fleet compliance audit (nightly)

Every night at 02:00 UTC (and on demand) audits every EKS cluster of the fleet against the checks of
`include/checks/compliance.yaml`: endpoint exposure, version support and its cost, upgrade policy, secrets
encryption, control-plane logs, deletion protection, authentication mode, private nodes, IMDSv2, volume
encryption, add-on currency, Pod Identity, node AMIs, Insights, NetworkPolicies, Pod Security, anonymous RBAC,
default service accounts, privileged workloads, required tags.

One task per cluster (named by cluster), at most 16 at once. Each check is PASS, FAIL, WARN, ERROR (a fact
could not be read — the rest of the fleet is still audited), SKIP or WAIVED (Variable `eks_compliance_waivers`,
until each waiver's expiry). Findings never fail the run.

**Report**: JSON and HTML under `<eks_reports_base>/eks_compliance_audit/<run id>/` and `latest/`, with the
trend against the previous night (new failures, resolved). New HIGH/CRITICAL failures go to the SNS topic in
Variable `eks_compliance_sns_topic`, else to the `ticketing_default` connection.

**Targets**: the `targets` param, else Variable `eks_fleet` (`[{"aws_conn_id": ..., "regions": [...]}]`), else
`aws_default` in its region. Read-only; IAM policy: `include/iam/eks_compliance_audit.json`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from eks_runbooks.core.eks.names import CHECK_ID_PATTERN, CLUSTER_NAME_PATTERN, CONNECTION_ID_PATTERN, REGION_PATTERN


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
        "targets": Param(
            [],
            type="array",
            items={
                "type": "object",
                "properties": {
                    "aws_conn_id": {"type": "string", "pattern": CONNECTION_ID_PATTERN},
                    "regions": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": REGION_PATTERN}},
                },
                "required": ["regions"],
                "additionalProperties": False,
            },
            title="Accounts and regions",
            description='Empty: Variable eks_fleet, else aws_default in its region. E.g. [{"aws_conn_id": '
            '"aws_default", "regions": ["us-east-1"]}].',
        ),
        "cluster_names": Param(
            [],
            type="array",
            items={"type": "string", "pattern": CLUSTER_NAME_PATTERN},
            title="Only these clusters",
            description="Empty: every cluster found.",
        ),
        "checks": Param(
            [],
            type="array",
            items={"type": "string", "pattern": CHECK_ID_PATTERN},
            title="Only these checks",
            description="Check ids from include/checks/compliance.yaml. Empty: all.",
        ),
    },
)
def eks_compliance_audit() -> None:
    @task
    def discover() -> list[dict]:
        from eks_runbooks.tasks.audit import audit_targets, discover_clusters, validate_filters

        context = get_current_context()
        params = context["params"]
        validate_filters(params["cluster_names"], params["checks"])
        clusters, unreachable = discover_clusters(audit_targets(params["targets"]), params["cluster_names"])
        context["ti"].xcom_push(key="unreachable", value=unreachable)
        return [cluster.to_dict() for cluster in clusters]

    @task(map_index_template="{{ task.op_kwargs['cluster']['cluster_name'] }}", max_active_tis_per_dagrun=16)
    def audit(cluster: dict) -> dict:
        from eks_runbooks.core.audit.targets import ClusterRef
        from eks_runbooks.tasks.audit import audit_one_cluster

        return audit_one_cluster(ClusterRef.from_dict(cluster), get_current_context()["params"]["checks"])

    @task
    def report(results: list[dict]) -> dict:
        from eks_runbooks.tasks.audit import write_audit_report

        context = get_current_context()
        unreachable = context["ti"].xcom_pull(task_ids="discover", key="unreachable") or []
        return write_audit_report(context["run_id"], list(results), unreachable)

    report(audit.expand(cluster=discover()))


eks_compliance_audit()
