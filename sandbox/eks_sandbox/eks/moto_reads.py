"""What the simulated EKS reads from moto's AWS: subnets and their free IPs, launch templates, the caller.

Goes through ``eks_sandbox.moto_compat`` for the backends; the attribute reads on moto's objects below are
moto internals too (checked against the pinned moto 5.2.5) and are kept in this one module so that they can
move into ``moto_compat`` wholesale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from eks_sandbox import moto_compat


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
    backend = moto_compat.ec2_backend(account, region)
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
    return moto_compat.ec2_backend(account, region).get_security_group_from_id(group_id) is not None


def launch_template(account: str, region: str, spec: dict[str, Any]) -> LaunchTemplateInfo | None:
    """The launch template version a node group spec names (``id`` or ``name``, ``version`` default $Default)."""
    backend = moto_compat.ec2_backend(account, region)
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


def instance_type(name: str) -> dict[str, Any] | None:
    return moto_compat.instance_type_info(name)
