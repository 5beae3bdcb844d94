"""What the Pod Identity migration's tasks and step operators read from the run: its request, its plan, and the
clients they act through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

from eks_runbooks.core.pod_identity.request import (
    InvalidMigrationRequest,
    MigrationRequest,
    parse_migration_request,
)
from eks_runbooks.runs.connections import refuse_unlisted_connections
from eks_runbooks.runs.upgrade_context import AWS_RETRIES

if TYPE_CHECKING:
    from airflow.sdk import Context

    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.hooks.iam import IamRolesHook
    from eks_runbooks.readers.cluster import KubernetesReader

PLAN_TASK_ID = "plan"
#: The Airflow Variable where a team declares the AWS SDK its images carry: {"<image>": "<sdk>/<version>"}.
IMAGE_SDKS_VARIABLE = "eks_pod_identity_image_sdks"


class MigrationRequestRejected(AirflowFailException):
    """The run's conf is malformed (not retried: the same conf fails the same way)."""


def migration_request_of(context: Context) -> MigrationRequest:
    """The run's validated request, naming a connection runs may use (``runs.connections``)."""
    try:
        request = parse_migration_request(dict(context["params"]))
    except InvalidMigrationRequest as error:
        raise MigrationRequestRejected(
            f"{error}. Fix the run's conf (or the trigger form) and start a new run; nothing was changed."
        ) from None
    refuse_unlisted_connections(
        [request.aws_conn_id], what=f"Pod Identity migration of {request.cluster_name}: aws_conn_id"
    )
    return request


@dataclass
class MigrationClients:
    """The clients one task acts through, for the run's connection and region."""

    eks: EksRunbookHook
    kube_api: Any
    request: MigrationRequest

    @cached_property
    def iam(self) -> IamRolesHook:
        """IAM, for the steps that read or change trust policies (one session per task)."""
        from botocore.config import Config

        from eks_runbooks.hooks.iam import IamRolesHook

        return IamRolesHook(
            aws_conn_id=self.request.aws_conn_id, region_name=self.request.region, config=Config(**AWS_RETRIES)
        )

    @cached_property
    def reader(self) -> KubernetesReader:
        """The task's reader (it caches what it lists: ``forget_listed()`` before looking again)."""
        from eks_runbooks.readers.cluster import KubernetesReader

        return KubernetesReader(self.kube_api)


@contextmanager
def migration_clients(request: MigrationRequest) -> Iterator[MigrationClients]:
    from botocore.config import Config

    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    eks = EksRunbookHook(aws_conn_id=request.aws_conn_id, region_name=request.region, config=Config(**AWS_RETRIES))
    with eks_kubernetes_client(request.cluster_name, hook=eks) as api_client:
        yield MigrationClients(eks, api_client, request)


def image_sdks() -> dict[str, str]:
    """The team's declared SDK per image (Variable ``eks_pod_identity_image_sdks``), refused when malformed."""
    from airflow.sdk import Variable

    value = Variable.get(IMAGE_SDKS_VARIABLE, default={}, deserialize_json=True)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise AirflowFailException(
            f'Variable {IMAGE_SDKS_VARIABLE} must be a JSON object {{"<image>": "<sdk>/<version>"}}; fix it and re-run'
        )
    return value


def plan_of(context: Context) -> dict[str, Any]:
    """The run's plan (XCom of the plan task)."""
    return context["ti"].xcom_pull(task_ids=PLAN_TASK_ID) or {}
