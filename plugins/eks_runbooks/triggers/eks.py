"""Triggers that wait, in the triggerer, for EKS updates to end — no worker slot held meanwhile."""

from __future__ import annotations

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from eks_runbooks.hooks.eks import EksRunbookHook, update_request


class EksUpdateTrigger(AwsBaseWaiterTrigger):
    """
    Wait for an EKS update (cluster version or config, add-on, node group) to end.

    Fires ``{"status": "success", "update_id": ...}`` when the update is Successful and
    ``{"status": "error", ...}`` when it is Failed or Cancelled or the attempts run out.

    :param cluster_name: The name of the cluster the update belongs to.
    :param update_id: The update's id.
    :param nodegroup_name: The node group, for a node group update.
    :param addon_name: The add-on, for an add-on update.
    :param waiter_delay: The amount of time in seconds to wait between attempts.
    :param waiter_max_attempts: The maximum number of attempts to be made.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: Which AWS region the connection should use.
        If this is None or empty then the default boto3 behaviour is used.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    aws_hook_class = EksRunbookHook

    def __init__(
        self,
        cluster_name: str,
        update_id: str,
        waiter_delay: int,
        waiter_max_attempts: int,
        aws_conn_id: str | None,
        nodegroup_name: str | None = None,
        addon_name: str | None = None,
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__(
            serialized_fields={
                "cluster_name": cluster_name,
                "update_id": update_id,
                "nodegroup_name": nodegroup_name,
                "addon_name": addon_name,
            },
            waiter_name="update_successful",
            waiter_args=update_request(cluster_name, update_id, nodegroup_name, addon_name),
            failure_message=f"EKS update {update_id} of cluster {cluster_name} did not succeed",
            status_message=f"EKS update {update_id} of cluster {cluster_name} is",
            status_queries=["update.status", "update.errors"],
            return_key="update_id",
            return_value=update_id,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )
