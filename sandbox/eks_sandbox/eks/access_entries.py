"""Access entries and access policies (cluster authentication through the EKS API instead of aws-auth), and who
an authenticated IAM caller is inside a cluster (``ClusterAccess``), per the cluster's authentication mode."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from eks_sandbox import moto_compat
from eks_sandbox.eks.clusters import Cluster
from eks_sandbox.eks.errors import invalid_parameter, invalid_request, not_found, resource_in_use
from eks_sandbox.eks.operations import Request, operation, paginate
from eks_sandbox.kube.auth import AwsIdentity, KubeUser, PolicyGrant, authenticated_user, resolve_username
from eks_sandbox.kube.rbac import default_cluster_roles

POLICY_ARN_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"
#: [UG access-policy-reference.adoc]; AmazonEKSClusterInsightsPolicy [UG cluster-insights.adoc]
ACCESS_POLICIES = [
    "AmazonEKSAdminPolicy",
    "AmazonEKSAdminViewPolicy",
    "AmazonEKSAutoNodePolicy",
    "AmazonEKSBlockStorageClusterPolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSClusterAdminPolicy",
    "AmazonEKSClusterInsightsPolicy",
    "AmazonEKSComputeClusterPolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSEditPolicy",
    "AmazonEKSHybridPolicy",
    "AmazonEKSLoadBalancingClusterPolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingClusterPolicy",
    "AmazonEKSNetworkingPolicy",
    "AmazonEKSViewPolicy",
]
ENTRY_TYPES = {"STANDARD", "FARGATE_LINUX", "EC2_LINUX", "EC2_WINDOWS", "EC2", "HYBRID_LINUX", "HYPERPOD_LINUX"}
_IAM_PRINCIPAL = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):(role|user)/(?:.*/)?([^/]+)$")


@dataclass
class AccessEntry:
    principal_arn: str
    arn: str
    cluster_name: str
    type: str
    username: str
    kubernetes_groups: list[str]
    created_at: datetime
    modified_at: datetime
    tags: dict[str, str]
    #: policy ARN → {"accessScope": ..., "associatedAt": ..., "modifiedAt": ...}
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "clusterName": self.cluster_name,
            "principalArn": self.principal_arn,
            "kubernetesGroups": self.kubernetes_groups,
            "accessEntryArn": self.arn,
            "createdAt": self.created_at,
            "modifiedAt": self.modified_at,
            "tags": self.tags,
            "username": self.username,
            "type": self.type,
        }


def _require_api_mode(cluster: Cluster) -> None:
    if cluster.authentication_mode == "CONFIG_MAP":
        raise invalid_request(
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this "
            f"operation (cluster {cluster.name} uses CONFIG_MAP; change it with UpdateClusterConfig accessConfig)."
        )


def _get(cluster: Cluster, principal_arn: str) -> AccessEntry:
    entry = cluster.access_entries.get(principal_arn)
    if entry is None:
        raise not_found(f"The specified principalArn {principal_arn} could not be found in cluster {cluster.name}.")
    return entry


def _default_username(entry_type: str, principal_arn: str) -> str:
    if entry_type in ("EC2_LINUX", "EC2_WINDOWS", "EC2", "HYBRID_LINUX", "HYPERPOD_LINUX"):
        return "system:node:{{EC2PrivateDNSName}}"
    if entry_type == "FARGATE_LINUX":
        return "system:node:{{SessionName}}"
    match = _IAM_PRINCIPAL.match(principal_arn)
    if match and match.group(2) == "role":
        return f"arn:aws:sts::{match.group(1)}:assumed-role/{match.group(3)}/{{{{SessionName}}}}"
    return principal_arn


def add_entry(
    request: Request,
    cluster: Cluster,
    principal_arn: str,
    entry_type: str = "STANDARD",
    kubernetes_groups: list[str] | None = None,
    username: str | None = None,
    tags: dict[str, str] | None = None,
) -> AccessEntry:
    match = _IAM_PRINCIPAL.match(principal_arn)
    if not match:
        raise invalid_parameter(f"The principalArn {principal_arn} is not a valid IAM role or user ARN")
    if entry_type not in ENTRY_TYPES:
        raise invalid_parameter(f"Access entry type {entry_type} is not one of {sorted(ENTRY_TYPES)}")
    if entry_type != "STANDARD" and (kubernetes_groups or username):
        raise invalid_parameter(f"kubernetesGroups and username cannot be set on access entries of type {entry_type}")
    if principal_arn in cluster.access_entries:
        raise resource_in_use("The specified access entry resource is already in use on this cluster.")
    entry = AccessEntry(
        principal_arn=principal_arn,
        arn=request.arn(
            f"access-entry/{cluster.name}/{match.group(2)}/{match.group(1)}/{match.group(3)}/{uuid.uuid4()}"
        ),
        cluster_name=cluster.name,
        type=entry_type,
        username=username or _default_username(entry_type, principal_arn),
        kubernetes_groups=list(kubernetes_groups or (["system:nodes"] if entry_type.startswith("EC2") else [])),
        created_at=request.now,
        modified_at=request.now,
        tags=dict(tags or {}),
    )
    cluster.access_entries[principal_arn] = entry
    return entry


def bootstrap_creator_admin(request: Request, cluster: Cluster) -> None:
    """bootstrapClusterCreatorAdminPermissions: the principal that signed CreateCluster gets cluster-admin [BC] —
    an access entry with AmazonEKSClusterAdminPolicy under API modes (ListAccessEntries shows it), an implicit
    ``system:masters`` mapping, visible nowhere, under CONFIG_MAP (the classic "cluster creator" admin)."""
    principal = moto_compat.caller_principal_arn(request.account, request.region, request.access_key)
    if not _IAM_PRINCIPAL.match(principal):
        return
    if cluster.authentication_mode == "CONFIG_MAP":
        cluster.implicit_admin_arn = principal
        return
    entry = add_entry(request, cluster, principal)
    entry.policies[POLICY_ARN_PREFIX + "AmazonEKSClusterAdminPolicy"] = {
        "accessScope": {"type": "cluster", "namespaces": []},
        "associatedAt": request.now,
        "modifiedAt": request.now,
    }


def register_node_role(request: Request, cluster: Cluster, role_arn: str) -> None:
    """Let a managed node group's nodes join: an EC2_LINUX access entry when the cluster uses the EKS API,
    else a ``mapRoles`` entry in kube-system/aws-auth (what EKS does for managed node groups)."""
    if cluster.authentication_mode != "CONFIG_MAP":
        if role_arn not in cluster.access_entries and _IAM_PRINCIPAL.match(role_arn):
            add_entry(request, cluster, role_arn, "EC2_LINUX")
        return
    config_map = cluster.kube.get("v1", "ConfigMap", "aws-auth", "kube-system") or {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "aws-auth", "namespace": "kube-system"},
        "data": {},
    }
    data = config_map.setdefault("data", {})
    roles = yaml.safe_load(data.get("mapRoles") or "[]") or []
    if any(r.get("rolearn") == role_arn for r in roles):
        return
    roles.append(
        {
            "rolearn": role_arn,
            "username": "system:node:{{EC2PrivateDNSName}}",
            "groups": ["system:bootstrappers", "system:nodes"],
        }
    )
    data["mapRoles"] = yaml.safe_dump(roles, sort_keys=False)
    cluster.kube.apply(config_map)


@operation("CreateAccessEntry")
def create_access_entry(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    _require_api_mode(cluster)

    def run():
        entry = add_entry(
            request,
            cluster,
            params["principalArn"],
            params.get("type") or "STANDARD",
            params.get("kubernetesGroups"),
            params.get("username"),
            params.get("tags"),
        )
        return lambda: {"accessEntry": entry.describe()}

    return request.idempotent("CreateAccessEntry", params, run)


@operation("DescribeAccessEntry")
def describe_access_entry(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    _require_api_mode(cluster)
    return {"accessEntry": _get(cluster, params["principalArn"]).describe()}


@operation("ListAccessEntries")
def list_access_entries(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    _require_api_mode(cluster)
    policy = params.get("associatedPolicyArn")
    arns = sorted(arn for arn, entry in cluster.access_entries.items() if policy is None or policy in entry.policies)
    page, token = paginate(arns, params)
    return {"accessEntries": page, "nextToken": token}


@operation("UpdateAccessEntry")
def update_access_entry(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    _require_api_mode(cluster)
    entry = _get(cluster, params["principalArn"])

    def run():
        if entry.type != "STANDARD" and (params.get("kubernetesGroups") or params.get("username")):
            raise invalid_parameter(
                f"kubernetesGroups and username cannot be set on access entries of type {entry.type}"
            )
        if "kubernetesGroups" in params:
            entry.kubernetes_groups = list(params["kubernetesGroups"])
        if params.get("username"):
            entry.username = params["username"]
        entry.modified_at = request.now
        return lambda: {"accessEntry": entry.describe()}

    return request.idempotent("UpdateAccessEntry", params, run)


@operation("DeleteAccessEntry")
def delete_access_entry(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    _require_api_mode(cluster)
    _get(cluster, params["principalArn"])
    del cluster.access_entries[params["principalArn"]]
    return {}


def _policy_arn(arn: str) -> str:
    if not arn.startswith(POLICY_ARN_PREFIX) or arn[len(POLICY_ARN_PREFIX) :] not in ACCESS_POLICIES:
        raise invalid_parameter(
            f"The specified policyArn {arn} is not a valid EKS access policy; see ListAccessPolicies"
        )
    return arn


@operation("AssociateAccessPolicy")
def associate_access_policy(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    _require_api_mode(cluster)
    entry = _get(cluster, params["principalArn"])
    policy_arn = _policy_arn(params["policyArn"])
    if entry.type != "STANDARD":
        raise invalid_request(f"Access policies can only be associated with STANDARD access entries, not {entry.type}")
    scope = params["accessScope"]
    if scope.get("type") == "namespace" and not scope.get("namespaces"):
        raise invalid_parameter("accessScope of type namespace needs at least one namespace")
    if scope.get("type") == "cluster" and scope.get("namespaces"):
        raise invalid_parameter("accessScope of type cluster cannot list namespaces")
    associated_at = entry.policies.get(policy_arn, {}).get("associatedAt", request.now)
    entry.policies[policy_arn] = {
        "accessScope": {"type": scope.get("type"), "namespaces": list(scope.get("namespaces") or [])},
        "associatedAt": associated_at,
        "modifiedAt": request.now,
    }
    return {
        "clusterName": cluster.name,
        "principalArn": entry.principal_arn,
        "associatedAccessPolicy": {"policyArn": policy_arn, **entry.policies[policy_arn]},
    }


@operation("DisassociateAccessPolicy")
def disassociate_access_policy(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    _require_api_mode(cluster)
    entry = _get(cluster, params["principalArn"])
    if entry.policies.pop(params["policyArn"], None) is None:
        raise not_found(f"The policy {params['policyArn']} is not associated with {entry.principal_arn}")
    return {}


@operation("ListAssociatedAccessPolicies")
def list_associated_access_policies(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    _require_api_mode(cluster)
    entry = _get(cluster, params["principalArn"])
    policies = [{"policyArn": arn, **details} for arn, details in sorted(entry.policies.items())]
    page, token = paginate(policies, params)
    return {
        "clusterName": cluster.name,
        "principalArn": entry.principal_arn,
        "associatedAccessPolicies": page,
        "nextToken": token,
    }


@operation("ListAccessPolicies")
def list_access_policies(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    policies = [{"name": name, "arn": POLICY_ARN_PREFIX + name} for name in ACCESS_POLICIES]
    page, token = paginate(policies, params)
    return {"accessPolicies": page, "nextToken": token}


# --- who a caller is inside the cluster ----------------------------------------------------------------------


@cache
def load_access_policies(include_dir: Path) -> dict[str, tuple[dict[str, Any], ...]]:
    """Each EKS access policy's Kubernetes rules, from ``include/eks/access-policies.yaml``."""
    data = yaml.safe_load((include_dir / "eks" / "access-policies.yaml").read_text())
    roles = default_cluster_roles()
    return {
        name: tuple(entry["rules"] if "rules" in entry else roles[entry["cluster_role"]])
        for name, entry in data["policies"].items()
    }


class ClusterAccess:
    """The cluster's access source: who an IAM caller is in Kubernetes, as EKS decides it per authentication mode.

    API: access entries only. API_AND_CONFIG_MAP: an access entry, else the aws-auth ConfigMap (an entry wins for
    a principal in both [UG grant-k8s-access]). CONFIG_MAP: aws-auth only. The creator's implicit admin
    (CONFIG_MAP clusters) lasts as long as the ConfigMap method does. None: not let in (401).
    """

    def __init__(self, cluster: Cluster, policies: dict[str, tuple[dict[str, Any], ...]]) -> None:
        self.cluster = cluster
        self.policies = policies
        self._aws_auth: tuple[str, dict[str, dict[str, Any]]] = ("", {})

    def __call__(self, identity: AwsIdentity) -> KubeUser | None:
        mode = self.cluster.authentication_mode
        if mode != "CONFIG_MAP":
            entry = self.cluster.access_entries.get(identity.principal_arn)
            if entry is not None:
                return self._entry_user(entry, identity)
        if mode == "API":
            return None
        if identity.principal_arn == self.cluster.implicit_admin_arn:
            return authenticated_user(identity, identity.arn, ["system:masters"])
        mapping = self._aws_auth_mappings().get(identity.principal_arn.lower())
        if mapping is None:
            return None
        username = resolve_username(str(mapping.get("username") or identity.arn), identity)
        return authenticated_user(identity, username, [str(group) for group in mapping.get("groups") or []])

    def _entry_user(self, entry: AccessEntry, identity: AwsIdentity) -> KubeUser:
        grants = tuple(
            PolicyGrant(
                arn.rpartition("/")[2],
                self.policies.get(arn.rpartition("/")[2], ()),
                frozenset(details["accessScope"]["namespaces"])
                if details["accessScope"]["type"] == "namespace"
                else None,
            )
            for arn, details in entry.policies.items()
        )
        username = resolve_username(entry.username, identity)
        return authenticated_user(identity, username, entry.kubernetes_groups, policies=grants)

    def _aws_auth_mappings(self) -> dict[str, dict[str, Any]]:
        """kube-system/aws-auth's mapRoles and mapUsers by lower-cased ARN, parsed once per resourceVersion."""
        config_map = self.cluster.kube.store.get("", "ConfigMap", "kube-system", "aws-auth")
        version = config_map["metadata"]["resourceVersion"] if config_map else ""
        if version != self._aws_auth[0]:
            self._aws_auth = (version, _parse_aws_auth((config_map or {}).get("data") or {}))
        return self._aws_auth[1]


def _parse_aws_auth(data: dict[str, str]) -> dict[str, dict[str, Any]]:
    """mapRoles (``rolearn``) and mapUsers (``userarn``); an unparsable document maps nobody, as on EKS."""
    mappings: dict[str, dict[str, Any]] = {}
    for key, arn_field in (("mapRoles", "rolearn"), ("mapUsers", "userarn")):
        try:
            entries = yaml.safe_load(data.get(key) or "[]") or []
        except yaml.YAMLError:
            continue
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get(arn_field):
                mappings.setdefault(str(entry[arn_field]).lower(), entry)
    return mappings
