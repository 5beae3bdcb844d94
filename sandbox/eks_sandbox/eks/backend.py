"""The state of the simulated EKS: every account and region, the clock-driven transitions, the operations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from eks_sandbox import moto_compat
from eks_sandbox.eks import (  # noqa: F401 - importing registers each module's operations
    access_entries,
    addons,
    cluster_config,
    cluster_versions,
    clusters,
    fargate,
    fargate_pods,
    insights,
    node_join,
    nodegroup_upgrades,
    nodegroups,
    pod_credentials,
    pod_identity,
    updates,
)
from eks_sandbox.eks.amis import PublicAmiParameters
from eks_sandbox.eks.aws_sdks import load_sdk_minimums
from eks_sandbox.eks.catalogue import Catalogue, load_catalogue
from eks_sandbox.eks.errors import invalid_request, not_found
from eks_sandbox.eks.operations import OPERATIONS, Request
from eks_sandbox.eks.timeline import Timeline

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster
    from eks_sandbox.world import Sandbox

#: How often the simulated EKS looks for clusters past the end of their support (EKS upgrades them "gradually",
#: at no announced time [UG versioning/kubernetes-versions.adoc]).
SUPPORT_LOOK_INTERVAL = timedelta(hours=1)


@dataclass
class RegionState:
    """Everything EKS holds for one account in one region."""

    clusters: dict[str, clusters.Cluster] = field(default_factory=dict)
    #: (operation, cluster, clientRequestToken) → (request fingerprint, how to render the original result)
    request_tokens: dict[tuple[str, str | None, str], tuple[str, Callable[[], dict[str, Any]]]] = field(
        default_factory=dict
    )


def serve_service_quotas(include_dir: Path) -> None:
    """Let the Service Quotas API answer EKS's default quotas (``include/eks/service-quotas.yaml``): a bootstrap
    pre-flight reads the regional cluster quota there, and moto knows no EKS quota."""
    data = yaml.safe_load((include_dir / "eks" / "service-quotas.yaml").read_text())
    moto_compat.serve_default_service_quotas("eks", data["service_name"], data["quotas"])


class EksBackend:
    """The simulated EKS control plane of one sandbox. Every method is called with ``sandbox.lock`` held."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.clock = sandbox.clock
        self.catalogue: Catalogue = load_catalogue(sandbox.include_dir)
        self.timeline = Timeline(self.clock)
        #: the SSM public parameters naming the EKS optimized AMIs, kept at the world date's releases
        self.ami_parameters = PublicAmiParameters(self.catalogue.calendar)
        self._regions: dict[tuple[str, str], RegionState] = {}
        self._next_support_look: datetime | None = None
        serve_service_quotas(sandbox.include_dir)

    # --- time ------------------------------------------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Apply, in time order, every transition due at ``now`` (called at the start of every request), and
        start the upgrades EKS makes itself at the end of support (looked for once per simulated hour)."""
        self.timeline.run_due(now)
        if self._next_support_look is None or now >= self._next_support_look:
            cluster_versions.start_automatic_upgrades(
                self, [cluster for state in self._regions.values() for cluster in state.clusters.values()], now
            )
            self._next_support_look = now + SUPPORT_LOOK_INTERVAL

    def settle(self) -> None:
        """Complete everything in flight at once, in the order it would have happened.

        The clock is not moved: a chain that would end in the future (a 15-minute drain timeout) is decided by
        its own simulated timestamps, and recorded times are capped at the current simulated time.
        """
        self.timeline.run_all()

    def stamp(self, at: datetime) -> datetime:
        """The timestamp to record for a transition due at ``at`` (``settle`` may run it ahead of the clock)."""
        return min(at, self.clock.now())

    # --- requests --------------------------------------------------------------------------------------------

    def region(self, account: str, region: str) -> RegionState:
        return self._regions.setdefault((account, region), RegionState())

    def handle(
        self, operation: str, params: dict[str, Any], account: str, region: str, access_key: str = ""
    ) -> dict[str, Any]:
        """Run one EKS operation (input keyed by botocore member names); returns its output or raises EksError."""
        handler = OPERATIONS.get(operation)
        if handler is None:
            raise invalid_request(
                f"{operation} is not simulated by the EKS sandbox (see docs/sandbox-design.md); nothing was changed"
            )
        return handler(Request(self, account, region, self.clock.now(), access_key), params)

    def cluster(self, account: str, region: str, name: str) -> clusters.Cluster:
        cluster = self.region(account, region).clusters.get(name)
        if cluster is None:
            raise not_found(f"No cluster found for name: {name}.")
        return cluster

    def describe_cluster(self, cluster: clusters.Cluster) -> dict[str, Any]:
        return cluster.describe(self.sandbox.kube_endpoint(cluster.id), self.sandbox.tls.data)

    # --- the Kubernetes side ---------------------------------------------------------------------------------

    def create_kube_cluster(self, cluster_id: str, name: str, version: str, account: str, region: str) -> KubeCluster:
        from eks_sandbox.kube.cluster import EksLink, KubeCluster

        patches = {entry.version: entry.kubernetes_patch for entry in self.catalogue.calendar.versions}
        link = EksLink(account, region, patches, self.catalogue.timings["pod_startup"], self.timeline.at)
        return KubeCluster(name, version, self.clock, link)

    def attach_kube_cluster(self, cluster: clusters.Cluster) -> None:
        """Serve the cluster's Kubernetes API at its endpoint, authenticate its callers through access entries and
        aws-auth, install the credential-injection webhook, and let its kubelets decide which containers really
        get AWS credentials and whether their node's network is ready."""
        self.sandbox.kube_clusters[cluster.id] = cluster.kube
        cluster.kube.access = access_entries.ClusterAccess(
            cluster, access_entries.load_access_policies(self.sandbox.include_dir)
        )
        cluster.kube.pod_mutators.append(pod_identity.CredentialInjector(cluster, cluster.region))
        cluster.kube.pod_mutators.append(fargate_pods.FargateAdmission(cluster))
        cluster.kube.schedulers.append(fargate_pods.FargateScheduler(cluster))
        cluster.kube.network_ready = node_join.cluster_network_ready
        timings = self.catalogue.timings
        cluster.kube.container_credentials = pod_credentials.CredentialRules(
            cluster,
            load_sdk_minimums(self.sandbox.include_dir),
            pod_credentials.RefreshTimes(
                irsa=timings["irsa_credential_refresh"],
                pod_identity=timings["pod_identity_credential_cache"],
                pod_identity_target_role=timings["pod_identity_target_role_credential_cache"],
            ),
        )

    def forget_cluster(self, cluster: clusters.Cluster) -> None:
        cluster.deleted = True
        self.region(cluster.account, cluster.region).clusters.pop(cluster.name, None)
        self.sandbox.kube_clusters.pop(cluster.id, None)

    # --- fault injection -------------------------------------------------------------------------------------

    def degrade_addon(
        self, account: str, region: str, cluster: str, addon: str, code: str, message: str
    ) -> dict[str, Any]:
        """Put a managed add-on in DEGRADED with one health issue (``POST /_sandbox/addons/degrade``)."""
        found = self.cluster(account, region, cluster)
        target = addons.get_addon(found, addon)
        addons.degrade(self, found, target, code, message)
        return target.describe(self.catalogue.addons.get(target.name))

    def heal_addon(self, account: str, region: str, cluster: str, addon: str) -> dict[str, Any]:
        """Back to ACTIVE with no health issues (``POST /_sandbox/addons/heal``)."""
        target = addons.get_addon(self.cluster(account, region, cluster), addon)
        addons.heal(self, target)
        return target.describe(self.catalogue.addons.get(target.name))
