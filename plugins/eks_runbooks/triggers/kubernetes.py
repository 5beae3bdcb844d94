"""The trigger that waits, in the triggerer, for workload rollouts to settle — no worker slot held meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class KubernetesRolloutsTrigger(BaseTrigger):
    """
    Wait until every listed rollout of one EKS cluster has settled: complete, or failing (a new pod
    crash-looping — no point waiting for it).

    Fires ``{"status": "success", "states": {ref: state}}`` once all have settled and ``{"status": "timeout",
    "states": ...}`` when the attempts run out (the operator then names what did not converge).

    :param cluster_name: The name of the cluster.
    :param workloads: ``Kind/namespace/name`` of each workload (Deployment, StatefulSet, DaemonSet).
    :param waiter_delay: The amount of time in seconds to wait between attempts.
    :param waiter_max_attempts: The maximum number of attempts to be made.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: Which AWS region the connection should use.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    def __init__(
        self,
        cluster_name: str,
        workloads: list[str],
        waiter_delay: float,
        waiter_max_attempts: int,
        aws_conn_id: str | None,
        region_name: str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.cluster_name = cluster_name
        self.workloads = list(workloads)
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__name__}",
            {
                "cluster_name": self.cluster_name,
                "workloads": self.workloads,
                "waiter_delay": self.waiter_delay,
                "waiter_max_attempts": self.waiter_max_attempts,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "botocore_config": self.botocore_config,
            },
        )

    def states(self, reader: Any) -> dict[str, str]:
        """How each rollout stands now (the reader's lists are read again; its discovery is kept)."""
        from eks_runbooks.readers.rollouts import rollout_states

        reader.forget_listed()
        return rollout_states(reader, self.workloads)

    def client(self) -> Any:
        """The cluster's Kubernetes client, for the whole wait (one AWS session, tokens renewed as they age)."""
        from eks_runbooks.hooks.eks import EksRunbookHook
        from eks_runbooks.readers.kube_client import eks_kubernetes_client

        hook = EksRunbookHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, config=self.botocore_config)
        return eks_kubernetes_client(self.cluster_name, hook=hook)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from eks_runbooks.readers.cluster import KubernetesReader
        from eks_runbooks.readers.rollouts import settled

        states: dict[str, str] = {}
        client = self.client()
        reader = KubernetesReader(await asyncio.to_thread(client.__enter__))
        try:
            for _attempt in range(self.waiter_max_attempts):
                # Wait first, then look (see EksUpdatesTrigger: an event right after deferring can be lost).
                await asyncio.sleep(self.waiter_delay)
                states = await asyncio.to_thread(self.states, reader)
                if all(settled(state) for state in states.values()):
                    yield TriggerEvent({"status": "success", "states": states})
                    return
        finally:
            client.__exit__(None, None, None)
        yield TriggerEvent({"status": "timeout", "states": states})
