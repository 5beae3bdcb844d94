"""The self-reviews kube-apiserver answers without storing anything: what ``kubectl auth`` asks.

- SelfSubjectAccessReview (``kubectl auth can-i VERB RESOURCE``): may I do this?
- SelfSubjectRulesReview (``kubectl auth can-i --list``): every rule that applies to me in a namespace;
- SelfSubjectReview (``kubectl auth whoami``): who the API server thinks I am.

Shapes: k8s.io/api ``authorization/v1`` and ``authentication/v1`` types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eks_sandbox.kube.auth import KubeUser
from eks_sandbox.kube.errors import KubeApiError
from eks_sandbox.kube.rbac import RequestAttributes, allows, rules_for

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

REVIEW_GROUPS = ("authorization.k8s.io", "authentication.k8s.io")


def review(cluster: KubeCluster, user: KubeUser, kind: str, api_version: str, body: dict[str, Any]) -> dict[str, Any]:
    """The answered review: the request's spec with its status filled in."""
    spec = body.get("spec") or {}
    if kind == "SelfSubjectAccessReview":
        status: dict[str, Any] = {"allowed": allows(cluster, user, _attributes(spec))}
    elif kind == "SelfSubjectRulesReview":
        status = _rules_status(cluster, user, spec.get("namespace") or "")
    else:
        status = {"userInfo": _user_info(user)}
    answered = {"kind": kind, "apiVersion": api_version, "metadata": {"creationTimestamp": None}, "status": status}
    if kind != "SelfSubjectReview":
        answered["spec"] = spec
    return answered


def _attributes(spec: dict[str, Any]) -> RequestAttributes:
    resource = spec.get("resourceAttributes")
    if resource is not None:
        return RequestAttributes(
            verb=resource.get("verb", ""),
            resource_request=True,
            api_group=resource.get("group", ""),
            resource=resource.get("resource", ""),
            subresource=resource.get("subresource", ""),
            namespace=resource.get("namespace", ""),
            name=resource.get("name", ""),
        )
    non_resource = spec.get("nonResourceAttributes")
    if non_resource is None:
        raise KubeApiError.invalid(
            "SelfSubjectAccessReview",
            "",
            "spec.resourceAttributes",
            "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
            "authorization.k8s.io",
        )
    return RequestAttributes(verb=non_resource.get("verb", ""), path=non_resource.get("path", ""))


def _rules_status(cluster: KubeCluster, user: KubeUser, namespace: str) -> dict[str, Any]:
    resource_rules: list[dict[str, Any]] = []
    non_resource_rules: list[dict[str, Any]] = []
    for rule in rules_for(cluster, user, namespace):
        if rule.get("nonResourceURLs"):
            non_resource_rules.append({"verbs": rule["verbs"], "nonResourceURLs": rule["nonResourceURLs"]})
        else:
            shaped = {key: rule[key] for key in ("verbs", "apiGroups", "resources", "resourceNames") if rule.get(key)}
            resource_rules.append(shaped)
    return {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": False}


def _user_info(user: KubeUser) -> dict[str, Any]:
    info: dict[str, Any] = {"username": user.username, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {key: list(values) for key, values in user.extra.items()}
    return info
