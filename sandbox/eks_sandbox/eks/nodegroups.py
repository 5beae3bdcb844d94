"""Managed node groups: the model, Create/Describe/List/Delete and UpdateNodegroupConfig.

UpdateNodegroupVersion (node replacement) lives in ``nodegroup_upgrades``.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eks_sandbox import moto_compat
from eks_sandbox.eks import amis
from eks_sandbox.eks.amis import LAST_AL2_MINOR
from eks_sandbox.eks.catalogue import minor_of
from eks_sandbox.eks.cluster_versions import requested_minor
from eks_sandbox.eks.clusters import Cluster, validate_subnets
from eks_sandbox.eks.errors import invalid_parameter, invalid_request, limit_exceeded, not_found, resource_in_use
from eks_sandbox.eks.node_join import INSTANCES_FAILED_TO_JOIN, UNHEALTHY_NODES, node_creation_failure
from eks_sandbox.eks.nodes import (
    InstanceShape,
    InsufficientFreeAddresses,
    ManagedNode,
    instance_shape,
    kube_taint,
    kubelet_version,
    launch_node,
    remove_node,
)
from eks_sandbox.eks.operations import Request, operation, paginate
from eks_sandbox.eks.updates import SUCCESSFUL, Update, fail_if_injected, start_update, update_in_progress
from eks_sandbox.kube.nodes import is_ready

if TYPE_CHECKING:
    from eks_sandbox.eks.backend import EksBackend

DEFAULT_INSTANCE_TYPE = "t3.medium"


@dataclass
class Nodegroup:
    name: str
    arn: str
    cluster_name: str
    version: str
    release_version: str
    created_at: datetime
    modified_at: datetime
    capacity_type: str
    scaling_config: dict[str, int]
    instance_type: str
    shape: InstanceShape
    subnets: list[moto_compat.SubnetInfo]
    ami_type: str
    node_role: str
    labels: dict[str, str]
    taints: list[dict[str, Any]]
    disk_size: int | None
    update_config: dict[str, Any]
    launch_template: dict[str, str] | None
    tags: dict[str, str]
    asg_name: str
    #: the launch template EKS creates for the Auto Scaling group (``eks-<uuid>``), one version per AMI change
    eks_launch_template_id: str = ""
    remote_access: dict[str, Any] | None = None
    node_repair_config: dict[str, Any] | None = None
    status: str = "CREATING"
    deleted: bool = False
    nodes: list[ManagedNode] = field(default_factory=list)
    health_issues: list[dict[str, Any]] = field(default_factory=list)

    @property
    def custom_ami(self) -> bool:
        return self.ami_type == "CUSTOM"

    def image_id(self, release_version: str) -> str:
        """The AMI of a release: the custom AMI itself, else the EKS optimized AMI of that release."""
        return amis.image_id(self.ami_type, release_version)

    def owner_tags(self) -> dict[str, str]:
        """The tags EKS puts on the node group's Auto Scaling group, propagated to its instances
        [UG managed-node-groups.adoc: "Amazon EKS tags managed node group resources so that they are configured
        to use the Kubernetes Cluster Autoscaler"]."""
        return {
            "eks:cluster-name": self.cluster_name,
            "eks:nodegroup-name": self.name,
            f"kubernetes.io/cluster/{self.cluster_name}": "owned",
            f"k8s.io/cluster-autoscaler/{self.cluster_name}": "owned",
            "k8s.io/cluster-autoscaler/enabled": "true",
        }

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "nodegroupName": self.name,
            "nodegroupArn": self.arn,
            "clusterName": self.cluster_name,
            "version": self.version,
            "releaseVersion": self.release_version,
            "createdAt": self.created_at,
            "modifiedAt": self.modified_at,
            "status": self.status,
            "capacityType": self.capacity_type,
            "scalingConfig": self.scaling_config,
            "subnets": [s.id for s in self.subnets],
            "amiType": self.ami_type,
            "nodeRole": self.node_role,
            "labels": self.labels,
            "taints": self.taints,
            "resources": {"autoScalingGroups": [{"name": self.asg_name}]},
            "health": {"issues": self.health_issues},
            "updateConfig": self.update_config,
            "tags": self.tags,
        }
        # Launch-template node groups report neither instance types nor disk size: the template owns them [BC].
        if self.launch_template:
            described["launchTemplate"] = self.launch_template
        else:
            described["instanceTypes"] = [self.instance_type]
            described["diskSize"] = self.disk_size
            if self.remote_access:
                described["remoteAccess"] = self.remote_access
        if self.node_repair_config is not None:
            described["nodeRepairConfig"] = self.node_repair_config
        return described


def get_nodegroup(cluster: Cluster, name: str) -> Nodegroup:
    nodegroup = cluster.nodegroups.get(name)
    if nodegroup is None:
        raise not_found(f"No node group found for name: {name}.")
    return nodegroup


def validate_ami_type(ami_type: str, version: str) -> None:
    windows = amis.windows_release(ami_type)
    if windows is not None and minor_of(version) < windows.first_minor:
        raise invalid_parameter(
            f"AMI type {ami_type} is not supported for Kubernetes version {version}: EKS publishes Windows Server "
            f"{windows.release} AMIs from Kubernetes 1.{windows.first_minor}."
        )
    if ami_type.startswith("AL2_") and minor_of(version) > LAST_AL2_MINOR:
        raise invalid_parameter(
            f"AMI type {ami_type} is not supported for Kubernetes version {version}: EKS publishes no Amazon Linux 2 "
            "AMIs after 1.32. Use an AL2023 or Bottlerocket AMI type."
        )


def _validate_scaling(scaling: dict[str, int]) -> None:
    low, high, desired = scaling["minSize"], scaling["maxSize"], scaling["desiredSize"]
    if high < 1 or not 0 <= low <= desired <= high:
        raise invalid_parameter(
            f"Invalid scalingConfig minSize={low} desiredSize={desired} maxSize={high}: need "
            "0 <= minSize <= desiredSize <= maxSize and maxSize >= 1"
        )
    # 450 nodes per managed node group (docs.amazonaws.cn/en_us/eks/latest/userguide/service-quotas.html)
    if high > 450:
        raise invalid_parameter("maxSize cannot exceed 450 nodes per managed node group")


def _validate_update_config(config: dict[str, Any]) -> None:
    if "maxUnavailable" in config and not 1 <= config["maxUnavailable"] <= 100:
        raise invalid_parameter("updateConfig.maxUnavailable must be between 1 and 100")
    if "maxUnavailablePercentage" in config and not 1 <= config["maxUnavailablePercentage"] <= 100:
        raise invalid_parameter("updateConfig.maxUnavailablePercentage must be between 1 and 100")


def resolve_launch_template(request: Request, spec: dict[str, Any]) -> moto_compat.LaunchTemplateInfo:
    if not spec.get("id") and not spec.get("name"):
        raise invalid_parameter("launchTemplate needs an id or a name")
    template = moto_compat.launch_template(request.account, request.region, spec)
    if template is None:
        raise invalid_parameter(
            f"Launch template {spec.get('id') or spec.get('name')} version {spec.get('version') or '$Default'} "
            "does not exist"
        )
    return template


@operation("CreateNodegroup")
def create_nodegroup(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])

    def run():
        nodegroup = _create(request, cluster, params)
        return lambda: {"nodegroup": nodegroup.describe()}

    return request.idempotent("CreateNodegroup", params, run)


def _create(request: Request, cluster: Cluster, params: dict[str, Any]) -> Nodegroup:
    from eks_sandbox.eks.access_entries import register_node_role

    name = params["nodegroupName"]
    _ensure_room_for(cluster, name)
    subnets = validate_subnets(request, params["subnets"])
    template = _requested_launch_template(request, params)
    instance_type = _instance_type(params, template)
    shape = instance_shape(instance_type)
    if shape is None:
        raise invalid_parameter(f"Instance type {instance_type} is not supported")
    version, release_version, ami_type = _image(request, cluster, params, template, shape)
    scaling = {"minSize": 1, "maxSize": 2, "desiredSize": 2, **(params.get("scalingConfig") or {})}
    _validate_scaling(scaling)
    update_config = params.get("updateConfig") or {"maxUnavailable": 1}
    _validate_update_config(update_config)
    launch_template = launch_template_reference(template) if template else None
    nodegroup = Nodegroup(
        name=name,
        arn=request.arn(f"nodegroup/{cluster.name}/{name}/{uuid.uuid4()}"),
        cluster_name=cluster.name,
        version=version,
        release_version=release_version,
        created_at=request.now,
        modified_at=request.now,
        capacity_type=params.get("capacityType") or "ON_DEMAND",
        scaling_config=scaling,
        instance_type=instance_type,
        shape=shape,
        subnets=subnets,
        ami_type=ami_type,
        node_role=params["nodeRole"],
        labels=dict(params.get("labels") or {}),
        taints=list(params.get("taints") or []),
        disk_size=None if launch_template else params.get("diskSize") or 20,
        update_config=update_config,
        launch_template=launch_template,
        tags=dict(params.get("tags") or {}),
        asg_name=f"eks-{name}-{uuid.uuid4()}",
        remote_access=params.get("remoteAccess"),
        node_repair_config=params.get("nodeRepairConfig"),
    )
    cluster.nodegroups[name] = nodegroup
    _create_auto_scaling_group(cluster, nodegroup)
    register_node_role(request, cluster, nodegroup.node_role)
    backend = request.backend
    backend.timeline.at(
        backend.clock.after(backend.catalogue.timings["nodegroup_create"]),
        lambda at: _created(backend, cluster, nodegroup, at),
    )
    return nodegroup


def _create_auto_scaling_group(cluster: Cluster, nodegroup: Nodegroup) -> None:
    """The launch template and Auto Scaling group EKS creates for a node group (no instances yet)."""
    account, region = cluster.account, cluster.region
    nodegroup.eks_launch_template_id = moto_compat.create_launch_template(
        account,
        region,
        f"eks-{nodegroup.asg_name.removeprefix(f'eks-{nodegroup.name}-')}",
        {"ImageId": nodegroup.image_id(nodegroup.release_version), "InstanceType": nodegroup.instance_type},
        nodegroup.owner_tags(),
    )
    moto_compat.create_auto_scaling_group(
        account,
        region,
        name=nodegroup.asg_name,
        subnet_ids=[subnet.id for subnet in nodegroup.subnets],
        launch_template_id=nodegroup.eks_launch_template_id,
        tags=nodegroup.owner_tags(),
    )
    _size_auto_scaling_group(cluster, nodegroup)


def _size_auto_scaling_group(cluster: Cluster, nodegroup: Nodegroup) -> None:
    scaling = nodegroup.scaling_config
    moto_compat.set_group_size(
        cluster.account,
        cluster.region,
        nodegroup.asg_name,
        scaling["minSize"],
        scaling["maxSize"],
        scaling["desiredSize"],
    )


def _ensure_room_for(cluster: Cluster, name: str) -> None:
    if name in cluster.nodegroups:
        raise resource_in_use(f"NodeGroup already exists with name {name} and cluster name {cluster.name}")
    if cluster.status not in ("ACTIVE", "UPDATING"):
        raise invalid_request(
            f"Cluster {cluster.name} is {cluster.status}; node groups can be created once it is ACTIVE"
        )
    # 30 managed node groups per cluster (service-quotas.html)
    if len(cluster.nodegroups) >= 30:
        raise limit_exceeded(f"Cluster {cluster.name} already has 30 managed node groups (the quota per cluster)")


def _requested_launch_template(request: Request, params: dict[str, Any]) -> moto_compat.LaunchTemplateInfo | None:
    if not params.get("launchTemplate"):
        return None
    template = resolve_launch_template(request, params["launchTemplate"])
    if template.instance_type and params.get("instanceTypes"):
        raise invalid_parameter("Instance types cannot be specified both in the launch template and the request")
    return template


def _instance_type(params: dict[str, Any], template: moto_compat.LaunchTemplateInfo | None) -> str:
    requested = (params.get("instanceTypes") or [None])[0]
    return requested or (template.instance_type if template else None) or DEFAULT_INSTANCE_TYPE


def launch_template_reference(template: moto_compat.LaunchTemplateInfo) -> dict[str, str]:
    """The launch template as a node group describes it."""
    return {"name": template.name, "version": template.version, "id": template.id}


def _image(
    request: Request,
    cluster: Cluster,
    params: dict[str, Any],
    template: moto_compat.LaunchTemplateInfo | None,
    shape: InstanceShape,
) -> tuple[str, str, str]:
    """Kubernetes version, release version and AMI type of a new node group."""
    if template is not None and template.image_id:
        # A custom AMI in the launch template owns the version: amiType, releaseVersion and version are refused
        # [UG nodes/launch-templates.adoc; BC CreateNodegroupRequest].
        for member in ("amiType", "releaseVersion", "version"):
            if params.get(member):
                raise invalid_parameter(
                    f"{member} cannot be specified when the launch template {template.id} specifies a "
                    f"custom AMI ({template.image_id})"
                )
        return cluster.version, template.image_id, "CUSTOM"
    version, release_version = resolve_version(request, cluster, params)
    # AL2023 is the default AMI family for new managed node groups from 1.30 [UG nodes/eks-optimized-ami.adoc].
    default_ami = "AL2023_ARM_64_STANDARD" if shape.architecture == "arm64" else "AL2023_x86_64_STANDARD"
    ami_type = params.get("amiType") or default_ami
    validate_ami_type(ami_type, version)
    return version, release_version, ami_type


def resolve_version(
    request: Request, cluster: Cluster, params: dict[str, Any], newer_hint: str = ""
) -> tuple[str, str]:
    """The ``version`` (default: the cluster's) and ``releaseVersion`` (default: that version's latest AMI
    release) a node group request asks for, refused if newer than the control plane; ``newer_hint`` ends
    that refusal."""
    calendar = request.backend.catalogue.calendar
    version = params.get("version") or cluster.version
    if requested_minor(version) > minor_of(cluster.version):
        raise invalid_parameter(
            f"Requested Nodegroup version {version} is newer than cluster {cluster.name}'s version "
            f"{cluster.version}{newer_hint}"
        )
    if calendar.get(version) is None:
        raise invalid_parameter(f"unsupported Kubernetes version {version}")
    release_version = params.get("releaseVersion") or calendar.get(version).ami_release_version(request.now.date())
    amis.validate_release_version(calendar, version, release_version, request.now.date())
    return version, release_version


def _created(backend: EksBackend, cluster: Cluster, nodegroup: Nodegroup, at: datetime) -> None:
    if nodegroup.deleted:
        return
    nodegroup.modified_at = backend.stamp(at)
    try:
        scale_to(backend, cluster, nodegroup, nodegroup.scaling_config["desiredSize"])
    except InsufficientFreeAddresses as exhausted:
        # The Auto Scaling group cannot launch the nodes: creation fails with the health issue saying why
        # [BC NodegroupIssueCode InsufficientFreeAddresses].
        nodegroup.status = "CREATE_FAILED"
        nodegroup.health_issues = [exhausted.issue()]
        return
    failure = _injected_creation_failure(backend, cluster, nodegroup) or _node_creation_failure(cluster, nodegroup)
    if failure is not None:
        # CREATE_FAILED stays, even once the nodes could join: the node group is deleted and created again
        # (aws/containers-roadmap#764).
        nodegroup.status = "CREATE_FAILED"
        nodegroup.health_issues = [failure]
        return
    nodegroup.status = "ACTIVE"


def _injected_creation_failure(backend: EksBackend, cluster: Cluster, nodegroup: Nodegroup) -> dict[str, Any] | None:
    """The health issue a ``nodegroup_creation_failure`` fault rule gives this creation, naming its instances."""
    rule = backend.sandbox.faults.nodegroup_creation_failure_for(cluster.name, nodegroup.name)
    if rule is None:
        return None
    return {"code": rule.code, "message": rule.message, "resourceIds": [node.instance_id for node in nodegroup.nodes]}


def _node_creation_failure(cluster: Cluster, nodegroup: Nodegroup) -> dict[str, Any] | None:
    """The NodeCreationFailure issue of a node group whose instances did not all become Ready nodes by the end of
    its creation: those that never registered, else those registered but NotReady (``node_join``)."""
    unjoined = [node.instance_id for node in nodegroup.nodes if not node.joined]
    if unjoined:
        return node_creation_failure(INSTANCES_FAILED_TO_JOIN, unjoined)
    unready = [
        node.instance_id
        for node in nodegroup.nodes
        if not is_ready(cluster.kube.get("v1", "Node", node.name) or {"status": {}})
    ]
    if unready:
        return node_creation_failure(UNHEALTHY_NODES, unready)
    return None


def launch_current_node(backend: EksBackend, cluster: Cluster, nodegroup: Nodegroup) -> ManagedNode:
    """One more instance at the node group's current version, as the Auto Scaling group launches it."""
    return launch_node(
        cluster,
        nodegroup,
        nodegroup.version,
        nodegroup.release_version,
        kubelet_for(backend, nodegroup.version, nodegroup.release_version),
        (nodegroup.launch_template or {}).get("version"),
    )


def kubelet_for(backend: EksBackend, version: str, release_version: str) -> str:
    if release_version.startswith("ami-"):
        # A custom AMI's kubelet is unknown: assume it was built for the node group's version.
        return kubelet_version(backend.catalogue.calendar.get(version).ami_release_version(backend.clock.now().date()))
    return kubelet_version(release_version)


def scale_to(backend: EksBackend, cluster: Cluster, nodegroup: Nodegroup, desired: int) -> None:
    """Launch or terminate instances until ``desired`` run; raises InsufficientFreeAddresses (keeping the nodes
    launched so far) when the subnets run out of addresses."""
    _size_auto_scaling_group(cluster, nodegroup)
    while len(nodegroup.nodes) < desired:
        launch_current_node(backend, cluster, nodegroup)
    while len(nodegroup.nodes) > desired:
        remove_node(cluster, nodegroup, nodegroup.nodes[-1])


@operation("DescribeNodegroup")
def describe_nodegroup(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    return {"nodegroup": get_nodegroup(cluster, params["nodegroupName"]).describe()}


@operation("ListNodegroups")
def list_nodegroups(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    page, token = paginate(sorted(cluster.nodegroups), params)
    return {"nodegroups": page, "nextToken": token}


@operation("DeleteNodegroup")
def delete_nodegroup(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    nodegroup = get_nodegroup(cluster, params["nodegroupName"])
    backend = request.backend
    if nodegroup.status != "DELETING":
        nodegroup.status = "DELETING"
        nodegroup.modified_at = request.now

        def deleted(at: datetime) -> None:
            # EKS drains the nodes (PodDisruptionBudgets are honoured as far as they allow) and terminates them.
            for node in list(nodegroup.nodes):
                remove_node(cluster, nodegroup, node)
            moto_compat.delete_auto_scaling_group(cluster.account, cluster.region, nodegroup.asg_name)
            moto_compat.delete_launch_template(cluster.account, cluster.region, nodegroup.eks_launch_template_id)
            nodegroup.deleted = True
            cluster.nodegroups.pop(nodegroup.name, None)

        backend.timeline.at(backend.clock.after(backend.catalogue.timings["nodegroup_delete"]), deleted)
    return {"nodegroup": nodegroup.describe()}


def ensure_nodegroup_idle(nodegroup: Nodegroup, operation_name: str, cluster: Cluster) -> None:
    running = update_in_progress(cluster, nodegroup=nodegroup.name)
    if running is not None:
        raise resource_in_use(
            f"Cannot {operation_name} because nodegroup {nodegroup.name} currently has update {running.id} in progress"
        )
    if nodegroup.status not in ("ACTIVE", "DEGRADED"):
        raise resource_in_use(
            f"Cannot {operation_name} because nodegroup {nodegroup.name} is currently {nodegroup.status}"
        )


@operation("UpdateNodegroupConfig")
def update_nodegroup_config(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    nodegroup = get_nodegroup(cluster, params["nodegroupName"])

    def run():
        update = _start_config_update(request, cluster, nodegroup, params)
        return lambda: {"update": update.describe()}

    return request.idempotent("UpdateNodegroupConfig", params, run)


def _start_config_update(request: Request, cluster: Cluster, nodegroup: Nodegroup, params: dict[str, Any]) -> Update:
    ensure_nodegroup_idle(nodegroup, "UpdateNodegroupConfig", cluster)
    labels = params.get("labels") or {}
    taints = params.get("taints") or {}
    scaling = {**nodegroup.scaling_config, **(params.get("scalingConfig") or {})}
    _validate_scaling(scaling)
    update_config = params.get("updateConfig")
    if update_config:
        _validate_update_config(update_config)
    update_params = _config_update_params(params, scaling)
    if not update_params:
        raise invalid_parameter("No changes needed for the provided node group configuration")
    update = start_update(cluster, "ConfigUpdate", update_params, request.now, nodegroup=nodegroup.name)
    nodegroup.status = "UPDATING"
    backend = request.backend

    def finish(at: datetime) -> None:
        if nodegroup.deleted or update.status != "InProgress":
            return
        nodegroup.status = "ACTIVE"
        nodegroup.modified_at = backend.stamp(at)
        if fail_if_injected(backend, cluster, update, [nodegroup.name]):
            return
        _apply_labels_and_taints(cluster, nodegroup, labels, taints)
        nodegroup.scaling_config = scaling
        if update_config:
            nodegroup.update_config = update_config
        if params.get("nodeRepairConfig") is not None:
            nodegroup.node_repair_config = params["nodeRepairConfig"]
        _scale_for_update(backend, cluster, nodegroup, update)

    backend.timeline.at(backend.clock.after(backend.catalogue.timings["nodegroup_config_update"]), finish)
    return update


def _scale_for_update(backend: EksBackend, cluster: Cluster, nodegroup: Nodegroup, update: Update) -> None:
    """Scale to the new desired size; subnets out of addresses fail the update and leave the node group DEGRADED
    with the health issue, the nodes that could launch kept."""
    try:
        scale_to(backend, cluster, nodegroup, nodegroup.scaling_config["desiredSize"])
    except InsufficientFreeAddresses as exhausted:
        nodegroup.status = "DEGRADED"
        nodegroup.health_issues = [exhausted.issue()]
        update.fail("InsufficientFreeAddresses", exhausted.MESSAGE, exhausted.subnet_ids)
        return
    nodegroup.health_issues = []
    update.status = SUCCESSFUL


def _config_update_params(params: dict[str, Any], scaling: dict[str, int]) -> dict[str, str]:
    """The update's params: what an UpdateNodegroupConfig changes, named as DescribeUpdate reports them."""
    update_params: dict[str, str] = {}
    labels = params.get("labels") or {}
    taints = params.get("taints") or {}
    for key, value in (
        ("LabelsToAdd", labels.get("addOrUpdateLabels")),
        ("LabelsToRemove", labels.get("removeLabels")),
        ("TaintsToAdd", taints.get("addOrUpdateTaints")),
        ("TaintsToRemove", taints.get("removeTaints")),
    ):
        if value:
            update_params[key] = json.dumps(value)
    for key, member in (("MinSize", "minSize"), ("MaxSize", "maxSize"), ("DesiredSize", "desiredSize")):
        if member in (params.get("scalingConfig") or {}):
            update_params[key] = str(scaling[member])
    update_config = params.get("updateConfig") or {}
    for key, member in (
        ("MaxUnavailable", "maxUnavailable"),
        ("MaxUnavailablePercentage", "maxUnavailablePercentage"),
        ("UpdateStrategy", "updateStrategy"),
    ):
        if member in update_config:
            update_params[key] = str(update_config[member])
    if params.get("nodeRepairConfig") is not None:
        update_params["NodeRepairEnabled"] = str(bool(params["nodeRepairConfig"].get("enabled"))).lower()
    return update_params


def _apply_labels_and_taints(
    cluster: Cluster, nodegroup: Nodegroup, labels: dict[str, Any], taints: dict[str, Any]
) -> None:
    """EKS applies label and taint changes to the running nodes too, without replacing them."""
    removed_labels = set(labels.get("removeLabels") or [])
    added_labels = labels.get("addOrUpdateLabels") or {}
    nodegroup.labels = {k: v for k, v in nodegroup.labels.items() if k not in removed_labels} | added_labels
    removed_keys = {(t["key"], t["effect"]) for t in taints.get("removeTaints") or []}
    added = taints.get("addOrUpdateTaints") or []
    added_keys = {(t["key"], t["effect"]) for t in added}
    nodegroup.taints = [t for t in nodegroup.taints if (t["key"], t["effect"]) not in removed_keys | added_keys] + list(
        added
    )
    if not (labels or taints):
        return
    for node in nodegroup.nodes:
        obj = cluster.kube.get("v1", "Node", node.name)
        if obj is None:
            continue
        metadata = obj.setdefault("metadata", {})
        node_labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k not in removed_labels}
        metadata["labels"] = node_labels | added_labels
        kube_removed = {(t["key"], kube_taint(t)["effect"]) for t in taints.get("removeTaints") or []}
        kube_added = [kube_taint(t) for t in added]
        replaced = kube_removed | {(t["key"], t["effect"]) for t in kube_added}
        spec = obj.setdefault("spec", {})
        spec["taints"] = [t for t in spec.get("taints") or [] if (t["key"], t["effect"]) not in replaced] + kube_added
        cluster.kube.apply(obj)


def max_unavailable(nodegroup: Nodegroup) -> int:
    config = nodegroup.update_config
    if config.get("maxUnavailablePercentage"):
        return max(1, math.floor(nodegroup.scaling_config["desiredSize"] * config["maxUnavailablePercentage"] / 100))
    return config.get("maxUnavailable") or 1
