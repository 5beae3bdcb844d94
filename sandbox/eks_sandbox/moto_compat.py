"""Everything the sandbox needs from moto's internals, in one place, checked against the pinned version.

moto is the sandbox's AWS for every service but EKS. The simulated EKS must agree with moto on which account
and region a request belongs to (so an assumed-role session in account B sees account B's clusters and
subnets), and it reads EC2 state (subnets, free IPs, instance types, launch templates) straight from moto's
backends. Those are internal APIs: pin moto exactly (pyproject) and keep every such access here.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
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

    arn = sts_backends[account]["global"].get_caller_identity(access_key, region)[1]
    assumed = re.match(r"arn:(aws[\w-]*):sts::(\d+):assumed-role/([^/]+)/", arn)
    if assumed:
        return f"arn:{assumed.group(1)}:iam::{assumed.group(2)}:role/{assumed.group(3)}"
    return arn.replace(":sts::", ":iam::")


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
