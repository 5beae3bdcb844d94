"""
### IRSA → EKS Pod Identity migration

Moves one cluster's IRSA service accounts to EKS Pod Identity in staged, verified, reversible steps:

1. **Plan** — reads the cluster's IRSA estate (service accounts annotated `eks.amazonaws.com/role-arn`, the
   workloads and pods running as each, add-ons on IRSA, associations, role trust, Fargate profiles, the agent)
   and judges each service account against `include/checks/pod-identity-eligibility.yaml`: Fargate, Windows,
   IRSA variables hard-coded in the pod spec, an AWS SDK below the minimum, a role in another account, a trust
   policy at its size limit, a conflicting association. Those stay on IRSA, untouched, with the fix.
2. **Agent** — installs the `eks-pod-identity-agent` add-on if missing and waits until it is Ready everywhere.
3. **Trust** — adds the `pods.eks.amazonaws.com` statement to each role once (the OIDC statement stays).
4. **Associate** — one association per service account, tagged `eks-runbooks/migrated-by`; add-ons through
   UpdateAddon `podIdentityAssociations`.
5. **Restart and verify** — rollout restarts in waves of `wave_size`, waiting in the triggerer; every new pod
   must carry Pod Identity's variables, be Ready and not crash-loop. A service account that fails is returned to
   IRSA on its own and reported; the others go on.

**Phases**: `migrate` (default); `cleanup` removes IRSA annotations of verified service accounts and this
cluster's OIDC statement from roles nothing here still uses through IRSA (never the IAM OIDC provider);
`rollback` returns what this runbook migrated to IRSA, verified per pod. **Plan mode** (`dry_run`, the
default) changes nothing. **One runbook per cluster** (claim tag), **resumable** (every step re-reads the
cluster; a retried restart does not restart twice). Report: `<eks_reports_base>/eks_pod_identity_migration/<run>/`.

IAM policy: `include/iam/eks_pod_identity_migration.json`. Design: `docs/pod-identity-runbook.md`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, chain, dag, get_current_context, task

from eks_runbooks.core.eks.names import (
    NAMESPACE_PATTERN,
    SERVICE_ACCOUNT_PATTERN,
)
from eks_runbooks.operators.pod_identity import (
    EksPodIdentityAgentOperator,
    EksPodIdentityRestartOperator,
    PodIdentityApprovalOperator,
)
from eks_runbooks.runs.params import RUN, cluster_target_params, run_params
from eks_runbooks.runs.run_reports import mutating_dag_settings
from eks_runbooks.tasks.pod_identity import report_url_of, summary_of

CLUSTER = {
    "cluster_name": "{{ params.cluster_name }}",
    "region_name": "{{ params.region }}",
    "aws_conn_id": "{{ params.aws_conn_id }}",
}
SCOPE = "What to migrate"


@dag(
    dag_id="eks_pod_identity_migration",
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["eks", "pod-identity", "mutating"],
    **mutating_dag_settings(report_url_of, summary_of),
    params={
        **cluster_target_params(
            "Name of the EKS cluster whose IRSA service accounts move.",
            "Airflow connection whose identity migrates the cluster (policy: include/iam/).",
        ),
        "phase": Param(
            "migrate",
            type="string",
            enum=["migrate", "cleanup", "rollback"],
            title="Phase",
            description="migrate: move eligible service accounts; cleanup: remove IRSA leftovers once verified; "
            "rollback: return what this runbook migrated to IRSA.",
            section=SCOPE,
        ),
        "namespaces": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "pattern": NAMESPACE_PATTERN},
            title="Namespaces",
            description="Only service accounts of these namespaces (empty: all).",
            section=SCOPE,
        ),
        "service_accounts": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "pattern": SERVICE_ACCOUNT_PATTERN},
            title="Service accounts",
            description="Only these, as namespace/name (empty: all).",
            section=SCOPE,
        ),
        "include_addons": Param(
            True, type="boolean", title="Include add-ons", description="Move add-ons on IRSA too.", section=SCOPE
        ),
        "wave_size": Param(
            5,
            type="integer",
            minimum=1,
            maximum=50,
            title="Workloads at a time",
            description="Restarted at once.",
            section=RUN,
        ),
        **run_params("Read, judge and plan, write the report — change nothing. Untick to migrate."),
    },
)
def eks_pod_identity_migration() -> None:
    @task
    def validate_request() -> dict:
        from eks_runbooks.tasks.pod_identity import request_document

        return request_document(get_current_context())

    @task
    def plan() -> dict:
        from eks_runbooks.tasks.pod_identity import plan_run

        return plan_run(get_current_context())

    @task
    def claim_cluster() -> str:
        from eks_runbooks.tasks.pod_identity import claim_run

        return claim_run(get_current_context())

    approve = PodIdentityApprovalOperator(
        task_id="approve",
        subject="Pod Identity {{ params.phase }} of {{ params.cluster_name }}?",
        body="{{ ti.xcom_pull(task_ids='plan')['markdown'] }}",
        response_timeout=timedelta(hours=24),
    )

    # A step that is not part of the run's phase skips; the steps after it still run.
    @task(trigger_rule="none_failed")
    def update_trust() -> dict:
        from eks_runbooks.tasks.pod_identity import update_trust_run

        return update_trust_run(get_current_context())

    @task(trigger_rule="none_failed")
    def associate() -> dict:
        from eks_runbooks.tasks.pod_identity import associate_run

        return associate_run(get_current_context())

    @task(trigger_rule="none_failed")
    def cleanup() -> dict:
        from eks_runbooks.tasks.pod_identity import cleanup_run

        return cleanup_run(get_current_context())

    @task
    def report() -> dict:
        from eks_runbooks.tasks.pod_identity import write_run_report

        return write_run_report(get_current_context())

    @task
    def release_cluster() -> str:
        from eks_runbooks.tasks.pod_identity import release_run

        return release_run(get_current_context())

    claimed = claim_cluster()
    chain(
        validate_request(),
        plan(),
        claimed,
        approve,
        EksPodIdentityAgentOperator(task_id="prepare_agent", **CLUSTER),
        update_trust(),
        associate(),
        EksPodIdentityRestartOperator(task_id="restart_and_verify", trigger_rule="none_failed", **CLUSTER),
        cleanup(),
        report().as_teardown(),
        release_cluster().as_teardown(setups=claimed),
    )


eks_pod_identity_migration()
