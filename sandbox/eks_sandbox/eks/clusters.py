"""EKS clusters: the model, CreateCluster / DescribeCluster / ListClusters / DeleteCluster and tagging."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eks_sandbox import moto_compat
from eks_sandbox.eks.auto_mode import AutoMode, auto_mode_from_request
from eks_sandbox.eks.errors import EksError, invalid_parameter, invalid_request, resource_in_use
from eks_sandbox.eks.operations import Request, operation, paginate

if TYPE_CHECKING:
    from eks_sandbox.eks.access_entries import AccessEntry
    from eks_sandbox.eks.addons import Addon
    from eks_sandbox.eks.fargate import FargateProfile
    from eks_sandbox.eks.insights import InsightsState
    from eks_sandbox.eks.nodegroups import Nodegroup
    from eks_sandbox.eks.pod_identity import PodIdentityAssociation
    from eks_sandbox.eks.updates import Update
    from eks_sandbox.kube.cluster import KubeCluster

ALL_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


@dataclass
class VersionChange:
    """The last in-place control-plane upgrade: rollback to ``from_version`` is possible for 7 days after it
    completed [UG clusters/rollback-cluster.adoc]."""

    from_version: str
    to_version: str
    completed_at: datetime


@dataclass
class Cluster:
    name: str
    arn: str
    account: str
    region: str
    #: opaque id: the cluster's Kubernetes endpoint path and its OIDC issuer id
    id: str
    created_at: datetime
    version: str
    platform_version: str
    role_arn: str
    vpc_config: dict[str, Any]
    network_config: dict[str, Any]
    logging: dict[str, Any]
    encryption_config: list[dict[str, Any]]
    access_config: dict[str, Any]
    upgrade_policy: dict[str, Any]
    deletion_protection: bool
    zonal_shift_config: dict[str, Any] | None
    tags: dict[str, str]
    kube: KubeCluster
    status: str = "CREATING"
    deleted: bool = False
    health_issues: list[dict[str, Any]] = field(default_factory=list)
    nodegroups: dict[str, Nodegroup] = field(default_factory=dict)
    addons: dict[str, Addon] = field(default_factory=dict)
    fargate_profiles: dict[str, FargateProfile] = field(default_factory=dict)
    updates: list[Update] = field(default_factory=list)
    pod_identity_associations: dict[str, PodIdentityAssociation] = field(default_factory=dict)
    access_entries: dict[str, AccessEntry] = field(default_factory=dict)
    last_version_change: VersionChange | None = None
    #: the creator's implicit system:masters mapping of a cluster created under CONFIG_MAP (shown by no API)
    implicit_admin_arn: str | None = None
    insights: InsightsState | None = None
    auto_mode: AutoMode = field(default_factory=AutoMode)
    #: image reference → the AWS SDK it carries (``boto3/1.28.0``): no API shows it (fleet file ``aws_sdks``)
    aws_sdks: dict[str, str] = field(default_factory=dict)

    @property
    def authentication_mode(self) -> str:
        return self.access_config["authenticationMode"]

    @property
    def oidc_issuer(self) -> str:
        """The issuer of the cluster's service-account tokens (DescribeCluster ``identity.oidc.issuer``)."""
        return f"https://oidc.eks.{self.region}.amazonaws.com/id/{self.id.upper()}"

    def describe(self, endpoint: str, certificate_authority: str) -> dict[str, Any]:
        """DescribeCluster's ``cluster``; ``certificate_authority`` is the base64 PEM of the endpoint's CA."""
        reachable = self.status in ("ACTIVE", "UPDATING")
        described: dict[str, Any] = {
            "name": self.name,
            "arn": self.arn,
            "createdAt": self.created_at,
            "version": self.version,
            "roleArn": self.role_arn,
            "resourcesVpcConfig": self.vpc_config,
            "kubernetesNetworkConfig": {**self.network_config, "elasticLoadBalancing": self.auto_mode.load_balancing()},
            "logging": self.logging,
            "identity": {"oidc": {"issuer": self.oidc_issuer}},
            "status": self.status,
            "platformVersion": self.platform_version,
            "tags": self.tags,
            "health": {"issues": self.health_issues},
            "accessConfig": self.access_config,
            "upgradePolicy": self.upgrade_policy,
            "deletionProtection": self.deletion_protection,
        }
        # Like EKS, a cluster has no endpoint or CA data until its control plane is up.
        if reachable:
            described["endpoint"] = endpoint
            described["certificateAuthority"] = {"data": certificate_authority}
        if self.encryption_config:
            described["encryptionConfig"] = self.encryption_config
        if self.zonal_shift_config is not None:
            described["zonalShiftConfig"] = self.zonal_shift_config
        if self.auto_mode.configured:
            described["computeConfig"] = self.auto_mode.compute_config()
            described["storageConfig"] = self.auto_mode.storage_config()
        return described


def validate_subnets(request: Request, subnet_ids: list[str]) -> list[moto_compat.SubnetInfo]:
    found = []
    for subnet_id in subnet_ids:
        info = moto_compat.subnet(request.account, request.region, subnet_id)
        if info is None:
            raise invalid_parameter(f"The subnet ID '{subnet_id}' does not exist (Service: AmazonEC2)")
        found.append(info)
    return found


def _vpc_config(request: Request, requested: dict[str, Any]) -> dict[str, Any]:
    subnets = validate_subnets(request, requested.get("subnetIds") or [])
    # The control plane places its ENIs in two AZs [UG network-reqs]: EKS refuses fewer.
    if len({s.availability_zone for s in subnets}) < 2:
        raise invalid_parameter("Subnets specified must be in at least two different AZs")
    if len({s.vpc_id for s in subnets}) > 1:
        raise invalid_parameter("Subnets must all belong to the same VPC")
    for group_id in requested.get("securityGroupIds") or []:
        if not moto_compat.security_group_exists(request.account, request.region, group_id):
            raise invalid_parameter(f"The security group '{group_id}' does not exist")
    return {
        "subnetIds": [s.id for s in subnets],
        "securityGroupIds": list(requested.get("securityGroupIds") or []),
        "clusterSecurityGroupId": "sg-" + secrets.token_hex(9)[:17],
        "vpcId": subnets[0].vpc_id,
        "endpointPublicAccess": requested.get("endpointPublicAccess", True),
        "endpointPrivateAccess": requested.get("endpointPrivateAccess", False),
        "publicAccessCidrs": list(requested.get("publicAccessCidrs") or ["0.0.0.0/0"]),
    }


def _access_config(requested: dict[str, Any]) -> dict[str, Any]:
    # API/SDK default is CONFIG_MAP (the console's is API_AND_CONFIG_MAP) [BC CreateAccessConfigRequest].
    mode = requested.get("authenticationMode") or "CONFIG_MAP"
    bootstrap = requested.get("bootstrapClusterCreatorAdminPermissions", True)
    if mode == "CONFIG_MAP" and not bootstrap:
        # With no access entries, the creator's implicit admin is the only way in (terraform-aws-eks#3026).
        raise invalid_parameter(
            "bootstrapClusterCreatorAdminPermissions must be true when authenticationMode is CONFIG_MAP"
        )
    return {"bootstrapClusterCreatorAdminPermissions": bootstrap, "authenticationMode": mode}


@operation("CreateCluster")
def create_cluster(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    def run():
        cluster = _create(request, params)
        return lambda: {"cluster": request.backend.describe_cluster(cluster)}

    return request.idempotent("CreateCluster", params, run)


def _create(request: Request, params: dict[str, Any]) -> Cluster:
    from eks_sandbox.eks.access_entries import bootstrap_creator_admin
    from eks_sandbox.eks.cluster_versions import refuse_unsupported_version, requested_minor

    backend = request.backend
    name = params["name"]
    if name in request.state.clusters:
        raise resource_in_use(f"Cluster already exists with name: {name}")
    calendar = backend.catalogue.calendar
    version = params.get("version") or calendar.default_version(request.now)
    requested_minor(version)
    refuse_unsupported_version(calendar, version, request.now)
    upgrade_policy = {"supportType": (params.get("upgradePolicy") or {}).get("supportType") or "EXTENDED"}
    vpc_config = _vpc_config(request, params["resourcesVpcConfig"])
    access_config = _access_config(params.get("accessConfig") or {})
    auto_mode = auto_mode_from_request(params)
    cluster_id = secrets.token_hex(16)
    requested_network = params.get("kubernetesNetworkConfig") or {}
    cluster = Cluster(
        name=name,
        arn=request.arn(f"cluster/{name}"),
        account=request.account,
        region=request.region,
        id=cluster_id,
        created_at=request.now,
        version=version,
        platform_version=calendar.get(version).platform_version,
        role_arn=params["roleArn"],
        vpc_config=vpc_config,
        network_config={
            "serviceIpv4Cidr": requested_network.get("serviceIpv4Cidr") or "10.100.0.0/16",
            "ipFamily": requested_network.get("ipFamily") or "ipv4",
        },
        logging=params.get("logging") or {"clusterLogging": [{"types": ALL_LOG_TYPES, "enabled": False}]},
        encryption_config=list(params.get("encryptionConfig") or []),
        access_config=access_config,
        upgrade_policy=upgrade_policy,
        deletion_protection=bool(params.get("deletionProtection", False)),
        zonal_shift_config=params.get("zonalShiftConfig"),
        tags=dict(params.get("tags") or {}),
        kube=backend.create_kube_cluster(cluster_id, name, version, request.account, request.region),
        auto_mode=auto_mode,
    )
    backend.attach_kube_cluster(cluster)
    request.state.clusters[name] = cluster
    if access_config["bootstrapClusterCreatorAdminPermissions"]:
        bootstrap_creator_admin(request, cluster)
    bootstrap = params.get("bootstrapSelfManagedAddons", True)
    backend.timeline.at(
        backend.clock.after(backend.catalogue.timings["cluster_create"]),
        lambda at: _cluster_created(backend, cluster, bootstrap),
    )
    return cluster


def _cluster_created(backend, cluster: Cluster, bootstrap_self_managed_addons: bool) -> None:
    from eks_sandbox.eks.addon_workloads import apply_workloads

    if cluster.deleted:
        return
    cluster.status = "ACTIVE"
    if bootstrap_self_managed_addons:
        # EKS installs vpc-cni, kube-proxy and CoreDNS as *self-managed* workloads unless told not to
        # [BC CreateClusterRequest.bootstrapSelfManagedAddons].
        for name in backend.catalogue.addons.bootstrap_self_managed:
            spec = backend.catalogue.addons.get(name)
            default = spec.default_version(cluster.version)
            if default is not None:
                apply_workloads(cluster, spec, default.version, managed=False)


@operation("DescribeCluster")
def describe_cluster(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    return {"cluster": request.backend.describe_cluster(request.cluster(params["name"]))}


@operation("ListClusters")
def list_clusters(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    page, token = paginate(sorted(request.state.clusters), params)
    return {"clusters": page, "nextToken": token}


@operation("DeleteCluster")
def delete_cluster(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    backend = request.backend
    cluster = request.cluster(params["name"])
    if cluster.deletion_protection:
        raise invalid_request(
            f"Cluster {cluster.name} has deletion protection enabled. Disable it with UpdateClusterConfig "
            "(deletionProtection=false) before deleting the cluster."
        )
    if cluster.nodegroups:
        raise resource_in_use(f"Cluster has nodegroups attached: {', '.join(sorted(cluster.nodegroups))}")
    if cluster.fargate_profiles:
        raise resource_in_use(f"Cluster has fargate profiles attached: {', '.join(sorted(cluster.fargate_profiles))}")
    if cluster.status != "DELETING":
        cluster.status = "DELETING"
        backend.timeline.at(
            backend.clock.after(backend.catalogue.timings["cluster_delete"]),
            lambda at: backend.forget_cluster(cluster),
        )
    return {"cluster": backend.describe_cluster(cluster)}


# --- tags -------------------------------------------------------------------------------------------------


def _taggable(request: Request, arn: str) -> Any:
    for cluster in request.state.clusters.values():
        for resource in (
            cluster,
            *cluster.nodegroups.values(),
            *cluster.addons.values(),
            *cluster.fargate_profiles.values(),
            *cluster.pod_identity_associations.values(),
            *cluster.access_entries.values(),
        ):
            if resource.arn == arn:
                return resource
    raise EksError("NotFoundException", 404, f"Resource not found: {arn}")


@operation("TagResource")
def tag_resource(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    _taggable(request, params["resourceArn"]).tags.update(params["tags"])
    return {}


@operation("UntagResource")
def untag_resource(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    resource = _taggable(request, params["resourceArn"])
    for key in params["tagKeys"]:
        resource.tags.pop(key, None)
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    return {"tags": dict(_taggable(request, params["resourceArn"]).tags)}
