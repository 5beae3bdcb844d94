"""Access entries and access policies (cluster authentication through the EKS API instead of aws-auth)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from eks_sandbox import moto_compat
from eks_sandbox.eks.clusters import Cluster
from eks_sandbox.eks.errors import invalid_parameter, invalid_request, not_found, resource_in_use
from eks_sandbox.eks.operations import Request, operation, paginate

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


def create_creator_admin_entry(request: Request, cluster: Cluster) -> None:
    """bootstrapClusterCreatorAdminPermissions: the creator gets an entry with AmazonEKSClusterAdminPolicy [BC]."""
    principal = moto_compat.caller_principal_arn(request.account, request.region, request.access_key)
    if not _IAM_PRINCIPAL.match(principal):
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
