"""UpdateNodegroupVersion: replacing a managed node group's nodes, phase by phase.

Phases as EKS documents them [UG nodes/managed-node-update-behavior.adoc]:

1. setup — a new launch template version for the target AMI;
2. scale up — new nodes at the target version join, Ready;
3. upgrade — old nodes, ``maxUnavailable`` at a time: cordoned and drained through the eviction API. While a
   PodDisruptionBudget refuses, eviction is retried; 15 minutes after that node's drain started the update
   ends Failed with ``PodEvictionFailure`` (naming the node group and, as resourceIds, the nodes; not the pods
   or PDBs, as EKS) — unless ``force``, which terminates regardless of PDBs [BC].
   Drained nodes are terminated after 60 seconds;
4. scale down — back to the desired size.

Sandbox choices where the facts are silent:
- scale-up launches every replacement at once (EKS adds max(2xAZs, maxUnavailable) and lets the Auto Scaling
  group replace the rest; the same for groups of up to 2xAZs nodes), so "scale down" has nothing left to do;
- a fault rule (``update_failure``) is consulted when setup ends, before any node changes;
- on PodEvictionFailure the node group returns to ACTIVE at its old version and keeps what the update did so
  far: the new nodes stay, the blocked old nodes stay cordoned (what an operator finds after a failed update).
  A retried update only launches nodes up to the desired size and drains the nodes not yet at the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eks_sandbox import moto_compat
from eks_sandbox.eks import amis
from eks_sandbox.eks.clusters import Cluster
from eks_sandbox.eks.errors import invalid_parameter
from eks_sandbox.eks.nodegroups import (
    Nodegroup,
    ensure_nodegroup_idle,
    get_nodegroup,
    kubelet_for,
    launch_template_reference,
    max_unavailable,
    resolve_launch_template,
    resolve_version,
    validate_ami_type,
)
from eks_sandbox.eks.nodes import InsufficientFreeAddresses, ManagedNode, launch_node, terminate_node
from eks_sandbox.eks.operations import Request, operation
from eks_sandbox.eks.updates import IN_PROGRESS, SUCCESSFUL, Update, fail_if_injected, start_update

if TYPE_CHECKING:
    from eks_sandbox.eks.backend import EksBackend


@dataclass
class NodegroupUpgrade:
    backend: EksBackend
    cluster: Cluster
    nodegroup: Nodegroup
    update: Update
    version: str
    release_version: str
    launch_template: dict[str, str] | None
    force: bool
    batch: list[ManagedNode] = field(default_factory=list)
    drain_started: datetime | None = None

    @property
    def timings(self):
        return self.backend.catalogue.timings

    def _later(self, at: datetime, timing: str, step) -> None:
        self.backend.timeline.at(at + self.timings[timing], step)

    def _alive(self) -> bool:
        return not self.nodegroup.deleted and self.update.status == IN_PROGRESS

    def _at_target(self, node: ManagedNode) -> bool:
        return (node.version, node.release_version, node.launch_template_version) == (
            self.version,
            self.release_version,
            (self.launch_template or {}).get("version"),
        )

    def start(self, at: datetime) -> None:
        self.nodegroup.status = "UPDATING"
        self._later(at, "nodegroup_update_setup", self.setup_done)

    def setup_done(self, at: datetime) -> None:
        if not self._alive():
            return
        if fail_if_injected(self.backend, self.cluster, self.update, [self.nodegroup.name]):
            self._end(at)
            return
        self._later(at, "node_join", self.scale_up)

    def scale_up(self, at: datetime) -> None:
        if not self._alive():
            return
        wanted = self.nodegroup.scaling_config["desiredSize"]
        try:
            for _ in range(wanted - sum(1 for n in self.nodegroup.nodes if self._at_target(n))):
                launch_node(
                    self.cluster,
                    self.nodegroup,
                    self.version,
                    self.release_version,
                    kubelet_for(self.backend, self.version, self.release_version),
                    (self.launch_template or {}).get("version"),
                )
        except InsufficientFreeAddresses as exhausted:
            # No address for a replacement node: nothing is drained; the nodes that did launch stay, as after a
            # PodEvictionFailure, and a retried update only launches the rest.
            self.update.fail("InsufficientFreeAddresses", exhausted.MESSAGE, exhausted.subnet_ids)
            self._end(at)
            return
        self.drain_next_batch(at)

    def drain_next_batch(self, at: datetime) -> None:
        if not self._alive():
            return
        old = [n for n in self.nodegroup.nodes if not self._at_target(n)]
        if not old:
            self._succeed(at)
            return
        self.batch = old[: max_unavailable(self.nodegroup)]
        for node in self.batch:
            self.cluster.kube.cordon(node.name)
        self.drain_started = at
        self.evict(at)

    def evict(self, at: datetime) -> None:
        if not self._alive():
            return
        blocks = [block for node in self.batch for block in self.cluster.kube.evict_pods(node.name)]
        if blocks and not self.force:
            if at - self.drain_started >= self.timings["pod_eviction_timeout"]:
                self._fail_eviction(at, blocks)
            else:
                self._later(at, "node_drain_retry", self.evict)
            return
        self._later(at, "node_termination_wait", self.terminate_batch)

    def terminate_batch(self, at: datetime) -> None:
        if not self._alive():
            return
        for node in self.batch:
            # with force, pods still on the node (PDB-protected) go away with it
            terminate_node(self.cluster, self.nodegroup, node)
        self.batch = []
        self.drain_next_batch(at)

    def _fail_eviction(self, at: datetime, blocks: list[Any]) -> None:
        # EKS's own words: no pod or PodDisruptionBudget is named, only the node group, and the nodes as
        # resourceIds (aws/containers-roadmap#1282, ministryofjustice/cloud-platform#3925). Whoever reads the
        # update must find the blocking PDB in the cluster.
        self.update.fail(
            "PodEvictionFailure",
            f"Reached max retries while trying to evict pods from nodes in node group {self.nodegroup.name}",
            [n.name for n in self.batch],
        )
        self._end(at)

    def _succeed(self, at: datetime) -> None:
        self.nodegroup.version = self.version
        self.nodegroup.release_version = self.release_version
        if self.launch_template:
            self.nodegroup.launch_template = self.launch_template
        # EKS moves its own launch template (the Auto Scaling group's) to the new AMI
        moto_compat.add_launch_template_version(
            self.cluster.account,
            self.cluster.region,
            self.nodegroup.eks_launch_template_id,
            {
                "ImageId": amis.image_id(self.nodegroup.ami_type, self.release_version),
                "InstanceType": self.nodegroup.instance_type,
            },
        )
        self.update.status = SUCCESSFUL
        self._end(at)

    def _end(self, at: datetime) -> None:
        self.nodegroup.status = "ACTIVE"
        self.nodegroup.modified_at = self.backend.stamp(at)


@operation("UpdateNodegroupVersion")
def update_nodegroup_version(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    nodegroup = get_nodegroup(cluster, params["nodegroupName"])

    def run():
        update = _start(request, cluster, nodegroup, params)
        return lambda: {"update": update.describe()}

    return request.idempotent("UpdateNodegroupVersion", params, run)


def _start(request: Request, cluster: Cluster, nodegroup: Nodegroup, params: dict[str, Any]) -> Update:
    ensure_nodegroup_idle(nodegroup, "UpdateNodegroupVersion", cluster)
    launch_template = _launch_template_version(request, nodegroup, params)
    if nodegroup.custom_ami:
        version, release_version = _custom_ami_target(request, cluster, nodegroup, params)
    else:
        version, release_version = resolve_version(
            request, cluster, params, ": update the control plane first [UG update-managed-node-group.adoc]"
        )
        validate_ami_type(nodegroup.ami_type, version)
    update_params = {"Version": version, "ReleaseVersion": release_version}
    if launch_template:
        update_params |= {
            "LaunchTemplateName": launch_template["name"],
            "LaunchTemplateVersion": launch_template["version"],
        }
    update = start_update(cluster, "VersionUpdate", update_params, request.now, nodegroup=nodegroup.name)
    NodegroupUpgrade(
        backend=request.backend,
        cluster=cluster,
        nodegroup=nodegroup,
        update=update,
        version=version,
        release_version=release_version,
        launch_template=launch_template,
        force=bool(params.get("force")),
    ).start(request.now)
    return update


def _launch_template_version(request: Request, nodegroup: Nodegroup, params: dict[str, Any]) -> dict[str, str] | None:
    """The launch template version the update moves to, if it names one: only the node group's own template."""
    requested = params.get("launchTemplate")
    if not requested:
        return None
    if nodegroup.launch_template is None:
        raise invalid_parameter(
            f"Node group {nodegroup.name} was not created with a launch template and cannot switch to one "
            "[UG nodes/launch-templates.adoc]"
        )
    template = resolve_launch_template(request, requested)
    if template.id != nodegroup.launch_template["id"]:
        raise invalid_parameter(
            f"Launch template {template.id} does not match node group {nodegroup.name}'s launch template "
            f"{nodegroup.launch_template['id']}; only its version can change"
        )
    if template.image_id and params.get("releaseVersion"):
        # "If you specify launchTemplate, and your launch template uses a custom AMI, then don't specify
        # releaseVersion, or the node group update will fail" [BC UpdateNodegroupVersionRequest.releaseVersion]
        raise invalid_parameter(
            f"releaseVersion cannot be specified when the launch template {template.id} version {template.version} "
            f"specifies a custom AMI ({template.image_id})"
        )
    return launch_template_reference(template)


def _custom_ami_target(
    request: Request, cluster: Cluster, nodegroup: Nodegroup, params: dict[str, Any]
) -> tuple[str, str]:
    """Version and release version after the update of a node group running a custom AMI."""
    # Custom AMI: the launch template version is the only lever [UG nodes/launch-templates.adoc].
    for member in ("version", "releaseVersion"):
        if params.get(member):
            raise invalid_parameter(
                f"{member} cannot be specified for node group {nodegroup.name}: it runs a custom AMI from its "
                "launch template; update it with a new launch template version"
            )
    if not params.get("launchTemplate"):
        raise invalid_parameter(f"Node group {nodegroup.name} runs a custom AMI: specify a launchTemplate version")
    image = resolve_launch_template(request, params["launchTemplate"]).image_id
    return cluster.version, image or nodegroup.release_version
