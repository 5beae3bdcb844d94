"""Sensors over EKS state: follow an update that is already running (for example one a previous run,
a person or another tool started) until it ends, in the worker or deferred to the triggerer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from eks_runbooks.hooks.eks import EksRunbookHook
from eks_runbooks.operators.eks import EksUpdateFailedError, failure_message, update_target
from eks_runbooks.triggers.eks import EksUpdateTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class EksUpdateSensor(AwsBaseSensor[EksRunbookHook]):
    """
    Wait until an EKS update ends; fail with EKS's error codes if it ends Failed or Cancelled.

    :param cluster_name: The name of the cluster. (templated)
    :param update_id: The update to follow. (templated)
    :param nodegroup_name: The node group, for a node group update. (templated)
    :param addon_name: The add-on, for an add-on update. (templated)
    :param deferrable: If True, wait in the triggerer, holding no worker slot.
        (default: the ``operators.default_deferrable`` setting)
    :param poke_interval: Seconds between DescribeUpdate calls. (default: 30)
    :param max_retries: How many DescribeUpdate calls before giving up, when deferred. (default: 120)
    :param aws_conn_id: The Airflow connection used for AWS credentials.
        If this is ``None`` or empty then the default boto3 behaviour is used. If
        running Airflow in a distributed manner and aws_conn_id is None or
        empty, then default boto3 configuration would be used (and must be
        maintained on each worker node).
    :param region_name: AWS region_name. If not specified then the default boto3 behaviour is used.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    aws_hook_class = EksRunbookHook
    template_fields: Sequence[str] = aws_template_fields("cluster_name", "update_id", "nodegroup_name", "addon_name")

    def __init__(
        self,
        *,
        cluster_name: str,
        update_id: str,
        nodegroup_name: str | None = None,
        addon_name: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 30,
        max_retries: int = 120,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.cluster_name = cluster_name
        self.update_id = update_id
        self.nodegroup_name = nodegroup_name
        self.addon_name = addon_name
        self.deferrable = deferrable
        self.max_retries = max_retries

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context=context)
        self.defer(
            trigger=EksUpdateTrigger(
                cluster_name=self.cluster_name,
                update_id=self.update_id,
                nodegroup_name=self.nodegroup_name,
                addon_name=self.addon_name,
                waiter_delay=int(self.poke_interval),
                waiter_max_attempts=self.max_retries,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.poke_interval * (self.max_retries + 1)),
        )

    def poke(self, context: Context) -> bool:
        update = self._describe()
        self.log.info("EKS update %s of cluster %s is %s", self.update_id, self.cluster_name, update["status"])
        if update["status"] == "InProgress":
            return False
        self._raise_unless_successful(update)
        return True

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        validate_execute_complete_event(event)
        self._raise_unless_successful(self._describe())

    def _describe(self) -> dict[str, Any]:
        return self.hook.describe_update(self.cluster_name, self.update_id, self.nodegroup_name, self.addon_name)

    def _raise_unless_successful(self, update: dict[str, Any]) -> None:
        if update["status"] != "Successful":
            target = update_target(self.nodegroup_name, self.addon_name)
            raise EksUpdateFailedError(failure_message(self.cluster_name, target, update))
