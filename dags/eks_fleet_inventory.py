"""
### EKS fleet inventory

Lists every EKS cluster in the chosen regions with its Kubernetes version, where that version stands on the
EKS support calendar (standard, extended — billed at $0.60/h instead of $0.10/h — or unsupported), days left,
and how far each managed node group lags the control plane.

Read-only: it calls only `ListClusters`, `DescribeCluster`, `ListNodegroups`, `DescribeNodegroup` and
`DescribeClusterVersions`. IAM policy: `include/iam/eks_fleet_inventory.json`.

**Start it** from the UI (Trigger, then pick the connection and regions), or through the REST API with
`{"conf": {"regions": ["us-east-1"]}}`. Point the `aws_default` connection at the sandbox
(`endpoint_url` extra) to rehearse on a simulated fleet.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task

from eks_runbooks.core.eks.names import REGION_PATTERN


@dag(
    dag_id="eks_fleet_inventory",
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["eks", "fleet", "read-only"],
    default_args={"owner": "platform", "retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "aws_conn_id": Param(
            "aws_default",
            type="string",
            minLength=1,
            title="AWS connection",
            description="Airflow connection whose identity lists the clusters.",
        ),
        "regions": Param(
            ["us-east-1"],
            type="array",
            minItems=1,
            items={"type": "string", "pattern": REGION_PATTERN},
            title="Regions",
            description="AWS regions to inventory, e.g. us-east-1.",
        ),
    },
)
def eks_fleet_inventory() -> None:
    @task
    def regions() -> list[str]:
        return list(get_current_context()["params"]["regions"])

    @task(map_index_template="{{ task.op_kwargs['region'] }}")
    def inventory_region(region: str) -> list[dict]:
        from eks_runbooks.tasks.inventory import inventory_clusters

        return inventory_clusters(get_current_context()["params"]["aws_conn_id"], region)

    @task
    def report(per_region: list[list[dict]]) -> str:
        from eks_runbooks.tasks.inventory import render_inventory_report

        markdown = render_inventory_report([cluster for clusters in per_region for cluster in clusters])
        print(markdown)
        return markdown

    report(inventory_region.expand(region=regions()))


eks_fleet_inventory()
