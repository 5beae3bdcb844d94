"""The IAM policies' tests' tools: a small policy evaluator, and a recorder of the AWS calls made on the sandbox.

The evaluator decides an identity-based policy the way IAM does for what our policies use (IAM User Guide,
"Policy evaluation logic"; "IAM JSON policy elements: Condition operators"; "Variables and tags"): Allow and
Deny statements, ``Action`` and ``Resource`` with ``*``/``?`` wildcards (actions case-insensitively),
policy variables such as ``${aws:PrincipalAccount}`` in resources and condition values, and the condition
operators ``StringEquals``, ``StringLike`` and ``ForAllValues:StringEquals``. Anything else (``NotAction``,
``NotResource``, another operator) is refused: a policy never passes on something the evaluator ignores.

The recorder wraps the sandbox dispatcher's request naming (``SandboxDispatcher._operation``) in the test
process, so each AWS request is kept with who made it (an assumed role's ARN, else the plain credentials),
its account, region, action and the ARN of the resource it acts on (Service Authorization Reference, per
service: EKS clusters, node groups, add-ons, access entries and associations; S3 objects and buckets; SNS
topics; IAM roles with their path; KMS keys and aliases; EC2 launch templates; Service Quotas quotas), with
the tags a create asks for (``aws:RequestTag/<key>``, ``aws:TagKeys``) and the tags of the resource a call
changes (``aws:ResourceTag/<key>``). A request that IAM authorizes as more than one action is kept as each of
them (``implied_calls``): a create that tags needs the tagging action too, and handing a role or a key to
EKS is authorized as ``iam:PassRole`` and the KMS actions EKS then takes on the caller's behalf.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

#: The principal of requests signed with credentials no AssumeRole issued (the Airflow worker's own identity).
BASE_CREDENTIALS = "base credentials"
#: EKS node group and add-on ARNs end with an id EKS generates; policies match it with ``*``.
GENERATED_ID = "00000000-0000-0000-0000-000000000000"

_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_SUPPORTED_STATEMENT_KEYS = {"Sid", "Effect", "Action", "Resource", "Condition"}
_OPERATORS = {"StringEquals", "StringLike", "ForAllValues:StringEquals"}
#: Actions IAM never denies: "No permissions are required to perform this operation" (AWS STS API Reference,
#: GetCallerIdentity) — the pre-flight asks it which account it is in.
NEEDS_NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})
#: What a launch template, created and not yet named by EC2, is called in its ARN (a policy matches it with ``*``).
GENERATED_LAUNCH_TEMPLATE_ID = "lt-00000000000000000"


@dataclass(frozen=True)
class AwsCall:
    """One AWS request as IAM authorizes it: who, where, which action on which resource, with which context."""

    principal: str
    account: str
    region: str
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.action} on {self.resource} by {self.principal}"


def load_policy(path: Path) -> dict[str, Any]:
    """A policy document, refused when it uses an element the evaluator does not decide."""
    policy = json.loads(path.read_text())
    for statement in policy["Statement"]:
        unknown = set(statement) - _SUPPORTED_STATEMENT_KEYS
        if unknown:
            raise ValueError(f"{path.name} statement {statement.get('Sid')}: unsupported {sorted(unknown)}")
    return policy


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def is_allowed(policy: Mapping[str, Any], call: AwsCall) -> bool:
    """Whether ``policy`` lets ``call`` through: some Allow statement matches and no Deny statement does."""
    if call.action in NEEDS_NO_PERMISSION:
        return True
    matching = [statement for statement in policy["Statement"] if statement_matches(statement, call)]
    effects = {statement["Effect"] for statement in matching}
    return "Allow" in effects and "Deny" not in effects


def statement_matches(statement: Mapping[str, Any], call: AwsCall) -> bool:
    """Whether one statement applies to ``call``: its action, its resource and all its conditions match."""
    variables = {"aws:PrincipalAccount": call.account, **call.context}
    actions = as_list(statement["Action"])
    resources = [substitute(resource, variables) for resource in as_list(statement["Resource"])]
    return (
        any(wildcard_match(pattern, call.action, case_sensitive=False) for pattern in actions)
        and any(wildcard_match(pattern, call.resource) for pattern in resources)
        and conditions_hold(statement.get("Condition", {}), variables)
    )


def substitute(value: str, variables: Mapping[str, Any]) -> str:
    """``value`` with its policy variables replaced; an unknown variable makes the statement match nothing."""

    def replace(match: re.Match[str]) -> str:
        if match[1] not in variables:
            raise LookupError(match[1])
        return str(variables[match[1]])

    try:
        return _VARIABLE.sub(replace, value)
    except LookupError:
        return "\0"  # IAM: a variable with no value makes the comparison fail


def wildcard_match(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    """IAM's wildcards: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def conditions_hold(conditions: Mapping[str, Mapping[str, Any]], variables: Mapping[str, Any]) -> bool:
    return all(
        _condition_holds(operator, key, as_list(expected), variables)
        for operator, keys in conditions.items()
        for key, expected in keys.items()
    )


def _condition_holds(operator: str, key: str, expected: list[str], variables: Mapping[str, Any]) -> bool:
    if operator not in _OPERATORS:
        raise ValueError(f"condition operator {operator} is not decided by this evaluator")
    patterns = [substitute(value, variables) for value in expected]
    actual = variables.get(key)
    if operator == "ForAllValues:StringEquals":
        return all(value in patterns for value in as_list(actual or []))  # IAM: true when the key is absent
    if actual is None:
        return False
    if operator == "StringEquals":
        return str(actual) in patterns
    return any(wildcard_match(pattern, str(actual)) for pattern in patterns)  # StringLike


class AwsCallRecorder:
    """The AWS requests the sandbox received while installed, as :class:`AwsCall`s (thread-safe)."""

    def __init__(self) -> None:
        self.calls: list[AwsCall] = []
        self._lock = threading.Lock()

    def install(self, monkeypatch: Any) -> AwsCallRecorder:
        from eks_sandbox.server import SandboxDispatcher

        original = SandboxDispatcher._operation
        recorder = self

        def recording(dispatcher: Any, service: str, environ: dict[str, Any], body: bytes) -> tuple[str, dict]:
            named = original(dispatcher, service, environ, body)
            call = recorder.to_call(dispatcher, service, named[0], environ, body)
            with recorder._lock:
                recorder.calls += [call, *implied_calls(call)]
            return named

        monkeypatch.setattr(SandboxDispatcher, "_operation", recording)
        return self

    def clear(self) -> None:
        """Forget what was recorded so far (a test's own set-up calls)."""
        with self._lock:
            self.calls.clear()

    def by(self, principals: Iterable[str]) -> list[AwsCall]:
        """The calls made as any of ``principals`` (role ARNs, or :data:`BASE_CREDENTIALS`)."""
        wanted = set(principals)
        with self._lock:
            return [call for call in self.calls if call.principal in wanted]

    def to_call(self, dispatcher: Any, service: str, operation: str, environ: dict[str, Any], body: bytes) -> AwsCall:
        from eks_sandbox import moto_compat

        scope = moto_compat.signing_scope(environ)
        access_key = scope[0] if scope else ""
        account, region = moto_compat.account_and_region(environ)
        principal = _principal_of(access_key, account)
        if service == "eks":
            action, resource, context = _eks_call(dispatcher, environ, body, operation, account, region)
        elif service == "s3":
            action, resource, context = _s3_call(environ)
        elif environ.get("HTTP_X_AMZ_TARGET"):
            action, resource, context = _json_call(service, operation, body, account, region)
        else:
            action, resource, context = _query_call(service, operation, environ, body, account, region)
        context = {"aws:ResourceAccount": account, **context}
        return AwsCall(principal, account, region, action, resource, context)


def _principal_of(access_key: str, account: str) -> str:
    from moto.sts.models import sts_backends

    assumed = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key)
    return assumed.role_arn if assumed is not None else BASE_CREDENTIALS


def _eks_call(
    dispatcher: Any, environ: dict[str, Any], body: bytes, operation: str, account: str, region: str
) -> tuple[str, str, dict[str, Any]]:
    path = environ.get("RAW_URI", environ.get("PATH_INFO", "")).split("?", 1)[0]
    parsed = dispatcher.eks_app.router.parse(
        environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", ""), body
    ) or (operation, {})
    params = parsed[1]
    context: dict[str, Any] = {}
    if operation in ("TagResource", "UntagResource"):
        context["aws:TagKeys"] = sorted(params.get("tags") or params.get("tagKeys") or [])
        if ":cluster/" in params["resourceArn"]:  # a cluster's own tags decide aws:ResourceTag
            tagged = _eks_resource(dispatcher, account, region, params["resourceArn"].rpartition("/")[2], {})
            context |= resource_tags(getattr(tagged, "tags", None) or {})
        return f"eks:{operation}", params["resourceArn"], context
    cluster = params.get("clusterName") or params.get("name")
    found = _eks_resource(dispatcher, account, region, cluster, params) if cluster else None
    if operation.startswith("Create") and isinstance(params.get("tags"), dict):
        context |= request_tags(params["tags"])
    elif found is not None:
        context |= resource_tags(getattr(found, "tags", None) or {})
    context |= _eks_handed_over(params)
    if operation == "AssociateAccessPolicy":
        # Service Authorization Reference, EKS: AssociateAccessPolicy is decided on eks:policyArn.
        context["eks:policyArn"] = params.get("policyArn")
    return f"eks:{operation}", _eks_arn(operation, params, found, f"arn:aws:eks:{region}:{account}"), context


def _eks_resource(dispatcher: Any, account: str, region: str, cluster_name: str, params: dict[str, Any]) -> Any:
    """The sandbox's object a call names (cluster, node group, add-on or access entry), None when it is not there."""
    cluster = dispatcher.sandbox.eks.region(account, region).clusters.get(cluster_name)
    if cluster is None:
        return None
    for key, kind in (("nodegroupName", "nodegroups"), ("addonName", "addons"), ("principalArn", "access_entries")):
        if params.get(key):
            return getattr(cluster, kind).get(params[key])
    return cluster


def _eks_arn(operation: str, params: dict[str, Any], found: Any, prefix: str) -> str:
    """The ARN IAM decides an EKS call on (Service Authorization Reference, EKS: resource types per action)."""
    cluster = params.get("clusterName") or params.get("name")
    if cluster is None:
        return "*"
    if params.get("nodegroupName"):
        return getattr(found, "arn", None) or f"{prefix}:nodegroup/{cluster}/{params['nodegroupName']}/{GENERATED_ID}"
    if params.get("addonName"):
        return getattr(found, "arn", None) or f"{prefix}:addon/{cluster}/{params['addonName']}/{GENERATED_ID}"
    if params.get("associationId"):
        return f"{prefix}:podidentityassociation/{cluster}/{params['associationId']}"
    if params.get("principalArn") and operation != "CreateAccessEntry":  # CreateAccessEntry is decided on the cluster
        return getattr(found, "arn", None) or f"{prefix}:access-entry/{cluster}/*/{GENERATED_ID}"
    return f"{prefix}:cluster/{cluster}"


def _eks_handed_over(params: dict[str, Any]) -> dict[str, Any]:
    """The roles and the key a create hands EKS, for ``implied_calls`` (private keys: no IAM condition key)."""
    to_pods = [association.get("roleArn") for association in params.get("podIdentityAssociations") or []]
    to_eks = [params.get("nodeRole")]
    # A Pod Identity association's role (created for a service account, or updated by its id) goes to Pod
    # Identity; a cluster's to EKS.
    association = params.get("serviceAccount") or params.get("associationId")
    (to_pods if association else to_eks).append(params.get("roleArn"))
    keys = [entry.get("provider", {}).get("keyArn") for entry in params.get("encryptionConfig") or []]
    handed = {"_passed_to_eks": to_eks, "_passed_to_pods": to_pods, "_keys_for_eks": keys}
    return {key: [value for value in values if value] for key, values in handed.items() if any(values)}


def request_tags(tags: dict[str, str]) -> dict[str, Any]:
    """The condition keys of the tags a request sets (IAM User Guide, "Controlling access during AWS requests")."""
    return {"aws:TagKeys": sorted(tags), **{f"aws:RequestTag/{key}": value for key, value in tags.items()}}


def resource_tags(tags: dict[str, str]) -> dict[str, Any]:
    """The condition keys of the tags a resource carries ("Controlling access to AWS resources")."""
    return {f"aws:ResourceTag/{key}": value for key, value in tags.items()}


def _s3_call(environ: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """S3's REST operations as IAM names them (HeadObject is authorized as s3:GetObject, HeadBucket as ListBucket)."""
    from moto.s3.models import s3_backends

    bucket, _, key = unquote(environ.get("PATH_INFO", "")).lstrip("/").partition("/")
    method = environ["REQUEST_METHOD"]
    owner = s3_backends.bucket_accounts.get(bucket, (None, None))[1]
    context = {"aws:ResourceAccount": owner} if owner else {}
    if not key:
        action = {"GET": "ListBucket", "HEAD": "ListBucket", "PUT": "CreateBucket"}.get(method, f"{method}Bucket")
        return f"s3:{action}", f"arn:aws:s3:::{bucket}", context
    action = {"GET": "GetObject", "HEAD": "GetObject", "PUT": "PutObject", "DELETE": "DeleteObject"}[method]
    return f"s3:{action}", f"arn:aws:s3:::{bucket}/{key}", context


def _query_call(
    service: str, operation: str, environ: dict[str, Any], body: bytes, account: str, region: str
) -> tuple[str, str, dict[str, Any]]:
    form = parse_qs(environ.get("QUERY_STRING", "")) | parse_qs(body.decode("utf-8", "replace"))
    params = {key: values[0] for key, values in form.items()}
    if service == "iam" and params.get("RoleName"):
        return _iam_role_call(operation, params, account)
    if service == "ec2" and "LaunchTemplate" in operation:
        return _launch_template_call(operation, params, account, region)
    if service == "iam" and params.get("UserName"):
        return f"iam:{operation}", f"arn:aws:iam::{account}:user/{params['UserName']}", {}
    resource = {
        ("sns", "Publish"): params.get("TopicArn") or params.get("TargetArn"),
        ("sts", "AssumeRole"): params.get("RoleArn"),
    }.get((service, operation))
    return f"{service}:{operation}", resource or "*", {}


def _member_tags(params: dict[str, str], prefix: str, key: str = "Key", value: str = "Value") -> dict[str, str]:
    """Tags of a query-protocol list (``Tags.member.1.Key`` / ``TagSpecification.1.Tag.1.Key``)."""
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.{key}$")
    return {params[name]: params.get(f"{name[: -len(key)]}{value}", "") for name in params if pattern.match(name)}


def _iam_role_call(operation: str, params: dict[str, str], account: str) -> tuple[str, str, dict[str, Any]]:
    """IAM role actions on the role's ARN with its path (IAM User Guide, "IAM identifiers": a role's ARN holds
    its path); AttachRolePolicy and DetachRolePolicy are decided on ``iam:PolicyARN`` too."""
    from moto.iam.models import iam_backends

    name = params["RoleName"]
    context: dict[str, Any] = {}
    if operation == "CreateRole":
        context |= request_tags(_member_tags(params, "Tags.member"))
        return "iam:CreateRole", f"arn:aws:iam::{account}:role{params.get('Path', '/')}{name}", context
    if params.get("PolicyArn"):
        context["iam:PolicyARN"] = params["PolicyArn"]
    try:
        role = iam_backends[account]["global"].get_role(name)
    except Exception:  # moto's NotFound: the call names a role that is not there
        return f"iam:{operation}", f"arn:aws:iam::{account}:role/{name}", context
    context |= resource_tags({tag["Key"]: tag["Value"] for tag in role.tags or []})
    return f"iam:{operation}", role.arn, context


def _launch_template_call(
    operation: str, params: dict[str, str], account: str, region: str
) -> tuple[str, str, dict[str, Any]]:
    """Launch template actions on ``launch-template/<id>`` (Service Authorization Reference, EC2); a create with
    the tags it asks for (``TagSpecification.N`` of type launch-template, not the instances' in its data)."""
    from moto.ec2.models import ec2_backends

    prefix = f"arn:aws:ec2:{region}:{account}:launch-template/"
    if operation == "CreateLaunchTemplate":
        kinds = [
            key for key, value in params.items() if key.startswith("TagSpecification.") and value == "launch-template"
        ]
        spec = kinds[0].rsplit(".", 1)[0] if kinds else None
        tags = _member_tags(params, f"{spec}.Tag") if spec else {}
        return f"ec2:{operation}", prefix + GENERATED_LAUNCH_TEMPLATE_ID, request_tags(tags)
    name = params.get("LaunchTemplateName")
    if not name:
        return f"ec2:{operation}", "*", {}
    try:
        template = ec2_backends[account][region].get_launch_template_by_name(name)
    except Exception:  # moto's NotFound: the call names a template that is not there
        return f"ec2:{operation}", prefix + "*", {}
    return f"ec2:{operation}", prefix + template.id, resource_tags({t["key"]: t["value"] for t in template.get_tags()})


def _json_call(service: str, operation: str, body: bytes, account: str, region: str) -> tuple[str, str, dict[str, Any]]:
    """awsJson services the runbooks call: KMS keys and aliases, Service Quotas quotas."""
    try:
        params = json.loads(body or b"{}")
    except ValueError:
        params = {}
    if service == "kms":
        return _kms_call(operation, params, account, region)
    if service == "servicequotas" and params.get("QuotaCode"):
        # Service Quotas' quota resource: arn:aws:servicequotas:<region>:<account>:<service code>/<quota code>.
        quota = f"arn:aws:servicequotas:{region}:{account}:{params.get('ServiceCode')}/{params['QuotaCode']}"
        return f"{service}:{operation}", quota, {}
    return f"{service}:{operation}", "*", {}


def _kms_call(operation: str, params: dict[str, Any], account: str, region: str) -> tuple[str, str, dict[str, Any]]:
    """KMS actions as the KMS Developer Guide authorizes them: CreateKey on no resource, with the tags, key spec and
    usage it asks for; CreateAlias and DeleteAlias on the alias (the key's side is its key policy's); every other
    action on the key a key id, key ARN or alias names, with its tags and ``kms:RequestAlias``."""
    if operation == "CreateKey":
        tags = {tag["TagKey"]: tag["TagValue"] for tag in params.get("Tags") or []}
        context = request_tags(tags) | {
            "kms:KeySpec": params.get("KeySpec", "SYMMETRIC_DEFAULT"),
            "kms:KeyUsage": params.get("KeyUsage", "ENCRYPT_DECRYPT"),
        }
        return "kms:CreateKey", "*", context
    if operation in ("CreateAlias", "DeleteAlias"):
        return f"kms:{operation}", f"arn:aws:kms:{region}:{account}:{params['AliasName']}", {}
    key_id = str(params.get("KeyId") or "")
    context = {"kms:RequestAlias": key_id} if key_id.startswith("alias/") else {}
    arn, tags = _kms_key(key_id, account, region)
    return f"kms:{operation}", arn, context | resource_tags(tags)


def _kms_key(key_id: str, account: str, region: str) -> tuple[str, dict[str, str]]:
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    try:
        key = backend.describe_key(key_id)
    except Exception:  # moto's NotFound: an alias not made yet (the run looks before it creates)
        return f"arn:aws:kms:{region}:{account}:key/*", {}
    tags = {tag["TagKey"]: tag["TagValue"] for tag in backend.list_resource_tags(key.id)["Tags"]}
    return key.arn, tags


def implied_calls(call: AwsCall) -> list[AwsCall]:
    """The other actions IAM authorizes for one request, each on its own resource."""
    return [
        replace(call, action=action, resource=resource, context=context) for action, resource, context in _implied(call)
    ]


def _implied(call: AwsCall) -> list[tuple[str, str, dict[str, Any]]]:
    tagging = {key: value for key, value in call.context.items() if key.startswith(("aws:RequestTag/", "aws:TagKeys"))}
    found: list[tuple[str, str, dict[str, Any]]] = []
    if call.action == "iam:CreateRole" and tagging:
        # A role created with tags needs iam:TagRole too (IAM User Guide, "Tagging IAM roles"; iann0036/iamlive#97,
        # alexcasalboni/aws-lambda-power-tuning#154: CreateRole with tags refused without it).
        found.append(("iam:TagRole", call.resource, tagging))
    if call.action == "kms:CreateKey" and tagging:
        # KMS Developer Guide, "Managing key tags with API operations": CreateKey with Tags needs kms:TagResource
        # in an IAM policy, "at a minimum ... all KMS keys in the account and Region".
        found.append(("kms:TagResource", f"arn:aws:kms:{call.region}:{call.account}:key/*", tagging))
    if call.action == "ec2:CreateLaunchTemplate" and tagging:
        # EC2 User Guide, "IAM permissions required for Amazon EC2 launch templates": tags on create need
        # ec2:CreateTags, which ec2:CreateAction holds to CreateLaunchTemplate.
        found.append(("ec2:CreateTags", call.resource, tagging | {"ec2:CreateAction": "CreateLaunchTemplate"}))
    # IAM User Guide, "Granting a user permissions to pass a role to an AWS service": a role handed to EKS (the
    # cluster's, a node group's) goes to eks.amazonaws.com, one for Pod Identity to pods.eks.amazonaws.com.
    for service, key in (("eks.amazonaws.com", "_passed_to_eks"), ("pods.eks.amazonaws.com", "_passed_to_pods")):
        for role in call.context.get(key, []):
            found.append(("iam:PassRole", role, {"iam:PassedToService": service}))
    # EKS describes the secrets key and grants itself its use as the caller (forward access): the caller needs
    # kms:DescribeKey and kms:CreateGrant on the key (terraform-aws-eks#2678, kubernetes-sigs/cluster-api-provider-aws
    # #2432), through EKS (kms:ViaService, KMS Developer Guide "kms:ViaService").
    for key in call.context.get("_keys_for_eks", []):
        via = {"kms:ViaService": f"eks.{call.region}.amazonaws.com"}
        found += [("kms:DescribeKey", key, via), ("kms:CreateGrant", key, via)]
    return found
