"""The EKS hook the runbooks use: the provider's ``EksHook`` plus the waiters EKS updates need."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.eks import EksHook

WAITERS_FILE = Path(__file__).resolve().parents[1] / "waiters" / "eks_runbooks.json"


class EksRunbookHook(EksHook):
    """
    Interact with Amazon EKS, with waiters for cluster, add-on and node group updates.

    botocore ships waiters for clusters, node groups and add-ons becoming ACTIVE, but none for
    ``DescribeUpdate`` — the only way to follow UpdateClusterVersion, UpdateAddon and UpdateNodegroupVersion
    to their end. Those live in ``waiters/eks_runbooks.json`` (``update_successful``,
    ``insights_refresh_completed``); botocore's own waiters stay available under their names.

    Additional arguments (such as ``aws_conn_id``) may be specified and are passed down to the underlying
    AwsBaseHook.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.eks.EksHook`
    """

    @cached_property
    def waiter_path(self) -> Path:
        return WAITERS_FILE

    def describe_update(
        self, cluster_name: str, update_id: str, nodegroup_name: str | None = None, addon_name: str | None = None
    ) -> dict[str, Any]:
        """
        Describe one update of a cluster, or of one of its node groups or add-ons.

        :param cluster_name: The name of the cluster the update belongs to.
        :param update_id: The update's id, as returned when the update was started.
        :param nodegroup_name: The node group, for a node group update.
        :param addon_name: The add-on, for an add-on update.
        :return: The ``update`` object of DescribeUpdate.
        """
        return self.conn.describe_update(**update_request(cluster_name, update_id, nodegroup_name, addon_name))[
            "update"
        ]


def update_request(
    cluster_name: str, update_id: str, nodegroup_name: str | None = None, addon_name: str | None = None
) -> dict[str, str]:
    """DescribeUpdate arguments for an update of a cluster, a node group or an add-on."""
    request = {"name": cluster_name, "updateId": update_id}
    if nodegroup_name:
        request["nodegroupName"] = nodegroup_name
    if addon_name:
        request["addonName"] = addon_name
    return request
