"""Everything the sandbox needs from moto's internals, in one place, checked against the pinned version.

moto is the sandbox's AWS for every service but EKS. The simulated EKS must agree with moto on which account
and region a request belongs to (so an assumed-role session in account B sees account B's clusters and
subnets), and it reads EC2 state (subnets, free IPs, instance types, launch templates) straight from moto's
backends. It also writes there what EKS creates on a user's behalf: node groups' Auto Scaling groups, launch
templates and EC2 instances, and the SSM public parameters AWS publishes for the EKS optimized AMIs. Those are
internal APIs: pin moto exactly (pyproject) and keep every such access here.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import unquote

import moto
from moto.settings import default_user_config

SUPPORTED_MOTO_VERSIONS = ("5.2.5",)

if moto.__version__ not in SUPPORTED_MOTO_VERSIONS:
    raise ImportError(
        f"eks_sandbox was built against moto {', '.join(SUPPORTED_MOTO_VERSIONS)}, found {moto.__version__}: "
        "re-check eks_sandbox/moto_compat.py against the new version before widening the pin."
    )

# A real account has every AWS managed policy (arn:aws:iam::aws:policy/...): AmazonEKSClusterPolicy and the rest
# can be attached. moto carries their documents (moto/iam/aws_managed_policies.py) but loads them only when asked;
# ~0.1 s per account's IAM backend.
default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True


def _schedule_key_deletion_by_key_arn() -> None:
    """KMS ScheduleKeyDeletion takes a key ID or a key ARN (KMS API Reference, ScheduleKeyDeletion: KeyId); moto
    looks a key ARN up as a raw key id and answers HTTP 500 (KeyError). The bootstrap's teardown names the ARN."""
    from moto.kms.models import KmsBackend

    original = KmsBackend.schedule_key_deletion

    def schedule_key_deletion(self: KmsBackend, key_id: str, pending_window_in_days: int) -> float:
        return original(self, KmsBackend.get_key_id(key_id), pending_window_in_days)

    KmsBackend.schedule_key_deletion = schedule_key_deletion  # type: ignore[method-assign]


_schedule_key_deletion_by_key_arn()

# AWS SigV4: "AWS4-HMAC-SHA256 Credential=AKID/20261121/us-east-1/eks/aws4_request, SignedHeaders=..., ..."
_CREDENTIAL_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")

DEFAULT_REGION = "us-east-1"

#: The account unsigned requests and plain credentials act in (moto's default).
DEFAULT_ACCOUNT_ID = "123456789012"


def signing_scope(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    """(access key id, region, service) from a SigV4-signed request, or None for an unsigned one."""
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return None
    return match.group(1), match.group(2), match.group(3)


def account_for_access_key(access_key: str, headers_account: str | None = None) -> str:
    """The account a request acts in, decided exactly as moto decides it for its own services."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if headers_account:
        return headers_account
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


def account_and_region(environ: dict[str, Any]) -> tuple[str, str]:
    """(account id, region) of a signed request; unsigned requests fall in moto's default account."""
    scope = signing_scope(environ)
    access_key, region = (scope[0], scope[1]) if scope else ("", DEFAULT_REGION)
    return account_for_access_key(access_key, environ.get("HTTP_X_MOTO_ACCOUNT_ID")), region


def ec2_backend(account_id: str, region: str) -> Any:
    """moto's EC2 state for one account and region (subnets, VPCs, launch templates, instances)."""
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def availability_zones(account_id: str, region: str) -> list[str]:
    """The names of a region's zones, as moto's DescribeAvailabilityZones lists them."""
    return [zone.name for zone in ec2_backend(account_id, region).describe_availability_zones()]


#: The moto services a fleet is built from: imported before building, never under the sandbox lock.
FLEET_SERVICES = ("autoscaling", "ec2", "iam", "kms", "ssm", "sts")


def import_backends(services: tuple[str, ...] = FLEET_SERVICES) -> None:
    """Import moto's backends for ``services`` now (seconds, the first time in a process).

    moto imports a service on its first request, which the sandbox serves under its lock: a fleet load would
    hold every other client (even ``/_sandbox/health``) for as long as EC2's models take to import.
    """
    from moto.backends import get_backend

    for service in services:
        get_backend(service)


def create_ebs_volume(
    account_id: str, region: str, *, size_gib: int, zone: str, volume_type: str, tags: dict[str, str]
) -> str:
    """An EBS volume in moto (CreateVolume + CreateTags), as the EBS CSI controller makes for a claim; its id."""
    backend = ec2_backend(account_id, region)
    volume = backend.create_volume(size=size_gib, zone_name=zone, volume_type=volume_type)
    backend.create_tags([volume.id], tags)
    return volume.id


def delete_ebs_volume(account_id: str, region: str, volume_id: str) -> None:
    """DeleteVolume, ignoring a volume already gone (the CSI driver's DeleteVolume is idempotent)."""
    backend = ec2_backend(account_id, region)
    if volume_id in backend.volumes:
        backend.delete_volume(volume_id)


def serve_default_service_quotas(service_code: str, service_name: str, quotas: list[dict[str, Any]]) -> None:
    """Make moto's Service Quotas answer GetServiceQuota and ListAWSDefaultServiceQuotas for ``service_code``
    with ``quotas`` (code, name, value, adjustable): moto 5.2.5 knows only vpc's default quotas. Process-wide and
    idempotent; the quota ARNs carry the caller's account and region, as AWS's do."""
    from moto.servicequotas.models import ServiceQuotasBackend

    _EXTRA_DEFAULT_QUOTAS[service_code] = (service_name, list(quotas))
    if getattr(ServiceQuotasBackend, "_sandbox_quotas", False):
        return
    moto_get, moto_list = ServiceQuotasBackend.get_service_quota, ServiceQuotasBackend.list_aws_default_service_quotas

    def listed(backend: Any, service_code: str) -> list[dict[str, Any]]:
        if service_code not in _EXTRA_DEFAULT_QUOTAS:
            return moto_list(backend, service_code)
        name, entries = _EXTRA_DEFAULT_QUOTAS[service_code]
        return [_quota(backend.account_id, backend.region_name, service_code, name, entry) for entry in entries]

    def get(backend: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        if service_code not in _EXTRA_DEFAULT_QUOTAS:
            return moto_get(backend, service_code, quota_code)
        for quota in listed(backend, service_code):
            if quota["QuotaCode"] == quota_code:
                return quota
        return moto_get(backend, "", quota_code)  # moto's NoSuchResourceException

    ServiceQuotasBackend.list_aws_default_service_quotas = listed
    ServiceQuotasBackend.get_service_quota = get
    ServiceQuotasBackend._sandbox_quotas = True


#: service code → (service name, default quotas) served besides moto's own
_EXTRA_DEFAULT_QUOTAS: dict[str, tuple[str, list[dict[str, Any]]]] = {}


def _quota(account: str, region: str, service_code: str, service_name: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServiceCode": service_code,
        "ServiceName": service_name,
        "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:{service_code}/{entry['code']}",
        "QuotaCode": entry["code"],
        "QuotaName": entry["name"],
        "Value": float(entry["value"]),
        "Unit": "None",
        "Adjustable": bool(entry["adjustable"]),
        "GlobalQuota": False,
    }


def set_instance_generations(previous_generation_families: set[str]) -> None:
    """Make DescribeInstanceTypes' CurrentGeneration say what EC2 says: false for the given families only (moto's
    data marks m5, c5, r5 and m6i previous generation). Idempotent; moto's table is process-wide."""
    from moto.ec2.models.instance_types import INSTANCE_TYPES, InstanceTypeBackend

    # DescribeInstanceTypes answers from copies made at import (InstanceTypeBackend.instance_types)
    for info in [*INSTANCE_TYPES.values(), *InstanceTypeBackend.instance_types]:
        info["CurrentGeneration"] = info["InstanceType"].split(".", 1)[0] not in previous_generation_families


def instance_type_info(instance_type: str) -> dict[str, Any] | None:
    """moto's copy of DescribeInstanceTypes for one type (vCPUs, memory, ENI and IP limits), or None."""
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    return INSTANCE_TYPES.get(instance_type)


def reset_moto() -> None:
    """Forget every moto resource (all services, all accounts), as ``/moto-api/reset`` does."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


@dataclass(frozen=True)
class SubnetInfo:
    id: str
    vpc_id: str
    availability_zone: str
    cidr_block: str
    free_ips: int


@dataclass(frozen=True)
class LaunchTemplateInfo:
    id: str
    name: str
    version: str
    image_id: str | None
    instance_type: str | None


def subnet(account: str, region: str, subnet_id: str) -> SubnetInfo | None:
    backend = ec2_backend(account, region)
    try:
        found = backend.get_subnet(subnet_id)
    except Exception:  # moto raises its own InvalidSubnetIdError
        return None
    return SubnetInfo(
        id=found.id,
        vpc_id=found.vpc_id,
        availability_zone=found.availability_zone,
        cidr_block=found.cidr_block,
        free_ips=int(found.available_ip_address_count),
    )


def security_group_exists(account: str, region: str, group_id: str) -> bool:
    return ec2_backend(account, region).get_security_group_from_id(group_id) is not None


def launch_template(account: str, region: str, spec: dict[str, Any]) -> LaunchTemplateInfo | None:
    """The launch template version a node group spec names (``id`` or ``name``, ``version`` default $Default)."""
    backend = ec2_backend(account, region)
    try:
        template = (
            backend.get_launch_template(spec["id"])
            if spec.get("id")
            else backend.get_launch_template_by_name(spec["name"])
        )
        version = template.get_version(spec.get("version") or "$Default")
    except Exception:  # moto's InvalidLaunchTemplate*NotFound
        return None
    return LaunchTemplateInfo(
        id=template.id,
        name=template.name,
        version=str(version.number),
        image_id=version.data.get("ImageId") or None,
        instance_type=version.data.get("InstanceType") or None,
    )


def caller_principal_arn(account: str, region: str, access_key: str) -> str:
    """The IAM principal behind an access key, as an access entry names it (a role, not the STS session)."""
    from moto.sts.models import sts_backends

    return principal_arn(sts_backends[account]["global"].get_caller_identity(access_key, region)[1])


@dataclass(frozen=True)
class CallerIdentity:
    """What STS GetCallerIdentity answers for an access key: the caller's ARN, user id and account."""

    arn: str
    user_id: str
    account: str


def secret_access_key(access_key: str) -> str | None:
    """The secret moto holds for an access key (an IAM user's key or assumed-role credentials), or None when
    moto never issued it (plain credentials such as ``testing``: any secret is accepted for those)."""
    from moto.iam.models import iam_backends

    for account in list(iam_backends.values()):
        for partition in list(account.values()):
            key = partition.access_keys.get(access_key)
            if key is not None:
                return key.secret_access_key
    return None


def caller_identity(access_key: str, region: str = DEFAULT_REGION) -> CallerIdentity:
    """GetCallerIdentity for ``access_key``, as moto's STS answers it (a default user for keys it never issued)."""
    from moto.sts.models import sts_backends

    account = account_for_access_key(access_key)
    user_id, arn, owner = sts_backends[account]["global"].get_caller_identity(access_key, region)
    return CallerIdentity(arn=arn, user_id=user_id, account=owner)


def principal_arn(caller_arn: str) -> str:
    """The IAM principal an access entry names for a caller: an assumed-role session maps to its role."""
    assumed = re.match(r"arn:(aws[\w-]*):sts::(\d+):assumed-role/([^/]+)/", caller_arn)
    if assumed:
        return f"arn:{assumed.group(1)}:iam::{assumed.group(2)}:role/{assumed.group(3)}"
    return caller_arn.replace(":sts::", ":iam::")


# --- node infrastructure: the EC2 instances and Auto Scaling group behind a managed node group ----------------

#: The first four addresses and the last of every subnet are AWS-reserved [VPC UG subnet-sizing.html].
_RESERVED_LEADING_HOSTS = 3  # network address excluded by ``hosts()``; .1 router, .2 DNS, .3 future use


@dataclass(frozen=True)
class LaunchedInstance:
    id: str
    private_ip: str
    private_dns_name: str
    availability_zone: str


def free_private_ip(
    account: str, region: str, subnet_id: str, avoid: frozenset[str] | set[str] = frozenset()
) -> str | None:
    """The lowest address of the subnet no ENI holds, or None when DescribeSubnets' AvailableIpAddressCount is 0.

    moto counts a subnet's free addresses from its ENIs (each ENI's private IPs), so an address is taken exactly
    when an ENI (an instance's primary interface, or one created by hand) holds it. Addresses in ``avoid`` (pods'
    addresses, which no ENI holds here) are passed over while another free one is left.
    """
    backend = ec2_backend(account, region)
    found = backend.get_subnet(subnet_id)
    if found.available_ip_address_count < 1:
        return None
    taken = set(found._subnet_ips) | {
        address["PrivateIpAddress"]
        for eni in backend.get_all_network_interfaces()
        if eni.subnet.id == subnet_id
        for address in eni.private_ip_addresses
    }
    free = (
        str(host)
        for index, host in enumerate(found.cidr.hosts())
        if index >= _RESERVED_LEADING_HOSTS and str(host) not in taken and host != found.cidr.broadcast_address
    )
    first = next(free, None)
    if first is None or first not in avoid:
        return first
    return next((address for address in free if address not in avoid), first)


def run_instance(
    account: str,
    region: str,
    *,
    subnet_id: str,
    private_ip: str,
    image_id: str,
    instance_type: str,
    tags: dict[str, str],
) -> LaunchedInstance:
    """RunInstances for one instance with its primary ENI at ``private_ip`` (deleted with the instance, as the
    primary interface of an instance launched by Auto Scaling is)."""
    backend = ec2_backend(account, region)
    zone = backend.get_subnet(subnet_id).availability_zone
    reservation = backend.run_instances(
        image_id,
        1,
        None,
        [],
        subnet_id=subnet_id,
        private_ip=private_ip,
        instance_type=instance_type,
        is_instance_type_default=False,
        placement=zone,
        region_name=region,
        tags={"instance": tags},
        nics=[{"DeviceIndex": 0, "SubnetId": subnet_id, "PrivateIpAddress": private_ip, "DeleteOnTermination": True}],
    )
    instance = reservation.instances[0]
    return LaunchedInstance(instance.id, instance.private_ip, instance.private_dns_name, zone)


def create_network_interface(account: str, region: str, subnet_id: str, private_ip: str, description: str) -> str:
    """CreateNetworkInterface holding ``private_ip`` of the subnet (DescribeSubnets' count drops by one); its id."""
    backend = ec2_backend(account, region)
    return backend.create_network_interface(backend.get_subnet(subnet_id), private_ip, description=description).id


def delete_network_interface(account: str, region: str, eni_id: str) -> None:
    """DeleteNetworkInterface; the subnet gets the address back. An interface already gone is fine."""
    ec2_backend(account, region).enis.pop(eni_id, None)


def terminate_instance(account: str, region: str, instance_id: str) -> None:
    """TerminateInstances: the primary ENI goes with it, so its subnet gets the address back."""
    from moto.autoscaling.models import autoscaling_backends

    ec2_backend(account, region).terminate_instances([instance_id])
    for group in autoscaling_backends[account][region].autoscaling_groups.values():
        group.instance_states = [state for state in group.instance_states if state.instance.id != instance_id]


def create_auto_scaling_group(
    account: str, region: str, *, name: str, subnet_ids: list[str], launch_template_id: str, tags: dict[str, str]
) -> None:
    """An Auto Scaling group with no instances yet: the caller launches them (``attach_to_group``), so that it
    decides which addresses they take."""
    from moto.autoscaling.models import autoscaling_backends

    autoscaling_backends[account][region].create_auto_scaling_group(
        name=name,
        availability_zones=[],
        desired_capacity=0,
        max_size=0,
        min_size=0,
        launch_config_name=None,  # type: ignore[arg-type]
        launch_template={"LaunchTemplateId": launch_template_id, "Version": "$Latest"},
        vpc_zone_identifier=",".join(subnet_ids),
        default_cooldown=None,
        health_check_period=None,
        health_check_type=None,
        load_balancers=[],
        target_group_arns=[],
        placement_group=None,
        termination_policies=[],
        tags=[{"Key": key, "Value": value, "PropagateAtLaunch": True} for key, value in tags.items()],
    )


def set_group_size(account: str, region: str, name: str, minimum: int, maximum: int, desired: int) -> None:
    """The group's MinSize/MaxSize/DesiredCapacity, without moto launching or terminating anything itself."""
    from moto.autoscaling.models import autoscaling_backends

    group = autoscaling_backends[account][region].autoscaling_groups[name]
    group.min_size, group.max_size, group.desired_capacity = minimum, maximum, desired


def attach_to_group(account: str, region: str, name: str, instance_id: str) -> None:
    """List an instance as InService in the group (DescribeAutoScalingGroups' Instances)."""
    from moto.autoscaling.models import InstanceState, autoscaling_backends

    group = autoscaling_backends[account][region].autoscaling_groups[name]
    instance = ec2_backend(account, region).get_instance(instance_id)
    group.instance_states.append(InstanceState(instance, autoscaling_group=group))


def delete_auto_scaling_group(account: str, region: str, name: str) -> None:
    from moto.autoscaling.models import autoscaling_backends

    autoscaling_backends[account][region].autoscaling_groups.pop(name, None)


def create_launch_template(account: str, region: str, name: str, data: dict[str, Any], tags: dict[str, str]) -> str:
    """CreateLaunchTemplate; returns its id."""
    tag_spec = {"launch-template": tags}
    return ec2_backend(account, region).create_launch_template(name, "", data, tag_spec).id


def add_launch_template_version(account: str, region: str, template_id: str, data: dict[str, Any]) -> str:
    """CreateLaunchTemplateVersion (made the default, as EKS does for the templates it owns); returns its number."""
    template = ec2_backend(account, region).get_launch_template(template_id)
    version = template.create_version(data, "")
    template.default_version_number = version.number
    return str(version.number)


def delete_launch_template(account: str, region: str, template_id: str) -> None:
    backend = ec2_backend(account, region)
    try:
        backend.delete_launch_template(None, template_id)
    except Exception:  # moto's InvalidLaunchTemplateNameNotFound: already gone
        return


def put_public_parameter(account: str, region: str, name: str, value: str, modified: datetime) -> None:
    """Publish an AWS public parameter (``/aws/service/...``, which PutParameter refuses to callers) in moto's SSM;
    a changed value becomes a new version, as when AWS publishes a new AMI."""
    from moto.ssm.models import Parameter, ssm_backends

    versions = ssm_backends[account][region]._parameters[name]
    if versions and versions[-1].value == value:
        return
    versions.append(
        Parameter(
            account_id=account,
            name=name,
            value=value,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=modified.astimezone(UTC).replace(tzinfo=None),  # moto keeps naive UTC
            version=len(versions) + 1,
            data_type="text",
            tier="Standard",
        )
    )


@dataclass(frozen=True)
class RoleInfo:
    arn: str
    #: the role's trust policy (AssumeRolePolicyDocument), parsed
    trust_policy: dict[str, Any]
    attached_policy_arns: tuple[str, ...]


def iam_role(account: str, name: str) -> RoleInfo | None:
    """The IAM role ``name`` of an account, or None when it does not exist."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["global"]
    role = next((role for role in backend.roles.values() if role.name == name), None)
    if role is None:
        return None
    document = role.assume_role_policy_document or "{}"
    try:
        trust = json.loads(document)
    except ValueError:  # IAM accepts the URL-encoded form too
        trust = json.loads(unquote(document))
    return RoleInfo(arn=role.arn, trust_policy=trust, attached_policy_arns=tuple(role.managed_policies))


@dataclass(frozen=True)
class OidcProviderInfo:
    arn: str
    #: the audiences STS accepts in tokens of this provider (ClientIDList)
    client_ids: tuple[str, ...]


def oidc_provider(account: str, arn: str) -> OidcProviderInfo | None:
    """The IAM OIDC identity provider ``arn`` of an account, or None when it does not exist."""
    from moto.iam.models import iam_backends

    provider = iam_backends[account]["global"].open_id_providers.get(arn)
    if provider is None:
        return None
    return OidcProviderInfo(arn=arn, client_ids=tuple(provider.client_id_list))


def iam_user_exists(account: str, name: str) -> bool:
    from moto.iam.models import iam_backends

    return name in iam_backends[account]["global"].users


@dataclass(frozen=True)
class KmsKeyInfo:
    arn: str
    state: str
    spec: str


def kms_key(account: str, region: str, key_id: str) -> KmsKeyInfo | None:
    """A KMS key by id or ARN in one account and region, or None when it does not exist."""
    from moto.kms.models import kms_backends

    key = kms_backends[account][region].keys.get(key_id.rpartition("key/")[2] or key_id)
    if key is None:
        return None
    return KmsKeyInfo(arn=key.arn, state=key.key_state, spec=key.key_spec)


def moto_serves(dispatcher: Any, environ: dict[str, Any]) -> bool:
    """Whether moto's server has a backend for this request's service (else it answers an HTML 500).

    The same lookup as ``DomainDispatcherApplication.get_application``, without its print for unknown hosts.
    """
    path = environ.get("PATH_INFO", "")
    if path.startswith(("/moto-api", "/latest/meta-data/", "/latest/api/")) or path == "/favicon.ico":
        return True
    host = dispatcher.infer_service_region_host(environ, path)
    if host is None or host in _moto_modules():
        return True  # moto falls back to its default service
    return any(pattern.match(f"http://{host}") for _, pattern in dispatcher.backend_url_patterns)


@cache
def _moto_modules() -> frozenset[str]:
    """moto's service modules (``list_of_moto_modules`` scans the package on every call: ~1 ms)."""
    from moto.backends import list_of_moto_modules

    return frozenset(list_of_moto_modules())
