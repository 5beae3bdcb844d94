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
service: EKS clusters, node groups and add-ons; S3 objects and buckets; SNS topics; IAM roles for AssumeRole).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
                recorder.calls.append(call)
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
        else:
            action, resource, context = _query_call(service, operation, environ, body, account)
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
        return f"eks:{operation}", params["resourceArn"], context
    cluster = params.get("clusterName") or params.get("name")
    prefix = f"arn:aws:eks:{region}:{account}"
    if cluster is None:
        resource = "*"
    elif params.get("nodegroupName"):
        resource = f"{prefix}:nodegroup/{cluster}/{params['nodegroupName']}/{GENERATED_ID}"
    elif params.get("addonName"):
        resource = f"{prefix}:addon/{cluster}/{params['addonName']}/{GENERATED_ID}"
    elif params.get("associationId"):
        resource = f"{prefix}:podidentityassociation/{cluster}/{params['associationId']}"
    else:
        resource = f"{prefix}:cluster/{cluster}"
    return f"eks:{operation}", resource, context


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
    service: str, operation: str, environ: dict[str, Any], body: bytes, account: str
) -> tuple[str, str, dict[str, Any]]:
    form = parse_qs(environ.get("QUERY_STRING", "")) | parse_qs(body.decode("utf-8", "replace"))
    params = {key: values[0] for key, values in form.items()}
    role = f"arn:aws:iam::{account}:role/{params.get('RoleName')}"
    resource = {
        ("sns", "Publish"): params.get("TopicArn") or params.get("TargetArn"),
        ("sts", "AssumeRole"): params.get("RoleArn"),
        ("iam", "GetRole"): role,
        ("iam", "UpdateAssumeRolePolicy"): role,
    }.get((service, operation))
    return f"{service}:{operation}", resource or "*", {}
