"""Managed add-ons: Create/Describe/List/Update/DeleteAddon, DescribeAddonVersions, DescribeAddonConfiguration."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import yaml

from eks_sandbox.eks.addon_workloads import apply_workloads, remove_workloads
from eks_sandbox.eks.catalogue import AddonSpec, AddonVersion
from eks_sandbox.eks.clusters import Cluster
from eks_sandbox.eks.errors import invalid_parameter, invalid_request, not_found, resource_in_use
from eks_sandbox.eks.operations import Request, operation, paginate
from eks_sandbox.eks.updates import SUCCESSFUL, Update, fail_if_injected, start_update, update_in_progress

POD_IDENTITY_AGENT = "eks-pod-identity-agent"

if TYPE_CHECKING:
    from eks_sandbox.eks.backend import EksBackend

#: AddonIssueCode values [BC]; an injected update failure with another errorCode shows as InternalFailure.
ADDON_ISSUE_CODES = {
    "AccessDenied",
    "InternalFailure",
    "ClusterUnreachable",
    "InsufficientNumberOfReplicas",
    "ConfigurationConflict",
    "AdmissionRequestDenied",
    "UnsupportedAddonModification",
    "K8sResourceNotFound",
    "AddonSubscriptionNeeded",
    "AddonPermissionFailure",
}


@dataclass
class Addon:
    name: str
    arn: str
    cluster_name: str
    version: str
    created_at: datetime
    modified_at: datetime
    service_account_role_arn: str | None
    configuration_values: str | None
    resolve_conflicts: str | None
    tags: dict[str, str]
    status: str = "CREATING"
    deleted: bool = False
    health_issues: list[dict[str, Any]] = field(default_factory=list)
    pod_identity_association_arns: list[str] = field(default_factory=list)
    #: Service account → when EKS last rolled the pods of the add-on's workloads running as it
    pod_restarts: dict[str, str] = field(default_factory=dict)
    #: DEGRADED by EKS's own health check (too few replicas), which clears it again; not an injected fault
    degraded_for_replicas: bool = False

    def describe(self, spec: AddonSpec) -> dict[str, Any]:
        described = {
            "addonName": self.name,
            "clusterName": self.cluster_name,
            "status": self.status,
            "addonVersion": self.version,
            "health": {"issues": self.health_issues},
            "addonArn": self.arn,
            "createdAt": self.created_at,
            "modifiedAt": self.modified_at,
            "tags": self.tags,
            "publisher": spec.publisher,
            "owner": spec.owner,
            "podIdentityAssociations": self.pod_identity_association_arns,
            "namespaceConfig": {"namespace": spec.namespace},
        }
        if self.service_account_role_arn:
            described["serviceAccountRoleArn"] = self.service_account_role_arn
        if self.configuration_values:
            described["configurationValues"] = self.configuration_values
        return described


def addon_spec(request: Request, name: str) -> AddonSpec:
    spec = request.backend.catalogue.addons.get(name)
    if spec is None:
        raise invalid_parameter(f"Addon {name} specified is not supported")
    return spec


def get_addon(cluster: Cluster, name: str) -> Addon:
    addon = cluster.addons.get(name)
    if addon is None:
        raise not_found(f"No addon: {name} found in cluster: {cluster.name}")
    return addon


def _compatible_version(spec: AddonSpec, version: str, cluster: Cluster) -> AddonVersion:
    found = spec.version(version)
    if found is None:
        raise invalid_parameter(f"Addon version {version} specified is not supported for addon {spec.name}")
    if cluster.version not in found.cluster_versions:
        raise invalid_parameter(
            f"Addon version {version} of {spec.name} is not compatible with Kubernetes {cluster.version} of cluster "
            f"{cluster.name}; see DescribeAddonVersions(kubernetesVersion={cluster.version})"
        )
    return found


def parse_configuration(spec: AddonSpec, values: str | None) -> dict[str, Any]:
    """configurationValues (JSON or YAML) checked against the add-on's schema, top level only."""
    if not values:
        return {}
    try:
        parsed = yaml.safe_load(values)
    except yaml.YAMLError as exc:
        raise invalid_parameter(f"ConfigurationValue provided in request is not valid JSON or YAML: {exc}") from exc
    if not isinstance(parsed, dict):
        raise invalid_parameter("ConfigurationValue provided in request must be an object")
    schema = spec.configuration_schema
    properties = schema.get("properties", {})
    json_types = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool}
    for key, value in parsed.items():
        if key not in properties and schema.get("additionalProperties") is False:
            raise invalid_parameter(
                "ConfigurationValue provided in request is not supported: Json schema validation failed with error: "
                f"[$.{key}: is not defined in the schema and the schema does not allow additional properties]"
            )
        expected = json_types.get(properties.get(key, {}).get("type", ""))
        if expected and not isinstance(value, expected):
            raise invalid_parameter(
                "ConfigurationValue provided in request is not supported: Json schema validation failed with error: "
                f"[$.{key}: {type(value).__name__} found, {properties[key]['type']} expected]"
            )
    return parsed


def _check_pod_identity_associations(
    cluster: Cluster, addon_arn: str | None, spec: AddonSpec, version: AddonVersion, wanted: list[dict[str, str]]
) -> None:
    """Refuse what EKS refuses before anything changes: a version without Pod Identity, a service account the
    add-on does not use (wording: terraform-aws-modules/terraform-aws-eks#3520), and an association the add-on
    does not own for one of its service accounts ("Add-ons can't assume ownership of existing pod identity
    associations" [UG workloads/add-ons-iam.adoc]; EKS's wording for that refusal is UNCONFIRMED, the sandbox
    answers as CreatePodIdentityAssociation does for a second association)."""
    configuration = spec.pod_identity_configuration(version)
    if not configuration:
        raise invalid_parameter(f"Pod Identity feature is not supported for addon version: {version.version}")
    allowed = {entry["serviceAccount"] for entry in configuration}
    for entry in wanted:
        if entry["serviceAccount"] not in allowed:
            raise invalid_parameter(
                f"Service account {entry['serviceAccount']} in pod identity configuration is not supported for "
                f"addon {spec.name}"
            )
        for existing in cluster.pod_identity_associations.values():
            if (existing.namespace, existing.service_account) == (spec.namespace, entry["serviceAccount"]) and (
                addon_arn is None or existing.owner_arn != addon_arn
            ):
                raise resource_in_use(f"Association already exists: {existing.id}")


def _set_pod_identity_associations(
    request: Request, cluster: Cluster, addon: Addon, spec: AddonSpec, wanted: list[dict[str, str]]
) -> set[str]:
    """Make the add-on's own associations exactly ``wanted`` (UpdateAddon: ``[]`` deletes them all [BC]; "all
    previous pod identity associations are overwritten" [UG update-addon-role.adoc]); returns the service
    accounts whose association changed."""
    from eks_sandbox.eks.pod_identity import create_association, delete_association

    owned = [a for a in cluster.pod_identity_associations.values() if a.owner_arn == addon.arn]
    before = {(a.service_account, a.role_arn) for a in owned}
    after = {(entry["serviceAccount"], entry["roleArn"]) for entry in wanted}
    for association in owned:
        delete_association(cluster, association.id)
    addon.pod_identity_association_arns = [
        create_association(
            request, cluster, spec.namespace, entry["serviceAccount"], entry["roleArn"], owner_arn=addon.arn
        ).arn
        for entry in wanted
    ]
    return {account for account, _ in before ^ after}


def pod_identity_agent_installed(cluster: Cluster) -> bool:
    """Whether the cluster runs the EKS Pod Identity Agent: its add-on, or Auto Mode, which has it built in
    [UG pod-id-agent-setup; eksctl pod-identity-associations]."""
    agent = cluster.addons.get(POD_IDENTITY_AGENT)
    return (agent is not None and agent.status != "DELETING") or cluster.auto_mode.compute_enabled


def _irsa_role(cluster: Cluster, addon: Addon, role_arn: str | None) -> str | None:
    """serviceAccountRoleArn as EKS applies it: "If the EKS pod identity agent is installed on the cluster, the
    serviceAccountRoleArn will be ignored, and EKS will use the provided pod identity association"
    [UG workloads/add-ons-iam.adoc]."""
    if role_arn and addon.pod_identity_association_arns and pod_identity_agent_installed(cluster):
        return None
    return role_arn


@operation("CreateAddon")
def create_addon(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])

    def run():
        addon, spec = _create(request, cluster, params)
        return lambda: {"addon": addon.describe(spec)}

    return request.idempotent("CreateAddon", params, run)


def _create(request: Request, cluster: Cluster, params: dict[str, Any]) -> tuple[Addon, AddonSpec]:
    spec = addon_spec(request, params["addonName"])
    if spec.name in cluster.addons:
        raise resource_in_use(f"Addon {spec.name} already exists on cluster {cluster.name}")
    if cluster.status not in ("ACTIVE", "UPDATING"):
        raise invalid_request(f"Cluster {cluster.name} is {cluster.status}; add-ons can be created once it is ACTIVE")
    if params.get("addonVersion"):
        version = _compatible_version(spec, params["addonVersion"], cluster)
    else:
        version = spec.default_version(cluster.version)
        if version is None:
            raise invalid_parameter(f"Addon {spec.name} has no version for Kubernetes {cluster.version}")
    configuration = parse_configuration(spec, params.get("configurationValues"))
    addon = Addon(
        name=spec.name,
        arn=request.arn(f"addon/{cluster.name}/{spec.name}/{uuid.uuid4()}"),
        cluster_name=cluster.name,
        version=version.version,
        created_at=request.now,
        modified_at=request.now,
        service_account_role_arn=params.get("serviceAccountRoleArn"),
        configuration_values=params.get("configurationValues"),
        resolve_conflicts=params.get("resolveConflicts"),
        tags=dict(params.get("tags") or {}),
    )
    if params.get("podIdentityAssociations"):
        _check_pod_identity_associations(cluster, None, spec, version, params["podIdentityAssociations"])
        _set_pod_identity_associations(request, cluster, addon, spec, params["podIdentityAssociations"])
    cluster.addons[spec.name] = addon
    backend = request.backend

    def active(at: datetime) -> None:
        if addon.deleted:
            return
        role_arn = _irsa_role(cluster, addon, addon.service_account_role_arn)
        apply_workloads(cluster, spec, addon.version, True, role_arn, configuration)
        addon.status = "ACTIVE"
        addon.modified_at = backend.stamp(at)

    backend.timeline.at(backend.clock.after(backend.catalogue.timings["addon_create"]), active)
    return addon, spec


#: EKS's health issue for an add-on whose Deployment has fewer available replicas than desired: coredns on a
#: cluster with no node to run it (aws/containers-roadmap#2328, terraform-aws-modules/terraform-aws-eks#3003;
#: DEGRADED until nodes join: terraform-aws-eks#1801, pulumi/pulumi-eks#1819).
INSUFFICIENT_REPLICAS = (
    "InsufficientNumberOfReplicas",
    "The add-on is unhealthy because it doesn't have the desired number of replicas.",
)


def short_of_replicas(cluster: Cluster, spec: AddonSpec) -> bool:
    """Whether a Deployment of the add-on has fewer available replicas than it wants (its pods Pending for want
    of a Ready node, or still starting). DaemonSets are not judged: with no node they want no pod."""
    for workload in spec.workloads:
        if workload["kind"] != "Deployment":
            continue
        deployment = cluster.kube.get("apps/v1", "Deployment", workload["name"], spec.namespace)
        if deployment is None:
            continue
        wanted = deployment["spec"].get("replicas", 1)
        if (deployment.get("status") or {}).get("availableReplicas", 0) < wanted:
            return True
    return False


def refresh_health(cluster: Cluster, addon: Addon, spec: AddonSpec, now: datetime) -> None:
    """EKS's add-on health check, as of ``now``: an ACTIVE add-on short of replicas turns DEGRADED with
    InsufficientNumberOfReplicas, and back to ACTIVE once its pods are available. A degradation injected as a
    fault (``degrade``) is left alone."""
    if addon.status == "ACTIVE" and short_of_replicas(cluster, spec):
        code, message = INSUFFICIENT_REPLICAS
        addon.status, addon.degraded_for_replicas, addon.modified_at = "DEGRADED", True, now
        addon.health_issues = [{"code": code, "message": message, "resourceIds": []}]
    elif addon.status == "DEGRADED" and addon.degraded_for_replicas and not short_of_replicas(cluster, spec):
        addon.status, addon.degraded_for_replicas, addon.modified_at = "ACTIVE", False, now
        addon.health_issues = []


@operation("DescribeAddon")
def describe_addon(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    addon = get_addon(cluster, params["addonName"])
    spec = addon_spec(request, addon.name)
    refresh_health(cluster, addon, spec, request.now)
    return {"addon": addon.describe(spec)}


@operation("ListAddons")
def list_addons(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    page, token = paginate(sorted(cluster.addons), params)
    return {"addons": page, "nextToken": token}


@operation("UpdateAddon")
def update_addon(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    addon = get_addon(cluster, params["addonName"])

    def run():
        update = _start_update(request, cluster, addon, params)
        return lambda: {"update": update.describe()}

    return request.idempotent("UpdateAddon", params, run)


def _start_update(request: Request, cluster: Cluster, addon: Addon, params: dict[str, Any]) -> Update:
    spec = addon_spec(request, addon.name)
    _ensure_addon_idle(cluster, addon)
    target = _target_version(spec, cluster, addon, params)
    configuration_values = params.get("configurationValues", addon.configuration_values)
    configuration = parse_configuration(spec, configuration_values)
    role_arn = params.get("serviceAccountRoleArn", addon.service_account_role_arn)
    update_params = _update_params(params, target)
    restarted: set[str] = set()
    if params.get("podIdentityAssociations") is not None:
        if params["podIdentityAssociations"]:
            wanted = params["podIdentityAssociations"]
            _check_pod_identity_associations(cluster, addon.arn, spec, spec.version(target), wanted)
        restarted = _set_pod_identity_associations(request, cluster, addon, spec, params["podIdentityAssociations"])
        update_params["PodIdentityAssociations"] = json.dumps(addon.pod_identity_association_arns)
    update = start_update(cluster, "AddonUpdate", update_params, request.now, addon=addon.name)
    addon.status = "UPDATING"
    addon.resolve_conflicts = params.get("resolveConflicts") or addon.resolve_conflicts
    backend = request.backend

    def finish(at: datetime) -> None:
        if addon.deleted or update.status != "InProgress":
            return
        addon.modified_at = backend.stamp(at)
        if fail_if_injected(backend, cluster, update, [addon.name]):
            _report_failed_update(addon, update)
            return
        addon.version = target
        addon.configuration_values = configuration_values
        addon.service_account_role_arn = role_arn
        if restarted:
            # "If you update the pod identity associations for an existing add-on, Amazon EKS initiates a rolling
            # restart of the add-on pods" [UG workloads/add-ons-iam.adoc], so they start with the new credentials.
            stamp = backend.stamp(at).strftime("%Y-%m-%dT%H:%M:%SZ")
            addon.pod_restarts.update(dict.fromkeys(restarted, stamp))
        apply_workloads(
            cluster, spec, target, True, _irsa_role(cluster, addon, role_arn), configuration, addon.pod_restarts
        )
        addon.status = "ACTIVE"
        addon.health_issues = []
        addon.degraded_for_replicas = False
        update.status = SUCCESSFUL

    backend.timeline.at(backend.clock.after(backend.catalogue.timings["addon_update"]), finish)
    return update


def _ensure_addon_idle(cluster: Cluster, addon: Addon) -> None:
    running = update_in_progress(cluster, addon=addon.name)
    if running is not None:
        raise resource_in_use(
            f"Cannot UpdateAddon because addon {addon.name} currently has update {running.id} in progress"
        )
    if addon.status in ("CREATING", "DELETING"):
        raise resource_in_use(f"Cannot UpdateAddon because addon {addon.name} is currently {addon.status}")


def _target_version(spec: AddonSpec, cluster: Cluster, addon: Addon, params: dict[str, Any]) -> str:
    """The version an UpdateAddon asks for: the current one unless ``addonVersion`` names another."""
    if not params.get("addonVersion"):
        return addon.version
    target = _compatible_version(spec, params["addonVersion"], cluster).version
    current_minor, target_minor = spec.version(addon.version).minor, spec.version(target).minor
    if spec.one_minor_version_at_a_time and abs(target_minor[1] - current_minor[1]) > 1:
        # [UG workloads/eks-add-ons.adoc @4d52b4d] "You can only update one minor version at a time"
        raise invalid_parameter(
            f"Updating {spec.name} from {addon.version} to {target} skips a minor version: {spec.name} can only "
            "be updated one minor version at a time"
        )
    return target


def _update_params(params: dict[str, Any], target: str) -> dict[str, str]:
    """The update's params: what the request changes, named as DescribeUpdate reports them."""
    update_params = {"AddonVersion": target}
    if params.get("resolveConflicts"):
        update_params["ResolveConflicts"] = params["resolveConflicts"]
    if "configurationValues" in params:
        update_params["ConfigurationValues"] = params["configurationValues"]
    if "serviceAccountRoleArn" in params:
        update_params["ServiceAccountRoleArn"] = params["serviceAccountRoleArn"]
    return update_params


def _report_failed_update(addon: Addon, update: Update) -> None:
    error = update.errors[0]
    code = error["errorCode"] if error["errorCode"] in ADDON_ISSUE_CODES else "InternalFailure"
    addon.status = "UPDATE_FAILED"
    addon.health_issues = [{"code": code, "message": error["errorMessage"], "resourceIds": []}]


@operation("DeleteAddon")
def delete_addon(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    from eks_sandbox.eks.pod_identity import delete_association

    cluster = request.cluster(params["clusterName"])
    addon = get_addon(cluster, params["addonName"])
    spec = addon_spec(request, addon.name)
    backend = request.backend
    if addon.status != "DELETING":
        addon.status = "DELETING"
        preserve = bool(params.get("preserve"))
        if not preserve:
            # The add-on's associations go with it; "You can prevent this cascading delete by using the preserve
            # option" [UG workloads/add-ons-iam.adoc].
            for association in [a for a in cluster.pod_identity_associations.values() if a.owner_arn == addon.arn]:
                delete_association(cluster, association.id)

        def deleted(at: datetime) -> None:
            # preserve=true keeps the add-on's Kubernetes resources running, now self-managed [BC DeleteAddon].
            if not preserve:
                remove_workloads(cluster, spec)
            addon.deleted = True
            cluster.addons.pop(addon.name, None)

        backend.timeline.at(backend.clock.after(backend.catalogue.timings["addon_delete"]), deleted)
    return {"addon": addon.describe(spec)}


def degrade(backend: EksBackend, cluster: Cluster, addon: Addon, code: str, message: str) -> None:
    addon.status = "DEGRADED"
    addon.degraded_for_replicas = False
    addon.health_issues = [{"code": code, "message": message, "resourceIds": []}]
    addon.modified_at = backend.clock.now()


def heal(backend: EksBackend, addon: Addon) -> None:
    addon.status = "ACTIVE"
    addon.degraded_for_replicas = False
    addon.health_issues = []
    addon.modified_at = backend.clock.now()


@operation("DescribeAddonVersions")
def describe_addon_versions(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    kubernetes_version = params.get("kubernetesVersion")
    rows = []
    for spec in request.backend.catalogue.addons.addons.values():
        if params.get("addonName") and spec.name != params["addonName"]:
            continue
        if params.get("types") and spec.type not in params["types"]:
            continue
        if params.get("publishers") and spec.publisher not in params["publishers"]:
            continue
        if params.get("owners") and spec.owner not in params["owners"]:
            continue
        versions = [
            _version_info(spec, version, kubernetes_version)
            for version in reversed(spec.versions)
            if kubernetes_version is None or kubernetes_version in version.cluster_versions
        ]
        if not versions:
            continue
        rows.append(
            {
                "addonName": spec.name,
                "type": spec.type,
                "addonVersions": versions,
                "publisher": spec.publisher,
                "owner": spec.owner,
                "defaultNamespace": spec.namespace,
            }
        )
    page, token = paginate(rows, params)
    return {"addons": page, "nextToken": token}


def _version_info(spec: AddonSpec, version: AddonVersion, kubernetes_version: str | None) -> dict[str, Any]:
    cluster_versions = [kubernetes_version] if kubernetes_version else list(version.cluster_versions)
    return {
        "addonVersion": version.version,
        "architecture": ["amd64", "arm64"],
        "computeTypes": ["ec2"],
        "compatibilities": [
            {"clusterVersion": v, "platformVersions": ["*"], "defaultVersion": v in version.default_for}
            for v in cluster_versions
        ],
        "requiresConfiguration": False,
        "requiresIamPermissions": spec.requires_iam_permissions,
    }


@operation("DescribeAddonConfiguration")
def describe_addon_configuration(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    spec = addon_spec(request, params["addonName"])
    if spec.version(params["addonVersion"]) is None:
        raise invalid_parameter(
            f"Addon version {params['addonVersion']} specified is not supported for addon {spec.name}"
        )
    return {
        "addonName": spec.name,
        "addonVersion": params["addonVersion"],
        "configurationSchema": json.dumps(spec.configuration_schema),
        "podIdentityConfiguration": spec.pod_identity_configuration(spec.version(params["addonVersion"])),
    }
