"""
### Cluster bootstrap

Builds a well-configured EKS cluster in gated, resumable steps; each step proves its result before the next starts:

1. **Pre-flight** — private subnets in two or more supported zones with free IPs for the control plane and the
   planned nodes times max pods, the name free, the Region's cluster quota, the KMS key usable, roles and admin
   principals real, the version in standard support, add-on versions for it. Lists the exact requests.
2. **Identity and keys** — cluster and node roles (managed policies only), the add-ons' Pod Identity roles, a KMS
   key with rotation — each only when not given.
3. **Control plane** — access entries only (API), no creator admin, no self-managed add-ons, secrets encryption,
   all five log types, deletion protection, STANDARD support, a private (or CIDR-restricted) endpoint; ACTIVE.
4. **Access** — cluster admin for each admin principal and the runbook; the runbook must pass `auth can-i`.
5. **Add-ons before compute** — vpc-cni, kube-proxy, eks-pod-identity-agent ACTIVE.
6. **Compute** — a launch template per node group (IMDSv2, hop limit 1, encrypted gp3), managed node groups in the
   private subnets; every node Ready at the cluster's version.
7. **Add-ons after compute** — coredns, metrics-server, aws-ebs-csi-driver (through Pod Identity); workloads available.
8. **Smoke test** — a Deployment and a Service on the new nodes, then removed.
9. **Baseline** — the compliance audit's checks the bootstrap answers for must all PASS.

**Plan mode** (`dry_run`, the default) runs the pre-flight and lists the requests; nothing is created. A run is
**resumable**: every request carries the run's idempotency token, and a retried or re-run step picks up what this
runbook already made. A run names a **definition** (include/clusters/*.yaml or the Variable
`eks_cluster_definitions`) or fills the form. Report: `<eks_reports_base>/eks_cluster_bootstrap/<run>/`.

IAM policy: `include/iam/eks_cluster_bootstrap.json`. Design: `docs/bootstrap-runbook.md`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, chain, dag, get_current_context, task

from eks_runbooks.core.eks.names import (
    CLUSTER_NAME_PATTERN,
    CONNECTION_ID_PATTERN,
    DEFINITION_PATTERN,
    KUBERNETES_VERSION_PATTERN,
    REGION_PATTERN,
)
from eks_runbooks.operators.bootstrap import BootstrapApprovalOperator, EksBootstrapStepOperator
from eks_runbooks.runs.params import RUN, TARGET, run_params
from eks_runbooks.runs.run_reports import mutating_dag_settings
from eks_runbooks.tasks.bootstrap import report_url_of, summary_of

CLUSTER = "Cluster"
NETWORK = "Network and access"
COMPUTE = "Compute and add-ons"
SMOKE_TIMEOUT_SECONDS = 600


def _optional(title: str, description: str, section: str, **schema: object) -> Param:
    kind = schema.pop("type")
    return Param(None, type=["null", kind], title=title, description=description, section=section, **schema)


@dag(
    dag_id="eks_cluster_bootstrap",
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["eks", "bootstrap", "mutating"],
    **mutating_dag_settings(report_url_of, summary_of),
    params={
        "definition": _optional(
            "Cluster definition",
            "Build a cluster kept as include/clusters/<name>.yaml (or in Variable eks_cluster_definitions); "
            "leave the cluster fields empty then.",
            TARGET,
            type="string",
            pattern=DEFINITION_PATTERN,
        ),
        "cluster_name": _optional(
            "Cluster name", "The new cluster's name.", CLUSTER, type="string", pattern=CLUSTER_NAME_PATTERN
        ),
        "region": _optional(
            "Region", "AWS region (default us-east-1).", CLUSTER, type="string", pattern=REGION_PATTERN
        ),
        "aws_conn_id": Param(
            "aws_default",
            type="string",
            pattern=CONNECTION_ID_PATTERN,
            title="AWS connection",
            description="Airflow connection whose identity builds the cluster (policy: include/iam/).",
            section=TARGET,
        ),
        "kubernetes_version": _optional(
            "Kubernetes version",
            "Empty: the newest version in standard support.",
            CLUSTER,
            type="string",
            pattern=KUBERNETES_VERSION_PATTERN,
        ),
        "subnet_ids": _optional(
            "Subnets",
            "Private subnets in at least two Availability Zones.",
            NETWORK,
            type="array",
            items={"type": "string"},
        ),
        "endpoint": _optional(
            "API endpoint",
            "private (default): reachable from the VPC only; public_restricted: also from public_access_cidrs.",
            NETWORK,
            type="string",
            enum=[None, "private", "public_restricted"],
        ),
        "public_access_cidrs": _optional(
            "Public access CIDRs",
            "With public_restricted only; never 0.0.0.0/0.",
            NETWORK,
            type="array",
            items={"type": "string"},
        ),
        "admin_principal_arns": _optional(
            "Admin principals",
            "IAM roles or users given cluster admin through access entries (at least one).",
            NETWORK,
            type="array",
            items={"type": "string"},
        ),
        "kms_key_arn": _optional("KMS key", "Empty: a key with rotation is created.", NETWORK, type="string"),
        "cluster_role_arn": _optional(
            "Cluster role", "Empty: a least-privilege role is created.", NETWORK, type="string"
        ),
        "node_role_arn": _optional("Node role", "Empty: a least-privilege role is created.", NETWORK, type="string"),
        "compute": _optional(
            "Managed node groups",
            'List of {"name", "instance_types", "min", "max", "desired"} with optional capacity_type '
            "(ON_DEMAND), ami_type (AL2023_x86_64_STANDARD) and disk_gib (20).",
            COMPUTE,
            type="array",
            items={"type": "object"},
        ),
        "addons": _optional(
            "Add-ons",
            "Empty: vpc-cni, kube-proxy, eks-pod-identity-agent, coredns, metrics-server, aws-ebs-csi-driver.",
            COMPUTE,
            type="array",
            items={"type": "string"},
        ),
        "tags": _optional("Tags", "The fleet's required tags, as a map.", CLUSTER, type="object"),
        "teardown_on_failure": Param(
            False,
            type="boolean",
            title="Tear down on failure",
            description="Remove what this run created if a step fails (the cluster's deletion protection stays).",
            section=RUN,
        ),
        **run_params("Run the pre-flight and list the exact requests — change nothing. Untick to build."),
    },
)
def eks_cluster_bootstrap() -> None:
    @task
    def validate_request() -> dict:
        from eks_runbooks.tasks.bootstrap import request_document

        return request_document(get_current_context())

    @task(retries=0)
    def preflight() -> dict:
        from eks_runbooks.tasks.bootstrap import preflight_run

        return preflight_run(get_current_context())

    approve = BootstrapApprovalOperator(
        task_id="approve",
        subject="Bootstrap {{ params.cluster_name or params.definition }}?",
        body="{{ ti.xcom_pull(task_ids='preflight')['requests_markdown'] }}",
        response_timeout=timedelta(hours=24),
    )

    @task
    def smoke_test() -> dict:
        from eks_runbooks.operators.upgrade import poll_seconds
        from eks_runbooks.tasks.bootstrap import smoke_test_run

        return smoke_test_run(get_current_context(), poll_seconds(None), SMOKE_TIMEOUT_SECONDS)

    @task
    def baseline() -> dict:
        from eks_runbooks.tasks.bootstrap import baseline_run

        return baseline_run(get_current_context())

    @task
    def teardown_on_failure() -> dict:
        from eks_runbooks.tasks.bootstrap import teardown_run

        return teardown_run(get_current_context())

    @task
    def report() -> dict:
        from eks_runbooks.tasks.bootstrap import write_run_report

        return write_run_report(get_current_context())

    building = [
        EksBootstrapStepOperator(step=step)
        for step in ("identity", "control_plane", "access", "addons_before_compute", "compute", "addons_after_compute")
    ]
    checks = [smoke_test(), baseline()]
    # Teardowns: they run whatever happened, and the run's state stays that of the steps (a failed step fails it).
    chain(
        validate_request(),
        preflight(),
        approve,
        *building,
        *checks,
        teardown_on_failure().as_teardown(),
        report().as_teardown(),
    )


eks_cluster_bootstrap()
