"""UpdateClusterConfig (one kind of change per call) and AssociateEncryptionConfig."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eks_sandbox.eks.auto_mode import auto_mode_from_request
from eks_sandbox.eks.catalogue import STANDARD_SUPPORT
from eks_sandbox.eks.cluster_versions import ensure_cluster_idle
from eks_sandbox.eks.clusters import ALL_LOG_TYPES, Cluster, validate_subnets
from eks_sandbox.eks.errors import invalid_parameter, invalid_request
from eks_sandbox.eks.operations import Request, operation
from eks_sandbox.eks.updates import SUCCESSFUL, Update, fail_if_injected, start_update

if TYPE_CHECKING:
    from eks_sandbox.eks.backend import EksBackend

_ENDPOINT_FIELDS = {"endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs"}
_VPC_FIELDS = {"subnetIds", "securityGroupIds"}

#: request member → UpdateType of the change it asks for [BC UpdateType]
_UPDATE_TYPES = {
    "logging": "LoggingUpdate",
    "accessConfig": "AccessConfigUpdate",
    "upgradePolicy": "UpgradePolicyUpdate",
    "deletionProtection": "DeletionProtectionUpdate",
    "zonalShiftConfig": "ZonalShiftConfigUpdate",
    "computeConfig": "AutoModeUpdate",
    "storageConfig": "AutoModeUpdate",
    "kubernetesNetworkConfig": "AutoModeUpdate",
    "remoteNetworkConfig": "RemoteNetworkConfigUpdate",
    "controlPlaneScalingConfig": "ControlPlaneScalingConfigUpdate",
    "kubeApiServerConfig": "ControlPlaneComponentConfigUpdate",
    "kubeSchedulerConfig": "ControlPlaneComponentConfigUpdate",
    "kubeControllerManagerConfig": "ControlPlaneComponentConfigUpdate",
}
#: authenticationMode changes EKS accepts: access entries can't be turned off again, and the ConfigMap can't be
#: turned back on once gone [UG manage-access/k8s-access/grant-k8s-access.adoc]; CONFIG_MAP → API directly is
#: refused (pulumi/pulumi-eks#1493).
_AUTH_MODE_TRANSITIONS = {("CONFIG_MAP", "API_AND_CONFIG_MAP"), ("API_AND_CONFIG_MAP", "API")}


def _requested_update_types(params: dict[str, Any]) -> set[str]:
    kinds = {_UPDATE_TYPES[key] for key in _UPDATE_TYPES if params.get(key) is not None}
    vpc = params.get("resourcesVpcConfig") or {}
    if _ENDPOINT_FIELDS & vpc.keys():
        kinds.add("EndpointAccessUpdate")
    if _VPC_FIELDS & vpc.keys():
        kinds.add("VpcConfigUpdate")
    return kinds


@operation("UpdateClusterConfig")
def update_cluster_config(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["name"])

    def run():
        update = _start_config_update(request, cluster, params)
        return lambda: {"update": update.describe()}

    return request.idempotent("UpdateClusterConfig", params, run)


def _start_config_update(request: Request, cluster: Cluster, params: dict[str, Any]) -> Update:
    kinds = _requested_update_types(params)
    if len(kinds) > 1:
        # crossplane-contrib/provider-aws#642
        raise invalid_parameter("Only one type of update can be allowed.")
    if not kinds:
        raise invalid_parameter("No changes needed for the provided cluster configuration.")
    (kind,) = kinds
    if kind not in _PREPARERS:
        raise invalid_request(f"UpdateClusterConfig of type {kind} is not simulated by the EKS sandbox")
    ensure_cluster_idle(cluster, "UpdateClusterConfig")
    update_params, apply = _PREPARERS[kind](request, cluster, params)
    update = start_update(cluster, kind, update_params, request.now)
    cluster.status = "UPDATING"
    backend = request.backend
    backend.timeline.at(
        backend.clock.after(backend.catalogue.timings["cluster_config_update"]),
        lambda at: _finish(backend, cluster, update, apply),
    )
    return update


#: A prepared change: the update's params, and how to apply the change once the update succeeds.
_Prepared = tuple[dict[str, str], Callable[[], None]]


def _prepare_logging(request: Request, cluster: Cluster, params: dict[str, Any]) -> _Prepared:
    logging = params["logging"]
    return {"ClusterLogging": json.dumps(logging["clusterLogging"])}, lambda: _apply_logging(cluster, logging)


def _prepare_endpoint_access(request: Request, cluster: Cluster, params: dict[str, Any]) -> _Prepared:
    vpc = params["resourcesVpcConfig"]
    merged = {**cluster.vpc_config, **{k: v for k, v in vpc.items() if k in _ENDPOINT_FIELDS}}
    if not merged["endpointPublicAccess"] and not merged["endpointPrivateAccess"]:
        raise invalid_parameter("Cluster must have either public or private API server endpoint access enabled")
    changes = {
        "EndpointPublicAccess": str(merged["endpointPublicAccess"]).lower(),
        "EndpointPrivateAccess": str(merged["endpointPrivateAccess"]).lower(),
        "PublicAccessCidrs": json.dumps(merged["publicAccessCidrs"]),
    }
    return changes, lambda: cluster.vpc_config.update(merged)


def _prepare_vpc_config(request: Request, cluster: Cluster, params: dict[str, Any]) -> _Prepared:
    vpc = params["resourcesVpcConfig"]
    changes, new = {}, {}
    if "subnetIds" in vpc:
        subnets = validate_subnets(request, vpc["subnetIds"])
        if any(s.vpc_id != cluster.vpc_config["vpcId"] for s in subnets):
            raise invalid_parameter("Subnets must belong to the cluster's VPC")
        changes["Subnets"], new["subnetIds"] = json.dumps(vpc["subnetIds"]), list(vpc["subnetIds"])
    if "securityGroupIds" in vpc:
        changes["SecurityGroups"] = json.dumps(vpc["securityGroupIds"])
        new["securityGroupIds"] = list(vpc["securityGroupIds"])
    return changes, lambda: cluster.vpc_config.update(new)


def _prepare_access_config(request: Request, cluster: Cluster, params: dict[str, Any]) -> _Prepared:
    mode = params["accessConfig"].get("authenticationMode")
    if (cluster.authentication_mode, mode) not in _AUTH_MODE_TRANSITIONS:
        raise invalid_parameter(f"Unsupported authentication mode update from {cluster.authentication_mode} to {mode}")
    return {"AuthenticationMode": mode}, lambda: cluster.access_config.update(authenticationMode=mode)


def _prepare_upgrade_policy(request: Request, cluster: Cluster, params: dict[str, Any]) -> _Prepared:
    support_type = params["upgradePolicy"].get("supportType")
    status = request.backend.catalogue.calendar.get(cluster.version).support_status(request.now)
    # The policy can be changed only while the cluster runs a version in standard support
    # [UG clusters/view-upgrade-policy.adoc, disable-extended-support.adoc].
    if status != STANDARD_SUPPORT:
        raise invalid_request(
            f"Cannot change the upgrade policy of cluster {cluster.name}: Kubernetes {cluster.version} is no "
            "longer in standard support; extended support cannot be disabled once entered."
        )
    return {"UpgradePolicy": support_type}, lambda: cluster.upgrade_policy.update(supportType=support_type)


def _prepare_deletion_protection(request: Request, cluster: Cluster, params: dict[str, Any]) -> _Prepared:
    enabled = bool(params["deletionProtection"])
    return {"DeletionProtection": str(enabled).lower()}, lambda: setattr(cluster, "deletion_protection", enabled)


def _prepare_zonal_shift_config(request: Request, cluster: Cluster, params: dict[str, Any]) -> _Prepared:
    config = params["zonalShiftConfig"]
    return {"ZonalShiftConfig": json.dumps(config)}, lambda: setattr(cluster, "zonal_shift_config", dict(config))


def _prepare_auto_mode(request: Request, cluster: Cluster, params: dict[str, Any]) -> _Prepared:
    # The three capabilities change together, by the same rules as at creation [UG auto-enable-existing].
    mode = auto_mode_from_request(params, cluster.auto_mode)
    changes = {
        "ComputeConfig": json.dumps(mode.compute_config()),
        "StorageConfig": json.dumps(mode.storage_config()),
        "KubernetesNetworkConfig": json.dumps({"elasticLoadBalancing": mode.load_balancing()}),
    }
    return changes, lambda: setattr(cluster, "auto_mode", mode)


#: UpdateType → how to validate that change and prepare it; the kinds of update the sandbox simulates.
_PREPARERS: dict[str, Callable[[Request, Cluster, dict[str, Any]], _Prepared]] = {
    "LoggingUpdate": _prepare_logging,
    "EndpointAccessUpdate": _prepare_endpoint_access,
    "VpcConfigUpdate": _prepare_vpc_config,
    "AccessConfigUpdate": _prepare_access_config,
    "UpgradePolicyUpdate": _prepare_upgrade_policy,
    "DeletionProtectionUpdate": _prepare_deletion_protection,
    "ZonalShiftConfigUpdate": _prepare_zonal_shift_config,
    "AutoModeUpdate": _prepare_auto_mode,
}


def _apply_logging(cluster: Cluster, logging: dict[str, Any]) -> None:
    enabled: set[str] = set()
    for setup in cluster.logging["clusterLogging"]:
        if setup.get("enabled"):
            enabled.update(setup.get("types", []))
    for setup in logging["clusterLogging"]:
        types = set(setup.get("types", []))
        enabled = enabled | types if setup.get("enabled") else enabled - types
    disabled = [t for t in ALL_LOG_TYPES if t not in enabled]
    cluster.logging = {
        "clusterLogging": [
            setup
            for setup in (
                {"types": [t for t in ALL_LOG_TYPES if t in enabled], "enabled": True},
                {"types": disabled, "enabled": False},
            )
            if setup["types"]
        ]
    }


def _finish(backend: EksBackend, cluster: Cluster, update: Update, apply) -> None:
    if cluster.deleted or update.status != "InProgress":
        return
    cluster.status = "ACTIVE"
    if fail_if_injected(backend, cluster, update, [cluster.name]):
        return
    apply()
    update.status = SUCCESSFUL


@operation("AssociateEncryptionConfig")
def associate_encryption_config(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])

    def run():
        if cluster.encryption_config:
            raise invalid_request(
                f"Cluster {cluster.name} already has secrets encryption enabled; it cannot be changed"
            )
        config = params["encryptionConfig"]
        if (
            len(config) != 1
            or config[0].get("resources") != ["secrets"]
            or not config[0].get("provider", {}).get("keyArn")
        ):
            raise invalid_parameter(
                "encryptionConfig must be one entry with resources ['secrets'] and a provider keyArn"
            )
        ensure_cluster_idle(cluster, "AssociateEncryptionConfig")
        update = start_update(
            cluster, "AssociateEncryptionConfig", {"EncryptionConfig": json.dumps(config)}, request.now
        )
        cluster.status = "UPDATING"
        backend = request.backend
        backend.timeline.at(
            backend.clock.after(backend.catalogue.timings["encryption_config_update"]),
            lambda at: _finish(backend, cluster, update, lambda: setattr(cluster, "encryption_config", list(config))),
        )
        return lambda: {"update": update.describe()}

    return request.idempotent("AssociateEncryptionConfig", params, run)
