"""The triggers that wait, in the triggerer, for EKS updates to end or resources to be created — no worker slot
held meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from eks_runbooks.core.eks.updates import UpdateRef
from eks_runbooks.hooks.eks import EksRunbookHook


class EksClusterWaitTrigger(BaseTrigger):
    """
    What every wait on one cluster's EKS resources shares: where to look, how often, how long, as whom
    (base class; ``waits_for`` names the subclass's own argument).

    :param cluster_name: The name of the cluster.
    :param waiter_delay: The amount of time in seconds to wait between attempts.
    :param waiter_max_attempts: The maximum number of attempts to be made.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: Which AWS region the connection should use.
        If this is None or empty then the default boto3 behaviour is used.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    #: The name of the subclass's own argument (what it waits for), serialised with the shared ones.
    waits_for = ""

    def __init__(
        self,
        cluster_name: str,
        waiter_delay: float,
        waiter_max_attempts: int,
        aws_conn_id: str | None,
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.cluster_name = cluster_name
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__name__}",
            {
                "cluster_name": self.cluster_name,
                self.waits_for: self._waited_for(),
                "waiter_delay": self.waiter_delay,
                "waiter_max_attempts": self.waiter_max_attempts,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
            },
        )

    def _waited_for(self) -> Any:
        raise NotImplementedError

    def hook(self) -> EksRunbookHook:
        return EksRunbookHook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify, config=self.botocore_config
        )


class EksUpdatesTrigger(EksClusterWaitTrigger):
    """
    Wait for the first of several EKS updates of one cluster to end (for updates that run side by side,
    such as node groups rolled ``nodegroup_parallelism`` at a time).

    Fires ``{"status": "success", "ended": [entries of updates that ended]}`` as soon as one update is no
    longer InProgress — the operator then reads each outcome, starts the next updates and defers again — and
    ``{"status": "error", "message": ...}`` when the attempts run out. Throttled DescribeUpdate calls are
    retried at the next attempt, as the provider's waiters do.

    :param cluster_name: The name of the cluster the updates belong to.
    :param updates: One ``UpdateRef.to_dict()`` per update (trigger kwargs are JSON).
    :param waiter_delay: The amount of time in seconds to wait between attempts.
    :param waiter_max_attempts: The maximum number of attempts to be made.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: Which AWS region the connection should use.
        If this is None or empty then the default boto3 behaviour is used.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    waits_for = "updates"

    def __init__(self, cluster_name: str, updates: list[dict[str, str]], **kwargs: Any) -> None:
        super().__init__(cluster_name, **kwargs)
        self.updates = [UpdateRef.from_dict(update) for update in updates]

    def _waited_for(self) -> list[dict[str, str]]:
        return [ref.to_dict() for ref in self.updates]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from botocore.exceptions import ClientError

        hook = self.hook()
        # One client for the whole wait, as the provider's waiter triggers keep: building one on every poll (a
        # session, the role's credentials, the service model) held the triggerer's event loop up to a second.
        async with await hook.wait_client() as client:
            for _attempt in range(self.waiter_max_attempts):
                # Wait first, then look: an event fired moments after the task deferred can reach the scheduler
                # before the worker's deferral report, which Airflow 3.3.2 then treats as an external kill
                # (apache/airflow#67287). EKS updates take minutes, so the first look loses nothing.
                await asyncio.sleep(self.waiter_delay)
                try:
                    statuses = await hook.update_statuses_async(self.cluster_name, self.updates, client=client)
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") not in THROTTLING_CODES:
                        raise
                    self.log.info("DescribeUpdate throttled for cluster %s; trying again", self.cluster_name)
                    continue
                if ended := ended_updates(self.updates, statuses):
                    yield TriggerEvent({"status": "success", "ended": ended})
                    return
        yield TriggerEvent(
            {"status": "error", "message": still_in_progress(self.cluster_name, self.updates, self.waiter_max_attempts)}
        )


def ended_updates(updates: list[UpdateRef], statuses: list[str]) -> list[dict[str, str]]:
    """The updates no longer InProgress, as the ``ended`` entries of the event a wait fires."""
    return [ref.to_dict() for ref, status in zip(updates, statuses, strict=True) if status != "InProgress"]


def still_in_progress(cluster_name: str, updates: list[UpdateRef], attempts: int) -> str:
    """Why a wait for EKS updates gave up."""
    return (
        f"EKS updates {', '.join(ref.update_id for ref in updates)} of cluster {cluster_name} were still "
        f"InProgress after {attempts} checks"
    )


#: Error codes AWS answers when a caller is over its request rate (botocore's retry handler treats them alike).
THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})


#: What a resource EKS is creating shows once creation is over, well or badly [BC Cluster/Addon/Nodegroup status].
CREATED = "ACTIVE"
CREATION_FAILED = frozenset({"FAILED", "CREATE_FAILED", "DELETING", "DELETE_FAILED"})


class EksCreationTrigger(EksClusterWaitTrigger):
    """
    Wait until a cluster, add-ons or node groups EKS is creating are ACTIVE, or one of them failed.

    An add-on that is DEGRADED is waited for (coredns is DEGRADED until its pods run, then ACTIVE); when the
    attempts run out the event carries each resource's last status and health issues, which the step reports.

    :param cluster_name: The name of the cluster.
    :param resources: ``"cluster"``, ``"addon/<name>"`` or ``"nodegroup/<name>"`` refs.
    :param waiter_delay: The amount of time in seconds to wait between attempts.
    :param waiter_max_attempts: The maximum number of attempts to be made.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: Which AWS region the connection should use.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    waits_for = "resources"

    def __init__(self, cluster_name: str, resources: list[str], **kwargs: Any) -> None:
        super().__init__(cluster_name, **kwargs)
        self.resources = resources

    def _waited_for(self) -> list[str]:
        return self.resources

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from botocore.exceptions import ClientError

        hook = self.hook()
        states: dict[str, dict[str, Any]] = {}
        for _attempt in range(self.waiter_max_attempts):
            await asyncio.sleep(self.waiter_delay)
            try:
                states = await hook.creation_states_async(self.cluster_name, self.resources)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in THROTTLING_CODES:
                    raise
                continue
            if creation_over(states):
                yield TriggerEvent({"status": "success", "states": states})
                return
        yield TriggerEvent({"status": "timeout", "states": states})


def creation_over(states: dict[str, dict[str, Any]]) -> bool:
    """Whether every resource is ACTIVE or one of them failed (nothing left worth waiting for)."""
    statuses = [state["status"] for state in states.values()]
    return all(status == CREATED for status in statuses) or any(status in CREATION_FAILED for status in statuses)
