"""
### EKS fleet cost audit (nightly)

Every night at 03:00 UTC (and on demand) works out what every EKS cluster of the fleet costs per month (730 hours),
part by part — control plane (standard or extended support, the date a cluster will start paying extended
support), EC2 nodes per node group, Karpenter NodePool or self-managed (on-demand or spot, by zone), Fargate pods,
EBS volumes behind PersistentVolumes, load balancers the cluster's controllers own — each line with the price used
and where it came from. Then the findings of `include/checks/cost.yaml`, each with its evidence, the monthly
saving in dollars and the remediation: extended support running or coming, idle capacity per node group, nodes
full by max pods while CPU idles (prefix delegation), spot share below target, gp2 volumes, previous-generation
instances, clusters with no workload pods.

One task per batch of up to 25 clusters of one connection and region reads their facts (at most 16 at once; one AWS
session and one client per service for the batch, the region's load balancers listed once; a cluster that cannot
be read is read again after the rest of its batch, then reported not costed with the reason, and a retry of a
failed batch task reads its clusters again); one task reads the prices of every region once per
run — the Price List Query API and spot price history through each target's connection, else the dated snapshot
`include/cost/prices.yaml`, said in the report (a price nobody could give is listed as not priced, never $0).

**Report**: JSON, HTML (with a chart of the fleet's monthly cost by part over the previous runs) and CSV under
`<eks_reports_base>/eks_cost_audit/<run id>/`; a run of every cluster also replaces `latest/`, the next run's
baseline for the trend. When the fleet's monthly cost rises more than Variable `eks_cost_alert_threshold_percent`
(default 10) or a new extended-support charge appears, the SNS topic in Variable `eks_cost_sns_topic` is told
(through `report_aws_conn_id`), else the `ticketing_default` connection. The run's note carries the total.

**Targets**: as the compliance audit: the AWS connection and regions fields; else `targets`; else Variable
`eks_fleet`; else `aws_default` in its region. Read-only; IAM policy: `include/iam/eks_cost_audit.json`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, TriggerRule, dag, get_current_context, task

from eks_runbooks.core.eks.names import TAG_KEY_PATTERN
from eks_runbooks.runs.params import fleet_cluster_names_param, fleet_report_params, fleet_target_params

POLICY = "Policy"


@dag(
    dag_id="eks_cost_audit",
    schedule="0 3 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["eks", "fleet", "cost", "read-only"],
    default_args={"owner": "platform", "retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        **fleet_target_params("cost"),
        "cluster_names": fleet_cluster_names_param(),
        "spot_target_percent": Param(
            50,
            type="integer",
            minimum=0,
            maximum=100,
            title="Spot target for stateless node groups (%)",
            description="Share of a non-production cluster's stateless node capacity that should run on spot; "
            "below it, the spot finding says what moving the rest would save.",
            section=POLICY,
        ),
        "group_by_tags": Param(
            ["team"],
            type="array",
            items={"type": "string", "pattern": TAG_KEY_PATTERN},
            title="Cluster tags to total by",
            description="One tag key per line (e.g. team, cost-center): the report totals the fleet by each.",
            section=POLICY,
        ),
        **fleet_report_params(),
    },
)
def eks_cost_audit() -> None:
    @task
    def discover() -> list[dict]:
        from eks_runbooks.tasks.cost import discover_clusters_to_cost

        return discover_clusters_to_cost(get_current_context())

    @task(map_index_template="{{ task.op_kwargs['batch']['label'] }}", max_active_tis_per_dagrun=16)
    def gather(batch: dict) -> dict:
        from eks_runbooks.core.audit.targets import ClusterBatch
        from eks_runbooks.tasks.cost import gather_cluster_batch

        return gather_cluster_batch(ClusterBatch.from_dict(batch))

    # Prices what the clusters whose facts were read run, even when some batch's task failed.
    @task(trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
    def prices(outcomes: list[dict | None]) -> list[dict]:
        from eks_runbooks.tasks.audit import batch_outcomes
        from eks_runbooks.tasks.cost import read_prices

        return read_prices(batch_outcomes(list(outcomes))[0])

    # Runs whatever came before: a night with no cluster, or none whose facts could be read, is reported too.
    @task(trigger_rule=TriggerRule.ALL_DONE)
    def report(
        outcomes: list[dict | None] | None, region_prices: list[dict] | None, batches: list[dict] | None
    ) -> dict:
        from eks_runbooks.tasks.audit import batch_outcomes, discovered_clusters
        from eks_runbooks.tasks.cost import CostRun, NothingDiscovered, write_cost_report

        context = get_current_context()
        params = context["params"]
        if batches is None:
            raise NothingDiscovered("discover failed, so there is nothing to report: read its log")
        facts, failed = batch_outcomes(list(outcomes or []))
        run = CostRun(
            run_id=context["run_id"],
            cluster_names=params["cluster_names"] or [],
            discovered=discovered_clusters(batches),
            unreachable=context["ti"].xcom_pull(task_ids="discover", key="unreachable") or [],
            report_aws_conn_id=params["report_aws_conn_id"],
            spot_target_percent=params["spot_target_percent"],
            group_by_tags=params["group_by_tags"],
            failed=failed,
        )
        return write_cost_report(run, facts, region_prices)

    batches = discover()
    outcomes = gather.expand(batch=batches)
    report(outcomes, prices(outcomes), batches)


eks_cost_audit()
