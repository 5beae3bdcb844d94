"""What a bootstrap run was asked to build, validated before anything touches AWS (``core.requests``).

A run names a cluster definition (a YAML file under include/clusters/ or an entry of the ``eks_cluster_definitions``
Variable) or fills the cluster fields in the form — not both: a field given twice would leave a person guessing which
one was built. The run fields (connection, plan mode, approval, ticket) always come from the run.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from eks_runbooks.core.bootstrap.facts import load_bootstrap_facts
from eks_runbooks.core.eks.names import (
    CLUSTER_NAME,
    CONNECTION_ID,
    DEFINITION_PATTERN,
    KUBERNETES_VERSION_PATTERN,
    REGION,
    TICKET_ID,
)
from eks_runbooks.core.requests import (
    InvalidRequest,
    boolean_field,
    enum_field,
    list_field,
    parse_request_fields,
    pattern_field,
    whole_number_field,
)

#: IAM roles and users, the principals an access entry or a node group takes [BC CreateAccessEntry.principalArn].
IAM_PRINCIPAL_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$"
IAM_ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$"
#: A KMS key or alias ARN, as CreateCluster's encryptionConfig.provider.keyArn takes it [BC Provider.keyArn].
KMS_KEY_ARN_PATTERN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[0-9a-f-]{36}|alias/[A-Za-z0-9/_-]{1,250})$"
SUBNET_ID_PATTERN = r"^subnet-[0-9a-f]{8,17}$"
#: Managed node group names: a letter or digit first, then letters, digits, '-' and '_', up to 63 [BC, UG].
NODEGROUP_NAME_PATTERN = r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,62}$"
INSTANCE_TYPE_PATTERN = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"
ADDON_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,99}$"
#: EKS tags: up to 50, keys to 128 and values to 256 characters, no ``aws:`` prefix [BC TagMap, UG eks-using-tags].
#: The runbook adds two of its own to every resource (core.bootstrap.calls.resource_tags), so a request has 48.
MAX_TAGS = 50 - 2
RESERVED_TAG_PREFIXES = ("aws:", "eks-runbooks/")

CLUSTER_FIELDS = (
    "cluster_name",
    "region",
    "kubernetes_version",
    "subnet_ids",
    "endpoint",
    "public_access_cidrs",
    "admin_principal_arns",
    "kms_key_arn",
    "cluster_role_arn",
    "node_role_arn",
    "compute",
    "addons",
    "tags",
)
RUN_FIELDS = ("definition", "aws_conn_id", "dry_run", "require_approval", "teardown_on_failure", "ticket_id")
REQUIRED = ("cluster_name", "subnet_ids", "admin_principal_arns", "compute")


class InvalidBootstrapRequest(InvalidRequest):
    what = "bootstrap request"


class Endpoint(StrEnum):
    """How the cluster's API server endpoint is reached."""

    PRIVATE = "private"  # from inside the VPC only
    PUBLIC_RESTRICTED = "public_restricted"  # private, and public from public_access_cidrs only


class CapacityType(StrEnum):
    ON_DEMAND = "ON_DEMAND"
    SPOT = "SPOT"


@dataclass(frozen=True)
class NodegroupSpec:
    """One managed node group to create."""

    name: str
    instance_types: tuple[str, ...]
    min: int
    max: int
    desired: int
    capacity_type: CapacityType = CapacityType.ON_DEMAND
    ami_type: str = "AL2023_x86_64_STANDARD"
    disk_gib: int = 20

    def as_dict(self) -> dict[str, Any]:
        return {
            **{key: getattr(self, key) for key in self.__dataclass_fields__},
            "instance_types": list(self.instance_types),
            "capacity_type": self.capacity_type.value,
        }


@dataclass(frozen=True)
class BootstrapRequest:
    cluster_name: str
    subnet_ids: tuple[str, ...]
    admin_principal_arns: tuple[str, ...]
    compute: tuple[NodegroupSpec, ...]
    region: str = "us-east-1"
    kubernetes_version: str | None = None
    endpoint: Endpoint = Endpoint.PRIVATE
    public_access_cidrs: tuple[str, ...] = ()
    kms_key_arn: str | None = None
    cluster_role_arn: str | None = None
    node_role_arn: str | None = None
    addons: tuple[str, ...] = field(default_factory=lambda: load_bootstrap_facts().default_addons)
    tags: dict[str, str] = field(default_factory=dict)
    definition: str | None = None
    aws_conn_id: str = "aws_default"
    dry_run: bool = True
    require_approval: bool = False
    teardown_on_failure: bool = False
    ticket_id: str | None = None

    @property
    def addons_before_compute(self) -> tuple[str, ...]:
        before = load_bootstrap_facts().addons_before_compute
        return tuple(name for name in self.addons if name in before)

    @property
    def addons_after_compute(self) -> tuple[str, ...]:
        before = load_bootstrap_facts().addons_before_compute
        return tuple(name for name in self.addons if name not in before)

    def as_dict(self) -> dict[str, Any]:
        return {
            **{key: getattr(self, key) for key in self.__dataclass_fields__},
            "subnet_ids": list(self.subnet_ids),
            "admin_principal_arns": list(self.admin_principal_arns),
            "compute": [nodegroup.as_dict() for nodegroup in self.compute],
            "endpoint": self.endpoint.value,
            "public_access_cidrs": list(self.public_access_cidrs),
            "addons": list(self.addons),
            "tags": dict(self.tags),
        }


def _public_cidr(value: Any) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True) if isinstance(value, str) else None
    except ValueError:
        network = None
    if network is None or network.version != 4:
        raise ValueError(f"{value!r} is not an IPv4 CIDR block such as 203.0.113.0/24")
    if network.prefixlen == 0:
        raise ValueError(f"{value} opens the API server to the whole internet; name the networks that need it")
    return str(network)


def _tags(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f'{value!r} is not a map of tag keys to text values such as {{"team": "payments"}}')
    if len(value) > MAX_TAGS:
        raise ValueError(
            f"{len(value)} tags; at most {MAX_TAGS}: EKS takes 50 and the runbook adds eks-runbooks/bootstrapped-by "
            "and eks-runbooks/cluster"
        )
    for key, text in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or key.startswith(RESERVED_TAG_PREFIXES):
            raise ValueError(f"tag key {key!r} must be 1-128 characters and not start with aws: or eks-runbooks/")
        if len(text) > 256:
            raise ValueError(f"the value of tag {key} is longer than 256 characters")
    return dict(value)


def _at_least(count: int, what: str, check: Any) -> Any:
    def checked(value: Any) -> tuple[Any, ...]:
        values = check(value)
        if len(values) < count:
            raise ValueError(f"needs at least {count} {what}")
        return values

    return checked


def _nodegroup_checks() -> dict[str, Any]:
    facts = load_bootstrap_facts()
    return {
        "name": pattern_field(re.compile(NODEGROUP_NAME_PATTERN), "a node group name (up to 63 characters)"),
        "instance_types": _at_least(
            1,
            "instance type",
            list_field(pattern_field(re.compile(INSTANCE_TYPE_PATTERN), "an instance type"), '["m7i.large"]'),
        ),
        "min": whole_number_field(0, facts.nodegroup_max_size),
        "max": whole_number_field(1, facts.nodegroup_max_size),
        "desired": whole_number_field(0, facts.nodegroup_max_size),
        "capacity_type": enum_field(CapacityType),
        "ami_type": _one_of(facts.ami_types),
        "disk_gib": whole_number_field(20, 16384),
    }


def _one_of(allowed: tuple[str, ...]) -> Any:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return check


def _nodegroup(value: Any) -> NodegroupSpec:
    if not isinstance(value, Mapping):
        raise ValueError(f'{value!r} is not a node group such as {{"name": "general", "instance_types": [...]}}')
    required = ("name", "instance_types", "min", "max", "desired")
    try:
        values = parse_request_fields(
            value, known=NodegroupSpec.__dataclass_fields__, required=required, checks=_nodegroup_checks()
        )
    except InvalidRequest as error:
        listed = "; ".join(f"{key}: {problem}" for key, problem in error.problems.items())
        raise ValueError(f"node group {value.get('name', '?')}: {listed}") from None
    spec = NodegroupSpec(**values)
    if not spec.min <= spec.desired <= spec.max:
        raise ValueError(
            f"node group {spec.name}: needs min ≤ desired ≤ max (got {spec.min}, {spec.desired}, {spec.max})"
        )
    if len(spec.instance_types) > load_bootstrap_facts().instance_types_max:
        raise ValueError(f"node group {spec.name}: at most {load_bootstrap_facts().instance_types_max} instance types")
    return spec


def _compute(value: Any) -> tuple[NodegroupSpec, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("needs at least one managed node group")
    nodegroups = tuple(_nodegroup(entry) for entry in value)
    names = [nodegroup.name for nodegroup in nodegroups]
    if len(set(names)) != len(names):
        raise ValueError(f"node group names repeat: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    return nodegroups


def _addons(value: Any) -> tuple[str, ...]:
    names = list_field(pattern_field(re.compile(ADDON_NAME_PATTERN), "an EKS add-on name"), '["vpc-cni"]')(value)
    missing = [name for name in load_bootstrap_facts().addons_required if name not in names]
    if missing:
        raise ValueError(
            f"leaves out {', '.join(missing)}: the cluster is created without self-managed add-ons, so without "
            "them nodes never become Ready, DNS does not resolve or Pod Identity does not work"
        )
    return names


_CHECKS = {
    "cluster_name": pattern_field(CLUSTER_NAME, "an EKS cluster name (letters, digits, '-', '_'; 1-100 characters)"),
    "region": pattern_field(REGION, "an AWS region such as us-east-1"),
    "kubernetes_version": pattern_field(re.compile(KUBERNETES_VERSION_PATTERN), "a Kubernetes minor such as 1.34"),
    "subnet_ids": _at_least(
        2,
        "subnets, in two Availability Zones",
        list_field(pattern_field(re.compile(SUBNET_ID_PATTERN), "a subnet id"), '["subnet-0abc…"]'),
    ),
    "endpoint": enum_field(Endpoint),
    "public_access_cidrs": list_field(_public_cidr, '["203.0.113.0/24"]'),
    "admin_principal_arns": _at_least(
        1,
        "admin principal, or nobody could administer the cluster",
        list_field(
            pattern_field(re.compile(IAM_PRINCIPAL_ARN_PATTERN), "an IAM role or user ARN"),
            '["arn:aws:iam::123456789012:role/platform-admin"]',
        ),
    ),
    "kms_key_arn": pattern_field(re.compile(KMS_KEY_ARN_PATTERN), "a KMS key or alias ARN"),
    "cluster_role_arn": pattern_field(re.compile(IAM_ROLE_ARN_PATTERN), "an IAM role ARN"),
    "node_role_arn": pattern_field(re.compile(IAM_ROLE_ARN_PATTERN), "an IAM role ARN"),
    "compute": _compute,
    "addons": _addons,
    "tags": _tags,
    "definition": pattern_field(re.compile(DEFINITION_PATTERN), "a cluster definition name such as payments-prod"),
    "aws_conn_id": pattern_field(CONNECTION_ID, "an Airflow connection id"),
    "dry_run": boolean_field,
    "require_approval": boolean_field,
    "teardown_on_failure": boolean_field,
    "ticket_id": pattern_field(TICKET_ID, "a ticket id (letters, digits, '-', '_', '.'; up to 64 characters)"),
}


def _given(value: Any) -> bool:
    return value not in (None, "", [], {}, ())


def with_definition(conf: Mapping[str, Any], definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The run's conf with its named definition's cluster fields filled in, or InvalidBootstrapRequest when the
    definition is unknown, carries run fields, or the form gives a cluster field as well."""
    name = conf.get("definition")
    if not _given(name):
        return dict(conf)
    if name not in definitions:
        known = ", ".join(sorted(definitions)) or "none"
        raise InvalidBootstrapRequest({"definition": f"no cluster definition {name!r} (known: {known})"})
    definition = definitions[name]
    problems = {
        key: f"given by definition {name}; leave it empty in the run (or drop it from the definition)"
        for key in CLUSTER_FIELDS
        if _given(conf.get(key)) and key in definition
    }
    problems |= {
        key: f"a run field, not a cluster field: remove it from definition {name}"
        for key in definition
        if key in RUN_FIELDS
    }
    if problems:
        raise InvalidBootstrapRequest(problems)
    return {**{key: value for key, value in conf.items() if _given(value)}, **definition}


def parse_bootstrap_request(
    conf: Mapping[str, Any], definitions: Mapping[str, Mapping[str, Any]] | None = None
) -> BootstrapRequest:
    """A BootstrapRequest from run conf/params (and the named definition), or InvalidBootstrapRequest listing every
    problem by key."""
    merged = with_definition(conf, definitions or {})
    values = parse_request_fields(
        merged,
        known=CLUSTER_FIELDS + RUN_FIELDS,
        required=REQUIRED,
        checks=_CHECKS,
        error=InvalidBootstrapRequest,
    )
    problems = _endpoint_problems(values)
    if problems:
        raise InvalidBootstrapRequest(problems)
    return BootstrapRequest(**values)


def _endpoint_problems(values: Mapping[str, Any]) -> dict[str, str]:
    endpoint = values.get("endpoint", Endpoint.PRIVATE)
    cidrs = values.get("public_access_cidrs", ())
    if endpoint is Endpoint.PUBLIC_RESTRICTED and not cidrs:
        return {"public_access_cidrs": "required with endpoint public_restricted: the networks allowed to reach it"}
    if endpoint is Endpoint.PRIVATE and cidrs:
        return {"public_access_cidrs": "only with endpoint public_restricted (a private endpoint has no public CIDRs)"}
    most = load_bootstrap_facts().public_access_cidrs_max
    if len(cidrs) > most:
        return {"public_access_cidrs": f"{len(cidrs)} CIDR blocks; EKS takes at most {most}"}
    return {}
