"""Authorization as kube-apiserver on EKS does it: RBAC, plus the EKS access policies of the caller's access entry.

A request is first described as kube-apiserver's ``RequestInfo`` does (verb, API group, resource, subresource,
namespace, name, or a non-resource path: k8s.io/apiserver ``pkg/endpoints/request/requestinfo.go``), then allowed
when any rule reachable from the user allows it: a ClusterRoleBinding's ClusterRole, a RoleBinding's Role or
ClusterRole in the request's namespace (``plugin/pkg/auth/authorizer/rbac/rbac.go``), or an EKS access policy
whose scope covers the namespace. Nothing denies: RBAC and access policies only add permissions.
The default ClusterRoles and bindings come from ``default-rbac.yaml`` (kube-apiserver's bootstrap policy).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from eks_sandbox.kube.auth import KubeUser
from eks_sandbox.kube.errors import KubeApiError

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

DEFAULT_RBAC_PATH = Path(__file__).with_name("default-rbac.yaml")
RBAC_GROUP = "rbac.authorization.k8s.io"
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class RequestAttributes:
    """What RBAC decides on: kube-apiserver's ``authorizer.Attributes`` of one request."""

    verb: str
    path: str = ""
    resource_request: bool = False
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def request_attributes(method: str, path: str, watch: bool = False) -> RequestAttributes:
    """Describe a request as kube-apiserver's RequestInfoFactory does."""
    parts = [part for part in path.split("/") if part]
    prefix_length = {"api": 2, "apis": 3}.get(parts[0] if parts else "", 0)
    if not prefix_length or len(parts) <= prefix_length:
        return RequestAttributes(verb=method.lower(), path="/" + "/".join(parts))
    group = parts[1] if parts[0] == "apis" else ""
    rest = parts[prefix_length:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    name = rest[1] if len(rest) > 1 else ""
    if method == "GET":
        verb = "watch" if watch else "get" if name else "list"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _METHOD_VERBS.get(method, method.lower())
    return RequestAttributes(
        verb=verb,
        path="/" + "/".join(parts),
        resource_request=True,
        api_group=group,
        resource=rest[0],
        subresource=rest[2] if len(rest) > 2 else "",
        namespace=namespace,
        name=name,
    )


def authorize(cluster: KubeCluster, user: KubeUser, attributes: RequestAttributes) -> None:
    """Raise kube-apiserver's 403 unless some rule reachable from ``user`` allows the request."""
    if not allows(cluster, user, attributes):
        raise forbidden(user, attributes)


def allows(cluster: KubeCluster, user: KubeUser, attributes: RequestAttributes) -> bool:
    """Whether RBAC or one of the user's EKS access policies allows the request."""
    return any(rule_allows(rule, attributes) for rule in rules_for(cluster, user, attributes.namespace))


def rules_for(cluster: KubeCluster, user: KubeUser, namespace: str) -> Iterator[dict[str, Any]]:
    """Every rule that applies to ``user`` in ``namespace`` ("" = cluster scope), access policies first."""
    for grant in user.policies:
        if grant.namespaces is None or namespace in grant.namespaces:
            yield from grant.rules
    for binding in cluster.store.all(RBAC_GROUP, "ClusterRoleBinding"):
        if _binds(binding, user):
            yield from _role_rules(cluster, binding.get("roleRef") or {}, None)
    if namespace:
        for binding in cluster.store.all(RBAC_GROUP, "RoleBinding", namespace):
            if _binds(binding, user):
                yield from _role_rules(cluster, binding.get("roleRef") or {}, namespace)


def rule_allows(rule: dict[str, Any], attributes: RequestAttributes) -> bool:
    """One PolicyRule against one request (rbac/v1 helpers: VerbMatches, APIGroupMatches, ResourceMatches...)."""
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attributes.verb not in verbs:
        return False
    if not attributes.resource_request:
        return any(
            url == "*" or url == attributes.path or (url.endswith("*") and attributes.path.startswith(url[:-1]))
            for url in rule.get("nonResourceURLs") or []
        )
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attributes.api_group not in groups:
        return False
    if not _resource_matches(rule.get("resources") or [], attributes):
        return False
    names = rule.get("resourceNames") or []
    return not names or attributes.name in names


def _resource_matches(resources: list[str], attributes: RequestAttributes) -> bool:
    combined = attributes.combined_resource
    return any(
        resource in ("*", combined) or (attributes.subresource and resource == f"*/{attributes.subresource}")
        for resource in resources
    )


def _binds(binding: dict[str, Any], user: KubeUser) -> bool:
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if (kind == "User" and name == user.username) or (kind == "Group" and name in user.groups):
            return True
        if kind == "ServiceAccount" and user.username == f"system:serviceaccount:{subject.get('namespace')}:{name}":
            return True
    return False


def _role_rules(cluster: KubeCluster, role_ref: dict[str, Any], namespace: str | None) -> list[dict[str, Any]]:
    if role_ref.get("kind") == "Role" and namespace:
        role = cluster.store.get(RBAC_GROUP, "Role", namespace, role_ref.get("name", ""))
    else:
        role = cluster.store.get(RBAC_GROUP, "ClusterRole", None, role_ref.get("name", ""))
    return (role or {}).get("rules") or []


def forbidden(user: KubeUser, attributes: RequestAttributes) -> KubeApiError:
    """The 403 kube-apiserver answers (apiserver ``responsewriters.forbiddenMessage`` + ``errors.NewForbidden``)."""
    if not attributes.resource_request:
        message = f'User "{user.username}" cannot {attributes.verb} path "{attributes.path}"'
        return KubeApiError(403, "Forbidden", f"forbidden: {message}", {})
    scope = f'in the namespace "{attributes.namespace}"' if attributes.namespace else "at the cluster scope"
    message = (
        f'User "{user.username}" cannot {attributes.verb} resource "{attributes.combined_resource}" '
        f'in API group "{attributes.api_group}" {scope}'
    )
    qualified = f"{attributes.resource}.{attributes.api_group}" if attributes.api_group else attributes.resource
    subject = f'{qualified} "{attributes.name}"' if attributes.name else qualified
    details = {"name": attributes.name, "group": attributes.api_group, "kind": attributes.resource}
    return KubeApiError(403, "Forbidden", f"{subject} is forbidden: {message}", {k: v for k, v in details.items() if v})


@cache
def default_cluster_roles() -> dict[str, list[dict[str, Any]]]:
    """The bootstrap ClusterRoles' rules by name, with the aggregated roles' rules folded in."""
    data = yaml.safe_load(DEFAULT_RBAC_PATH.read_text())
    roles: dict[str, list[dict[str, Any]]] = {}
    for entry in data["cluster_roles"]:
        included = [rule for name in entry.get("include", []) for rule in roles[name]]
        roles[entry["name"]] = list(entry["rules"]) + included
    return roles


def default_rbac_objects() -> list[dict[str, Any]]:
    """The ClusterRoles and ClusterRoleBindings kube-apiserver bootstraps, as API objects."""
    data = yaml.safe_load(DEFAULT_RBAC_PATH.read_text())
    metadata = {
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    }
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, **metadata},
            "rules": rules,
        }
        for name, rules in default_cluster_roles().items()
    ]
    for binding in data["cluster_role_bindings"]:
        objects.append(
            {
                "apiVersion": f"{RBAC_GROUP}/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": binding["name"], **metadata},
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": binding["role"]},
                "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": group} for group in binding["groups"]],
            }
        )
    return objects


def seed_default_rbac(cluster: KubeCluster) -> None:
    """Store the bootstrap ClusterRoles and bindings in a new cluster, as kube-apiserver does at start."""
    for obj in default_rbac_objects():
        cluster.apply(obj)
