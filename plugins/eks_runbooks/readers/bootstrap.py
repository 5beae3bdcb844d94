"""Read what the bootstrap's pre-flight judges: the request's subnets, roles, key and versions, as AWS answers them.

Nothing here decides or changes anything: every call is a read, and what comes back is shaped as the API serves
it (``core.bootstrap.preflight.PreflightInputs``). A Service Quotas call the runbook's role may not make falls back
to EKS's default quota, and the inputs say so; any other error propagates (a pre-flight that could not look must
not pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from eks_runbooks.core.bootstrap.facts import load_bootstrap_facts
from eks_runbooks.core.bootstrap.preflight import PreflightInputs, QuotaSource, planned_kubernetes_version
from eks_runbooks.core.bootstrap.request import BootstrapRequest
from eks_runbooks.core.clock import utc_today

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.sts import StsHook

    from eks_runbooks.hooks.ec2 import Ec2NetworkHook
    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.hooks.iam import IamRolesHook
    from eks_runbooks.hooks.kms import KmsKeysHook
    from eks_runbooks.hooks.service_quotas import ServiceQuotasHook

#: Error codes of a call the caller's IAM policy does not allow (Service Quotas answers AccessDeniedException).
ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})


@dataclass(frozen=True)
class BootstrapClients:
    """The hooks a bootstrap run reads (and later acts) through, built once per task for one connection and region."""

    eks: EksRunbookHook
    ec2: Ec2NetworkHook
    iam: IamRolesHook
    kms: KmsKeysHook
    quotas: ServiceQuotasHook
    sts: StsHook

    @classmethod
    def for_connection(cls, aws_conn_id: str, region_name: str) -> BootstrapClients:
        """The hooks of one Airflow AWS connection in the cluster's region."""
        from airflow.providers.amazon.aws.hooks.sts import StsHook

        from eks_runbooks.hooks.ec2 import Ec2NetworkHook
        from eks_runbooks.hooks.eks import EksRunbookHook
        from eks_runbooks.hooks.iam import IamRolesHook
        from eks_runbooks.hooks.kms import KmsKeysHook
        from eks_runbooks.hooks.service_quotas import ServiceQuotasHook

        where = {"aws_conn_id": aws_conn_id, "region_name": region_name}
        return cls(
            eks=EksRunbookHook(**where),
            ec2=Ec2NetworkHook(**where),
            iam=IamRolesHook(**where),
            kms=KmsKeysHook(**where),
            quotas=ServiceQuotasHook(**where),
            sts=StsHook(**where),
        )


def gather_bootstrap_preflight(
    clients: BootstrapClients, request: BootstrapRequest, today: date | None = None
) -> PreflightInputs:
    """
    Everything the bootstrap's pre-flight looks at, read from AWS (read-only).

    :param clients: the run's hooks, in the request's region.
    :param request: the validated request.
    :param today: the runbooks' clock (default ``core.clock.utc_today()``).
    """
    today = today or utc_today()
    account_id = clients.sts.get_account_number()
    subnets = clients.ec2.find_subnets(list(request.subnet_ids))
    existing = clients.eks.find_cluster(request.cluster_name)
    cluster_versions = clients.eks.describe_cluster_versions()
    quota, quota_source = read_cluster_quota(clients.quotas)
    roles, role_policies = _read_roles(clients.iam, request, account_id)
    version = planned_kubernetes_version(request, cluster_versions, existing, today)
    return PreflightInputs(
        request=request,
        today=today,
        account_id=account_id,
        subnets=subnets,
        route_tables=[
            table for vpc in sorted({s["VpcId"] for s in subnets}) for table in clients.ec2.describe_route_tables(vpc)
        ],
        instance_types=clients.ec2.describe_offered_instance_types(
            sorted({name for nodegroup in request.compute for name in nodegroup.instance_types})
        ),
        existing_cluster=existing,
        cluster_count=len(clients.eks.list_clusters()),
        cluster_quota=quota,
        quota_source=quota_source,
        kms_key=clients.kms.describe_key(request.kms_key_arn) if request.kms_key_arn else None,
        roles=roles,
        role_policies=role_policies,
        principals={arn: _principal_exists(clients.iam, arn, account_id) for arn in request.admin_principal_arns},
        cluster_versions=cluster_versions,
        addon_versions=_addon_versions(clients.eks, request, version, cluster_versions),
    )


def _addon_versions(
    eks: EksRunbookHook, request: BootstrapRequest, version: str | None, cluster_versions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """DescribeAddonVersions of the requested add-ons for the planned version (none for a version EKS does not
    offer: BOOT-VERSION-SUPPORTED names that one)."""
    if version not in {entry["clusterVersion"] for entry in cluster_versions}:
        return []
    return [addon for addon in eks.describe_addon_versions(version) if addon["addonName"] in request.addons]


def read_cluster_quota(quotas: ServiceQuotasHook) -> tuple[int, QuotaSource]:
    """The clusters-per-Region quota and where it came from; EKS's default when the account has no applied value
    or the runbook's role may not read Service Quotas."""
    from botocore.exceptions import ClientError

    facts = load_bootstrap_facts().clusters_quota
    try:
        value = quotas.applied_quota_value(facts["service_code"], facts["quota_code"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ACCESS_DENIED:
            raise
        return facts["default"], QuotaSource.DEFAULT_DENIED
    if value is None:
        return facts["default"], QuotaSource.DEFAULT_NOT_APPLIED
    return int(value), QuotaSource.APPLIED


def _account_of(arn: str) -> str:
    return arn.split(":")[4]


def _name_of(arn: str) -> str:
    return arn.rpartition("/")[2]


def _read_roles(
    iam: IamRolesHook, request: BootstrapRequest, account_id: str
) -> tuple[dict[str, dict[str, Any] | None], dict[str, list[str]]]:
    """GetRole and the attached policies of the given cluster and node roles of the runbook's account."""
    roles: dict[str, dict[str, Any] | None] = {}
    policies: dict[str, list[str]] = {}
    for arn in (request.cluster_role_arn, request.node_role_arn):
        if not arn or _account_of(arn) != account_id or arn in roles:
            continue
        roles[arn] = iam.get_role(_name_of(arn))
        policies[arn] = iam.attached_policy_arns(_name_of(arn)) if roles[arn] else []
    return roles, policies


def _principal_exists(iam: IamRolesHook, arn: str, account_id: str) -> bool | None:
    """Whether an IAM role or user of the runbook's account exists; None for another account's (not looked up)."""
    if _account_of(arn) != account_id:
        return None
    if ":role/" in arn:
        return iam.get_role(_name_of(arn)) is not None
    return iam.user_exists(_name_of(arn))
