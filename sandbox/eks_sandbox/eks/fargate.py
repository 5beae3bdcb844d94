"""Fargate profiles: Create/Describe/List/DeleteFargateProfile (their pods and nodes: ``fargate_pods``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eks_sandbox.eks.clusters import validate_subnets
from eks_sandbox.eks.errors import invalid_parameter, limit_exceeded, not_found, resource_in_use
from eks_sandbox.eks.operations import Request, operation, paginate

#: 10 Fargate profiles per cluster, 5 selectors per profile (docs.amazonaws.cn/en_us/eks/latest/userguide/
#: service-quotas.html; [BC] CreateFargateProfileRequest.selectors)
MAX_PROFILES = 10
MAX_SELECTORS = 5


@dataclass
class FargateProfile:
    name: str
    arn: str
    cluster_name: str
    created_at: datetime
    pod_execution_role_arn: str
    subnets: list[str]
    selectors: list[dict[str, Any]]
    tags: dict[str, str]
    status: str = "CREATING"
    deleted: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "fargateProfileName": self.name,
            "fargateProfileArn": self.arn,
            "clusterName": self.cluster_name,
            "createdAt": self.created_at,
            "podExecutionRoleArn": self.pod_execution_role_arn,
            "subnets": self.subnets,
            "selectors": self.selectors,
            "status": self.status,
            "tags": self.tags,
            "health": {"issues": []},
        }


def _get(cluster, name: str) -> FargateProfile:
    profile = cluster.fargate_profiles.get(name)
    if profile is None:
        raise not_found(f"No Fargate Profile found with name: {name}.")
    return profile


@operation("CreateFargateProfile")
def create_fargate_profile(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])

    def run():
        name = params["fargateProfileName"]
        if name in cluster.fargate_profiles:
            raise resource_in_use(f"A Fargate Profile already exists with this name in the cluster: {name}")
        if len(cluster.fargate_profiles) >= MAX_PROFILES:
            raise limit_exceeded(f"Cluster {cluster.name} already has {MAX_PROFILES} Fargate profiles")
        selectors = list(params.get("selectors") or [])
        if not selectors or len(selectors) > MAX_SELECTORS:
            raise invalid_parameter(f"A Fargate profile needs between 1 and {MAX_SELECTORS} selectors")
        subnets = [s.id for s in validate_subnets(request, params.get("subnets") or cluster.vpc_config["subnetIds"])]
        profile = FargateProfile(
            name=name,
            arn=request.arn(f"fargateprofile/{cluster.name}/{name}/{uuid.uuid4()}"),
            cluster_name=cluster.name,
            created_at=request.now,
            pod_execution_role_arn=params["podExecutionRoleArn"],
            subnets=subnets,
            selectors=selectors,
            tags=dict(params.get("tags") or {}),
        )
        cluster.fargate_profiles[name] = profile
        backend = request.backend

        def active(at: datetime) -> None:
            if not profile.deleted:
                profile.status = "ACTIVE"

        backend.timeline.at(backend.clock.after(backend.catalogue.timings["fargate_profile_create"]), active)
        return lambda: {"fargateProfile": profile.describe()}

    return request.idempotent("CreateFargateProfile", params, run)


@operation("DescribeFargateProfile")
def describe_fargate_profile(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    return {"fargateProfile": _get(cluster, params["fargateProfileName"]).describe()}


@operation("ListFargateProfiles")
def list_fargate_profiles(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    page, token = paginate(sorted(cluster.fargate_profiles), params)
    return {"fargateProfileNames": page, "nextToken": token}


@operation("DeleteFargateProfile")
def delete_fargate_profile(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    profile = _get(cluster, params["fargateProfileName"])
    if profile.status != "DELETING":
        profile.status = "DELETING"
        backend = request.backend

        def deleted(at: datetime) -> None:
            from eks_sandbox.eks.fargate_pods import delete_profile_pods

            profile.deleted = True
            cluster.fargate_profiles.pop(profile.name, None)
            delete_profile_pods(cluster, profile.name)

        backend.timeline.at(backend.clock.after(backend.catalogue.timings["fargate_profile_delete"]), deleted)
    return {"fargateProfile": profile.describe()}
