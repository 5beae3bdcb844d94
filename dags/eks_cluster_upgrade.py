"""
### EKS cluster upgrade

Upgrades one EKS cluster to a target Kubernetes version, **one minor version per hop**, each hop in order:

1. **Pre-flight gates** — cluster ACTIVE with no update in flight, free IPs, kubelet skew, add-on
   compatibility, EKS Upgrade Insights, removed APIs in use (Helm releases, last-applied, live objects),
   drain safety (PDBs), AL2 node groups. A blocking finding stops the run before the control plane is touched.
2. **Control plane** — UpdateClusterVersion (idempotent per run and hop; attaches to an update in flight).
3. **Add-ons** — each managed add-on to EKS's default version for the hop (vpc-cni and
   eks-pod-identity-agent one minor at a time).
4. **Node groups** — `nodegroup_parallelism` at a time; a drain refused by a PodDisruptionBudget stops the
   run naming it.
5. **kube-proxy** — only after every kubelet runs the new version.
6. **Validation** — control plane, nodes, kube-system DaemonSets, CoreDNS, add-ons, and no workload less
   available than at pre-flight. Only then the next hop.

The hop groups cover the longest plan EKS's version calendar allows on any day; a longer plan is refused
before any change, naming a version to upgrade to first. Hop groups the plan does not use end skipped.

**Plan mode** (`dry_run`, the default) reads everything, runs every gate and writes the report — and changes
nothing. **Resume**: a new run (or clearing the failed task) skips what AWS shows is done. **One runbook per
cluster**: the run claims the cluster with the tag `eks-runbooks/claimed-by` and refuses a cluster another
run holds; a run that fails part-way keeps its claim, marked failed, for the next run of this runbook.
**Report**: JSON and Markdown under `<eks_reports_base>/eks_cluster_upgrade/<run id>/`: what ran, when and for
how long, step by step; the summary (from what ran) becomes the run's note and, with a `ticket_id`, is posted
to the `ticketing_default` connection; the report lists every attempt of the ticket.

IAM policy: `include/iam/eks_cluster_upgrade.json`. Design: `docs/upgrade-runbook-design.md`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, TaskGroup, chain, dag, get_current_context, task

from eks_runbooks.core.eks.names import (
    CHECK_ID_PATTERN,
    KUBERNETES_VERSION_PATTERN,
)
from eks_runbooks.operators.upgrade import (
    EksUpgradeAddonsOperator,
    EksUpgradeControlPlaneOperator,
    EksUpgradeNodegroupsOperator,
    EksUpgradePreflightOperator,
    EksUpgradeValidateOperator,
    UpgradeApprovalOperator,
)
from eks_runbooks.runs.params import TARGET, cluster_target_params, run_params
from eks_runbooks.runs.run_reports import mutating_dag_settings
from eks_runbooks.tasks.upgrade import MAX_HOPS, report_url_of, summary_of

CLUSTER = {
    "cluster_name": "{{ params.cluster_name }}",
    "region_name": "{{ params.region }}",
    "aws_conn_id": "{{ params.aws_conn_id }}",
}
OPTIONS = "How to upgrade"


@dag(
    dag_id="eks_cluster_upgrade",
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["eks", "upgrade", "mutating"],
    **mutating_dag_settings(report_url_of, summary_of),
    params={
        **cluster_target_params(
            "Name of the EKS cluster to upgrade.",
            "Airflow connection whose identity upgrades the cluster (policy: include/iam/).",
        ),
        "target_version": Param(
            "",
            type="string",
            pattern=KUBERNETES_VERSION_PATTERN,
            title="Target Kubernetes version",
            description='Version to reach, "1.NN". One hop per minor version: 1.32 → 1.34 is two hops.',
            section=TARGET,
        ),
        **run_params("Read, plan and run every gate, write the report — change nothing. Untick to upgrade."),
        "addon_conflicts": Param(
            "PRESERVE",
            type="string",
            enum=["PRESERVE", "OVERWRITE", "NONE"],
            title="Add-on conflicts",
            description="PRESERVE keeps your changes to add-on settings; OVERWRITE resets them to EKS defaults; "
            "NONE fails on a conflict.",
            section=OPTIONS,
        ),
        "addon_version_policy": Param(
            "default",
            type="string",
            enum=["default", "latest"],
            title="Add-on versions",
            description="default: the version EKS marks default for each hop; latest: the newest compatible.",
            section=OPTIONS,
        ),
        "nodegroup_parallelism": Param(
            1,
            type="integer",
            minimum=1,
            maximum=10,
            title="Node groups at a time",
            description="How many managed node groups roll at once.",
            section=OPTIONS,
        ),
        "force_node_drain": Param(
            False,
            type="boolean",
            title="Force node drain",
            description="Replace nodes even when a PodDisruptionBudget refuses the drain (pods are killed).",
            section=OPTIONS,
        ),
        "ignore_checks": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "pattern": CHECK_ID_PATTERN},
            title="Accept these pre-flight findings",
            description="Check ids whose blocking findings become warnings (recorded in the report).",
            section=OPTIONS,
        ),
    },
)
def eks_cluster_upgrade() -> None:
    @task
    def validate_request() -> dict:
        from eks_runbooks.runs.upgrade_context import upgrade_request_of
        from eks_runbooks.tasks.upgrade import request_document

        return request_document(upgrade_request_of(get_current_context()))

    @task
    def plan() -> dict:
        from eks_runbooks.tasks.upgrade import plan_run

        return plan_run(get_current_context())

    @task
    def claim_cluster() -> str:
        from eks_runbooks.tasks.upgrade import claim_run

        return claim_run(get_current_context())

    approve = UpgradeApprovalOperator(
        task_id="approve",
        subject="Upgrade {{ params.cluster_name }} to {{ params.target_version }}?",
        body="{{ ti.xcom_pull(task_ids='plan')['markdown'] }}",
        response_timeout=timedelta(hours=24),
    )

    hops = []
    for number in range(1, MAX_HOPS + 1):
        with TaskGroup(f"hop_{number}", tooltip=f"Hop {number}: one minor version") as hop:
            preflight = EksUpgradePreflightOperator(
                task_id="preflight", hop_number=number, trigger_rule="none_failed", **CLUSTER
            )
            chain(
                preflight,
                EksUpgradeControlPlaneOperator(task_id="control_plane", hop_number=number, **CLUSTER),
                EksUpgradeAddonsOperator(task_id="addons", hop_number=number, **CLUSTER),
                EksUpgradeNodegroupsOperator(task_id="nodegroups", hop_number=number, **CLUSTER),
                EksUpgradeAddonsOperator(task_id="kube_proxy", hop_number=number, after_nodegroups=True, **CLUSTER),
                EksUpgradeValidateOperator(
                    task_id="validate", hop_number=number, preflight_task_id=preflight.task_id, **CLUSTER
                ),
            )
        hops.append(hop)

    @task
    def report() -> dict:
        from eks_runbooks.tasks.upgrade import write_run_report

        return write_run_report(get_current_context())

    @task
    def release_cluster() -> str:
        from eks_runbooks.tasks.upgrade import release_run

        return release_run(get_current_context())

    claimed = claim_cluster()
    chain(
        validate_request(),
        plan(),
        claimed,
        approve,
        *hops,
        report().as_teardown(),
        release_cluster().as_teardown(setups=claimed),
    )


eks_cluster_upgrade()
