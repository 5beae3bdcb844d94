"""What EKS checks about the AWS resources a request names, beyond botocore's model: ARNs are ARNs of the right
partition, service, account and resource type; the IAM roles EKS is handed exist and trust the service
principal that will assume them; KMS keys exist; access entries' Kubernetes names avoid reserved prefixes.

Run by the API before an operation (``check_references``), with the caller's account and region; IAM and KMS
are moto's, so a role created through the sandbox's IAM API is what these checks see.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eks_sandbox import moto_compat
from eks_sandbox.eks.errors import invalid_parameter

_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>\d{12}|aws)?:"
    r"(?P<resource>.+)$"
)
#: Prefixes EKS reserves: a custom username can't start with any [UG set-custom-username]; a Kubernetes group
#: can't start with ``system:`` (EKS answers "The kubernetes group name system:masters is invalid, it cannot
#: start with system:"; groups such as system:masters are granted only through access policies).
RESERVED_USERNAME_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")
RESERVED_GROUP_PREFIX = "system:"


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass(frozen=True)
class Caller:
    account: str
    region: str

    @property
    def partition(self) -> str:
        return partition_of(self.region)


@dataclass(frozen=True)
class RoleUse:
    """A role EKS hands to a service: the principal that must be trusted, and the actions it must be allowed."""

    principal: str
    actions: tuple[str, ...]
    #: the refusal when the role is missing or does not trust the principal: (member, arn) → message
    refusal: Callable[[str, str], str]


def _cannot_assume(member: str, arn: str) -> str:
    # EKS's wording for CreateCluster (terraform-aws-eks#2406, aws-samples/karpenter-blueprints#20).
    return f"Role with arn: {arn}, could not be assumed because it does not exist or the trusted entity is not correct"


def _principal_missing(principal: str) -> Callable[[str, str], str]:
    def message(member: str, arn: str) -> str:
        # EKS's wording for CreateNodegroup's nodeRole (eksctl-io/eksctl#3290); the same rule for other members.
        return (
            f"Following required service principals [{principal}] were not found in the trust relationships of "
            f"{member} {arn}"
        )

    return message


def _pod_identity_trust(member: str, arn: str) -> str:
    # EKS's wording for CreatePodIdentityAssociation (hashicorp/terraform-provider-aws#41483, aws/aws-cdk#31522).
    return "Trust policy of the role provided is invalid. Follow the official documentation to resolve the issue."


#: [UG cluster-iam-role]: the cluster role trusts eks.amazonaws.com (sts:AssumeRole, plus sts:TagSession for Auto Mode)
CLUSTER_ROLE = RoleUse("eks.amazonaws.com", ("sts:AssumeRole",), _cannot_assume)
#: [UG create-node-role]: the node role trusts ec2.amazonaws.com
NODE_ROLE = RoleUse("ec2.amazonaws.com", ("sts:AssumeRole",), _principal_missing("ec2.amazonaws.com"))
#: [UG pod-execution-role]: the Fargate pod execution role trusts eks-fargate-pods.amazonaws.com
FARGATE_ROLE = RoleUse(
    "eks-fargate-pods.amazonaws.com", ("sts:AssumeRole",), _principal_missing("eks-fargate-pods.amazonaws.com")
)
#: [UG pod-id-role]: pods.eks.amazonaws.com with sts:AssumeRole and sts:TagSession
POD_IDENTITY_ROLE = RoleUse("pods.eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession"), _pod_identity_trust)
POD_IDENTITY_UNTAGGED_ROLE = RoleUse("pods.eks.amazonaws.com", ("sts:AssumeRole",), _pod_identity_trust)


def check_references(operation: str, params: dict[str, Any], account: str, region: str) -> None:
    """Refuse (InvalidParameterException) a request naming a resource EKS could not use; None when all is well."""
    caller = Caller(account, region)
    for check in _CHECKS.get(operation, ()):
        check(caller, params)


# --- ARNs ----------------------------------------------------------------------------------------------------


def parse_arn(caller: Caller, member: str, value: str, service: str, resource_type: str) -> re.Match[str]:
    """The parts of ``value``, which must be an ARN of the caller's partition and of ``service``, naming a
    ``resource_type/...`` resource."""
    found = _ARN.match(value or "")
    if not found or found["service"] != service or not found["resource"].startswith(resource_type + "/"):
        raise invalid_parameter(
            f"{member} {value!r} is not a valid ARN of an {service.upper()} {resource_type} "
            f"(arn:{caller.partition}:{service}:...:<account id>:{resource_type}/<name>)"
        )
    if found["partition"] != caller.partition:
        raise invalid_parameter(f"{member} {value} is not in partition {caller.partition} of region {caller.region}")
    return found


def _role_arn(caller: Caller, member: str, arn: str) -> str:
    """The role name of a role ARN of the caller's partition and account (the only roles iam:PassRole passes)."""
    found = parse_arn(caller, member, arn, "iam", "role")
    if found["account"] != caller.account:
        raise invalid_parameter(
            f"{member} {arn} belongs to account {found['account']}; EKS can only use a role of account "
            f"{caller.account}, the caller's"
        )
    return found["resource"].rpartition("/")[2]


def _require_role(caller: Caller, member: str, arn: str, use: RoleUse) -> None:
    role = moto_compat.iam_role(caller.account, _role_arn(caller, member, arn))
    if role is None or role.arn != arn:
        if use is CLUSTER_ROLE:
            raise invalid_parameter(use.refusal(member, arn))
        raise invalid_parameter(f"Role {arn} given as {member} does not exist")
    if not trusts(role.trust_policy, use.principal, use.actions):
        raise invalid_parameter(use.refusal(member, arn))


def trusts(policy: dict[str, Any], principal: str, actions: tuple[str, ...]) -> bool:
    """Whether a trust policy allows the service ``principal`` every one of ``actions``."""
    allowed: set[str] = set()
    for statement in _as_list(policy.get("Statement")):
        granted = statement.get("Principal")
        services = _as_list(granted.get("Service")) if isinstance(granted, dict) else []
        if statement.get("Effect") == "Allow" and (principal in services or granted == "*"):
            allowed.update(_as_list(statement.get("Action")))
    return all(action in allowed or "sts:*" in allowed or "*" in allowed for action in actions)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _kms_key(caller: Caller, member: str, arn: str) -> None:
    found = parse_arn(caller, member, arn, "kms", "key")
    # The key must be symmetric and in the cluster's region; another account's key works if shared
    # [BC Provider.keyArn].
    if found["region"] != caller.region:
        raise invalid_parameter(f"{member} {arn} is not in region {caller.region}, the cluster's")
    key = moto_compat.kms_key(found["account"], found["region"], found["resource"])
    if key is None:
        raise invalid_parameter(f"{member} {arn} does not exist (Service: AWSKMS; Error Code: NotFoundException)")
    if key.state != "Enabled":
        raise invalid_parameter(f"{member} {arn} is {key.state}; EKS needs an enabled key")
    if key.spec != "SYMMETRIC_DEFAULT":
        raise invalid_parameter(f"{member} {arn} is a {key.spec} key; EKS needs a symmetric key")


def _principal(caller: Caller, member: str, arn: str) -> None:
    found = _ARN.match(arn or "")
    kind = found["resource"].partition("/")[0] if found else ""
    if not found or found["service"] != "iam" or kind not in ("role", "user") or found["account"] == "aws":
        raise invalid_parameter(f"The specified principalArn {arn} is not a valid IAM role or user ARN")
    name = found["resource"].rpartition("/")[2]
    exists = (
        moto_compat.iam_user_exists(found["account"], name)
        if kind == "user"
        else moto_compat.iam_role(found["account"], name) is not None
    )
    if not exists:
        raise invalid_parameter(f"The specified principalArn {arn} does not exist in IAM")


# --- per operation -------------------------------------------------------------------------------------------


def _cluster(caller: Caller, params: dict[str, Any]) -> None:
    _require_role(caller, "roleArn", params.get("roleArn", ""), CLUSTER_ROLE)
    _encryption(caller, params)
    _auto_mode_node_role(caller, params)


def _encryption(caller: Caller, params: dict[str, Any]) -> None:
    for config in params.get("encryptionConfig") or []:
        key_arn = (config.get("provider") or {}).get("keyArn")
        if key_arn:
            _kms_key(caller, "encryptionConfig.provider.keyArn", key_arn)


def _auto_mode_node_role(caller: Caller, params: dict[str, Any]) -> None:
    # [UG create-node-role#auto-mode]: the Auto Mode node role trusts ec2.amazonaws.com (AssumeRole, TagSession).
    node_role = (params.get("computeConfig") or {}).get("nodeRoleArn")
    if node_role:
        _require_role(caller, "computeConfig.nodeRoleArn", node_role, NODE_ROLE)


def _nodegroup(caller: Caller, params: dict[str, Any]) -> None:
    _require_role(caller, "nodeRole", params.get("nodeRole", ""), NODE_ROLE)


def _fargate_profile(caller: Caller, params: dict[str, Any]) -> None:
    _require_role(caller, "podExecutionRoleArn", params.get("podExecutionRoleArn", ""), FARGATE_ROLE)


def _pod_identity(caller: Caller, params: dict[str, Any]) -> None:
    if params.get("roleArn"):
        # Without session tags EKS never tags the session, so sts:TagSession is not needed [UG pod-id-abac].
        use = POD_IDENTITY_UNTAGGED_ROLE if params.get("disableSessionTags") else POD_IDENTITY_ROLE
        _require_role(caller, "roleArn", params["roleArn"], use)
    if params.get("targetRoleArn"):
        # The target role is assumed from the first one, usually in another account: an IAM role ARN [BC].
        parse_arn(caller, "targetRoleArn", params["targetRoleArn"], "iam", "role")


def _addon(caller: Caller, params: dict[str, Any]) -> None:
    if params.get("serviceAccountRoleArn"):
        # IRSA: assumed with the cluster's OIDC token, not by a service principal; an IAM role ARN [BC].
        parse_arn(caller, "serviceAccountRoleArn", params["serviceAccountRoleArn"], "iam", "role")
    for association in params.get("podIdentityAssociations") or []:
        _require_role(caller, "podIdentityAssociations.roleArn", association.get("roleArn", ""), POD_IDENTITY_ROLE)


def _access_entry_names(caller: Caller, params: dict[str, Any]) -> None:
    for group in params.get("kubernetesGroups") or []:
        if group.startswith(RESERVED_GROUP_PREFIX):
            raise invalid_parameter(f"The kubernetes group name {group} is invalid, it cannot start with system:")
    username = params.get("username") or ""
    if username.startswith(RESERVED_USERNAME_PREFIXES):
        raise invalid_parameter(
            f"The username {username} is invalid, it cannot start with {', '.join(RESERVED_USERNAME_PREFIXES)}"
        )


def _access_entry(caller: Caller, params: dict[str, Any]) -> None:
    _principal(caller, "principalArn", params.get("principalArn", ""))
    _access_entry_names(caller, params)


_CHECKS: dict[str, tuple[Callable[[Caller, dict[str, Any]], None], ...]] = {
    "CreateCluster": (_cluster,),
    "UpdateClusterConfig": (_auto_mode_node_role,),
    "AssociateEncryptionConfig": (_encryption,),
    "CreateNodegroup": (_nodegroup,),
    "CreateFargateProfile": (_fargate_profile,),
    "CreatePodIdentityAssociation": (_pod_identity,),
    "UpdatePodIdentityAssociation": (_pod_identity,),
    "CreateAddon": (_addon,),
    "UpdateAddon": (_addon,),
    "CreateAccessEntry": (_access_entry,),
    "UpdateAccessEntry": (_access_entry_names,),
}
