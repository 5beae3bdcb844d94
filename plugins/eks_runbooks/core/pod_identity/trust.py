"""Role trust policies: the Pod Identity statement and this cluster's IRSA (OIDC) statements.

Edits are pure and idempotent: adding the Pod Identity statement to a role that already trusts
``pods.eks.amazonaws.com`` changes nothing (``eksctl utils migrate-to-pod-identity`` appends a duplicate on every
run, eksctl#7753), and removing IRSA trust removes only the statements of *this* cluster's OIDC provider — a role
shared with other clusters keeps theirs.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Iterable, Mapping
from typing import Any

from eks_runbooks.core.pod_identity.facts import load_pod_identity_facts

WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
#: The audience IRSA tokens carry [UG associate-service-account-role].
IRSA_AUDIENCE = "sts.amazonaws.com"


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(statement) for statement in _listed(document.get("Statement"))]


def _allows(statement: Mapping[str, Any], action: str) -> bool:
    actions = _listed(statement.get("Action"))
    return statement.get("Effect") == "Allow" and any(fnmatch.fnmatchcase(action, pattern) for pattern in actions)


def oidc_provider_arn(partition: str, account_id: str, issuer_url: str) -> str:
    """The IAM OIDC provider ARN of a cluster's issuer (``https://oidc.eks.<region>.amazonaws.com/id/<id>``)."""
    return f"arn:{partition}:iam::{account_id}:oidc-provider/{issuer_host(issuer_url)}"


def issuer_host(issuer_url: str) -> str:
    """The issuer without its scheme: the prefix of the ``:sub`` and ``:aud`` condition keys."""
    return issuer_url.removeprefix("https://")


def service_account_subject(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def trusts_pod_identity(document: Mapping[str, Any]) -> bool:
    """Whether the trust policy lets EKS Pod Identity assume the role (both actions it needs)."""
    facts = load_pod_identity_facts()
    for statement in _statements(document):
        services = _listed((statement.get("Principal") or {}).get("Service"))
        if facts.trust_principal in services and all(_allows(statement, action) for action in facts.trust_actions):
            return True
    return False


def pod_identity_statement() -> dict[str, Any]:
    facts = load_pod_identity_facts()
    return {
        "Sid": "EksPodIdentity",
        "Effect": "Allow",
        "Principal": {"Service": facts.trust_principal},
        "Action": list(facts.trust_actions),
    }


def with_pod_identity_trust(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The trust policy plus the Pod Identity statement; None when it already trusts Pod Identity."""
    if trusts_pod_identity(document):
        return None
    updated = copy.deepcopy(dict(document))
    updated.setdefault("Version", "2012-10-17")
    updated["Statement"] = [*_statements(document), pod_identity_statement()]
    return updated


def irsa_subjects(document: Mapping[str, Any], provider_arn: str) -> list[str]:
    """The service-account subjects (patterns for StringLike) the policy trusts through ``provider_arn``."""
    host = provider_arn.partition(":oidc-provider/")[2]
    subjects: list[str] = []
    for statement in _statements(document):
        federated = _listed((statement.get("Principal") or {}).get("Federated"))
        if provider_arn not in federated or not _allows(statement, WEB_IDENTITY_ACTION):
            continue
        conditions = statement.get("Condition") or {}
        for operator in ("StringEquals", "StringLike"):
            subjects += [str(value) for value in _listed((conditions.get(operator) or {}).get(f"{host}:sub"))]
        if not any(f"{host}:sub" in (conditions.get(op) or {}) for op in ("StringEquals", "StringLike")):
            subjects.append("*")  # no subject condition: any service account of the cluster
    return subjects


def trusts_service_account_via_irsa(document: Mapping[str, Any], provider_arn: str, namespace: str, name: str) -> bool:
    subject = service_account_subject(namespace, name)
    return any(fnmatch.fnmatchcase(subject, pattern) for pattern in irsa_subjects(document, provider_arn))


def irsa_statement(provider_arn: str, subjects: Iterable[str]) -> dict[str, Any]:
    """The IRSA statement a team writes for service accounts of one cluster [UG associate-service-account-role]."""
    host = provider_arn.partition(":oidc-provider/")[2]
    listed = sorted(set(subjects))
    return {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": WEB_IDENTITY_ACTION,
        "Condition": {
            "StringEquals": {
                f"{host}:sub": listed[0] if len(listed) == 1 else listed,
                f"{host}:aud": IRSA_AUDIENCE,
            }
        },
    }


def with_irsa_trust(document: Mapping[str, Any], provider_arn: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The trust policy letting the service account in through the cluster's OIDC provider; None when it does."""
    if trusts_service_account_via_irsa(document, provider_arn, namespace, name):
        return None
    updated = copy.deepcopy(dict(document))
    updated.setdefault("Version", "2012-10-17")
    updated["Statement"] = [
        *_statements(document),
        irsa_statement(provider_arn, [service_account_subject(namespace, name)]),
    ]
    return updated


def without_irsa_trust(document: Mapping[str, Any], provider_arn: str) -> dict[str, Any] | None:
    """The trust policy without the statements of ``provider_arn`` (this cluster's OIDC provider only);
    None when it has none."""
    kept = [
        statement
        for statement in _statements(document)
        if provider_arn not in _listed((statement.get("Principal") or {}).get("Federated"))
    ]
    if len(kept) == len(_statements(document)):
        return None
    return {**copy.deepcopy(dict(document)), "Statement": kept}


def policy_length(document: Mapping[str, Any]) -> int:
    """The length IAM counts against the trust-policy quota: the JSON without white space."""
    return len(json.dumps(document, separators=(",", ":")))
