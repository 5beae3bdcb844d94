"""Operators that start EKS updates and wait for them: synchronously, or deferred to the triggerer.

Every one of them follows the same life: start the update (with a ``clientRequestToken`` so that a retried
task attaches to the update it already started instead of starting a second one), then either poll
``DescribeUpdate`` in the worker or defer to ``EksUpdateTrigger``, and finally read the update once more
and fail with EKS's own error codes if it did not succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.amazon.aws.utils.waiter_with_logging import wait
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from eks_runbooks.hooks.eks import EksRunbookHook, update_request
from eks_runbooks.triggers.eks import EksUpdateTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class EksUpdateFailedError(AirflowFailException):
    """An EKS update ended Failed or Cancelled; the message carries EKS's error codes.

    Not retried: a retry presents the same clientRequestToken, so EKS would answer with the same failed update.
    """


class EksUpdateOperatorBase(AwsBaseOperator[EksRunbookHook]):
    """
    Start one EKS update and wait for it to end (base class; subclasses say which update).

    :param cluster_name: The name of the cluster. (templated)
    :param client_request_token: Idempotency token for the update: the same token with the same request
        returns the update already started. Default: derived from the DAG run, task and map index (not the
        try number), so a retried task never starts a second update. (templated)
    :param wait_for_completion: Whether to wait for the update to end. (default: True)
    :param deferrable: If True, the operator waits asynchronously in the triggerer, holding no worker slot.
        This implies waiting for completion. (default: the ``operators.default_deferrable`` setting)
    :param waiter_delay: Seconds between DescribeUpdate calls. (default: 30)
    :param waiter_max_attempts: How many DescribeUpdate calls before giving up. (default: 120)
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
    template_fields: Sequence[str] = aws_template_fields("cluster_name", "client_request_token")
    ui_color = "#f0a35e"

    #: Which DescribeUpdate target the update belongs to; set by subclasses.
    nodegroup_name: str | None = None
    addon_name: str | None = None

    def __init__(
        self,
        *,
        cluster_name: str,
        client_request_token: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        waiter_delay: int = 30,
        waiter_max_attempts: int = 120,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.client_request_token = client_request_token
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def start_update(self, token: str) -> dict[str, Any]:
        """Call the EKS operation that starts the update; returns its ``update`` object."""
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        token = self.client_request_token or default_request_token(context)
        update = self.start_update(token)
        self.log.info(
            "Started EKS %s %s on cluster %s (%s)",
            update["type"],
            update["id"],
            self.cluster_name,
            update_target(self.nodegroup_name, self.addon_name),
        )
        if self.deferrable:
            self.defer(
                trigger=EksUpdateTrigger(
                    cluster_name=self.cluster_name,
                    update_id=update["id"],
                    nodegroup_name=self.nodegroup_name,
                    addon_name=self.addon_name,
                    waiter_delay=self.waiter_delay,
                    waiter_max_attempts=self.waiter_max_attempts,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
                # As long as the worker-side wait would poll, plus one delay of slack for the triggerer.
                timeout=timedelta(seconds=self.waiter_delay * (self.waiter_max_attempts + 1)),
            )
        if not self.wait_for_completion:
            return update_summary(self.cluster_name, update)
        try:
            wait(
                waiter=self.hook.get_waiter("update_successful"),
                waiter_delay=self.waiter_delay,
                waiter_max_attempts=self.waiter_max_attempts,
                args=update_request(self.cluster_name, update["id"], self.nodegroup_name, self.addon_name),
                failure_message=f"EKS update {update['id']} of cluster {self.cluster_name} did not succeed",
                status_message=f"EKS update {update['id']} of cluster {self.cluster_name} is",
                status_args=["update.status"],
            )
        except AirflowException:
            self.log.warning("Waiting for update %s ended without success; reading its outcome", update["id"])
        return self._outcome(update["id"])

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        validated = validate_execute_complete_event(event)
        if validated["status"] != "success":
            self.log.warning("Trigger reported: %s", validated.get("message"))
        return self._outcome(validated["update_id"])

    def _outcome(self, update_id: str) -> dict[str, Any]:
        update = self.hook.describe_update(self.cluster_name, update_id, self.nodegroup_name, self.addon_name)
        if update["status"] != "Successful":
            raise EksUpdateFailedError(
                failure_message(self.cluster_name, update_target(self.nodegroup_name, self.addon_name), update)
            )
        self.log.info("EKS update %s on cluster %s is Successful", update_id, self.cluster_name)
        return update_summary(self.cluster_name, update)


class EksUpdateClusterVersionOperator(EksUpdateOperatorBase):
    """
    Upgrade (or roll back) an EKS control plane by one minor version.

    :param kubernetes_version: The target control-plane version, e.g. ``"1.32"``. (templated)
    :param force: Upgrade even if Insights report upgrade-blocking findings. (default: False)
    """

    template_fields: Sequence[str] = aws_template_fields("cluster_name", "client_request_token", "kubernetes_version")

    def __init__(self, *, kubernetes_version: str, force: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kubernetes_version = kubernetes_version
        self.force = force

    def start_update(self, token: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "name": self.cluster_name,
            "version": self.kubernetes_version,
            "clientRequestToken": token,
        }
        if self.force:
            request["force"] = True
        return self.hook.start_update("update_cluster_version", request)


class EksUpdateAddonOperator(EksUpdateOperatorBase):
    """
    Update one managed add-on of an EKS cluster to a version.

    :param addon_name: The add-on, e.g. ``"coredns"``. (templated)
    :param addon_version: The target version, e.g. ``"v1.11.4-eksbuild.40"``. (templated)
    :param resolve_conflicts: ``PRESERVE`` (keep your changes; the default), ``OVERWRITE`` (reset fields you
        changed to EKS defaults) or ``NONE`` (fail on conflict).
    :param configuration_values: The add-on's configuration as JSON/YAML text; None leaves it unchanged.
    """

    template_fields: Sequence[str] = aws_template_fields(
        "cluster_name", "client_request_token", "addon_name", "addon_version", "configuration_values"
    )

    def __init__(
        self,
        *,
        addon_name: str,
        addon_version: str,
        resolve_conflicts: str = "PRESERVE",
        configuration_values: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.addon_name = addon_name
        self.addon_version = addon_version
        self.resolve_conflicts = resolve_conflicts
        self.configuration_values = configuration_values

    def start_update(self, token: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "clusterName": self.cluster_name,
            "addonName": self.addon_name,
            "addonVersion": self.addon_version,
            "resolveConflicts": self.resolve_conflicts,
            "clientRequestToken": token,
        }
        if self.configuration_values is not None:
            request["configurationValues"] = self.configuration_values
        return self.hook.start_update("update_addon", request)


class EksUpdateNodegroupVersionOperator(EksUpdateOperatorBase):
    """
    Roll a managed node group to a Kubernetes version, AMI release or launch template version.

    :param nodegroup_name: The node group. (templated)
    :param kubernetes_version: Target version, e.g. ``"1.32"``; None means the control plane's. (templated)
    :param release_version: Target AMI release; None means the latest for the version. (templated)
    :param launch_template: ``{"id" or "name", "version"}`` for node groups built from a launch template.
    :param force: Replace nodes even when a PodDisruptionBudget refuses the drain. (default: False)
    """

    template_fields: Sequence[str] = aws_template_fields(
        "cluster_name", "client_request_token", "nodegroup_name", "kubernetes_version", "release_version"
    )

    def __init__(
        self,
        *,
        nodegroup_name: str,
        kubernetes_version: str | None = None,
        release_version: str | None = None,
        launch_template: dict[str, str] | None = None,
        force: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.nodegroup_name = nodegroup_name
        self.kubernetes_version = kubernetes_version
        self.release_version = release_version
        self.launch_template = launch_template
        self.force = force

    def start_update(self, token: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "clusterName": self.cluster_name,
            "nodegroupName": self.nodegroup_name,
            "clientRequestToken": token,
        }
        if self.force:
            request["force"] = True
        if self.launch_template:
            request["launchTemplate"] = self.launch_template
        else:
            if self.kubernetes_version:
                request["version"] = self.kubernetes_version
            if self.release_version:
                request["releaseVersion"] = self.release_version
        return self.hook.start_update("update_nodegroup_version", request)


def default_request_token(context: Context, *parts: str) -> str:
    """An idempotency token that is the same for every try of one task instance (≤ 64 characters); ``parts``
    tell apart several updates the same task instance starts.

    EKS returns the update already started for a repeated token, so a task retried after its worker died
    attaches to its own update rather than failing with ResourceInUseException or starting another.
    """
    import hashlib

    ti = context["ti"]
    identity = "/".join((ti.dag_id, ti.run_id, ti.task_id, str(ti.map_index), *parts))
    return "airflow-" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def update_target(nodegroup_name: str | None, addon_name: str | None) -> str:
    """What an update acts on, in words: ``control plane``, ``add-on coredns``, ``node group general``."""
    if addon_name:
        return f"add-on {addon_name}"
    if nodegroup_name:
        return f"node group {nodegroup_name}"
    return "control plane"


def failure_message(cluster_name: str, target: str, update: dict[str, Any]) -> str:
    """A failure a person can act on: what failed, EKS's error codes, and where to look next."""
    errors = "; ".join(
        f"{error.get('errorCode', 'Unknown')}: {error.get('errorMessage', '')}"
        + (f" (resources: {', '.join(error['resourceIds'])})" if error.get("resourceIds") else "")
        for error in update.get("errors", [])
    )
    return (
        f"EKS {update.get('type', 'update')} {update['id']} of the {target} of cluster {cluster_name} ended "
        f"{update['status']}: {errors or 'EKS reported no error details'}. Fix the cause, then clear this task "
        f"to retry; `aws eks describe-update --name {cluster_name} --update-id {update['id']}` shows the update."
    )


def update_summary(cluster_name: str, update: dict[str, Any]) -> dict[str, Any]:
    """The small, credential-free XCom an update task returns."""
    return {
        "cluster_name": cluster_name,
        "update_id": update["id"],
        "type": update["type"],
        "status": update["status"],
        "params": {param["type"]: param["value"] for param in update.get("params", [])},
    }
