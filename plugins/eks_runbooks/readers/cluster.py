"""Read a cluster's state from AWS and Kubernetes into the plain data the domain core decides on.

Nothing here decides anything: it calls the read-only AWS and Kubernetes APIs (plus StartInsightsRefresh,
which changes no cluster state) and returns dicts shaped exactly as those APIs serve them — Kubernetes objects
in their camelCase wire form — so that the core's checks see what an engineer would see with the AWS CLI and
kubectl.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eks_runbooks.core.eks.versions import minor_of
from eks_runbooks.core.kubernetes.deprecations import DeprecatedObject, RemovedApi, find_removed_apis, load_api_removals
from eks_runbooks.core.upgrade.plan import Hop
from eks_runbooks.core.upgrade.preflight import PreflightInputs
from eks_runbooks.core.upgrade.validation import ValidationProblem, WorkloadSnapshot, snapshot_workloads, validate_hop

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from eks_runbooks.hooks.ec2 import Ec2NetworkHook
    from eks_runbooks.hooks.eks import EksRunbookHook


#: Objects per list request: kubectl's default ``--chunk-size``.
LIST_CHUNK_SIZE = 500
#: A discovery cache path no file can have (os.devnull is not a directory).
_NO_CACHE_FILE = str(Path(os.devnull) / "discovery-cache.json")


@cache
def _in_memory_discoverer() -> type:
    """The Kubernetes client's lazy discoverer, never writing its cache file."""
    from kubernetes.dynamic.discovery import LazyDiscoverer

    class InMemoryDiscoverer(LazyDiscoverer):
        def _write_cache(self) -> None:
            pass

    return InMemoryDiscoverer


class KubernetesReader:
    """Lists a cluster's objects, each (apiVersion, kind, selectors) once per reader.

    One pre-flight looks at the same kinds for several purposes (PDB drains, removed APIs, the workload
    baseline); a reader per read of the cluster keeps that to one request per kind and one discovery.
    """

    def __init__(self, api_client: ApiClient) -> None:
        from kubernetes.dynamic import DynamicClient

        # The client caches discovery in $TMPDIR/osrcp-<hash>.json per cluster and never removes it; a runbook
        # leaves nothing behind, and a reader lives for one read of the cluster anyway. A cache file that exists
        # but is not JSON (os.devnull) makes the client log "load cache error" at ERROR on every read: the
        # discoverer keeps discovery in memory instead, from a path that cannot exist.
        self._dynamic = DynamicClient(api_client, cache_file=_NO_CACHE_FILE, discoverer=_in_memory_discoverer())
        self._listed: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[dict[str, Any]]] = {}

    def list(self, api_version: str, kind: str, **selectors: str) -> list[dict[str, Any]]:
        """Every object of a kind, each carrying the apiVersion and kind it was listed through (List items
        omit them)."""
        key = (api_version, kind, tuple(sorted(selectors.items())))
        if key not in self._listed:
            resource = self._dynamic.resources.get(api_version=api_version, kind=kind)
            items: list[dict[str, Any]] = []
            token = None
            while True:  # in chunks, as kubectl lists: one response never holds a large cluster's every pod
                page = resource.get(limit=LIST_CHUNK_SIZE, _continue=token, **selectors).to_dict()
                items.extend(page.get("items") or [])
                token = (page.get("metadata") or {}).get("continue")
                if not token:
                    break
            self._listed[key] = [{**item, "apiVersion": api_version, "kind": kind} for item in items]
        return self._listed[key]

    def forget_listed(self) -> None:
        """Drop the lists read so far (discovery is kept): the next ``list`` reads the cluster again."""
        self._listed.clear()

    def serves(self, api_version: str, kind: str) -> bool:
        """Whether the cluster's API server offers this apiVersion of the kind with a ``list`` verb (discovery).

        Request-only kinds (SelfSubjectReview, TokenReview …) are served for ``create`` only: never stored, they
        have nothing to list, and listing them answers 405.
        """
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            resource = self._dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            return False
        return "list" in (resource.verbs or [])

    def listable_versions(self, group: str, kind: str) -> list[str]:
        """Every apiVersion (``group/version``) through which the cluster lists the kind, preferred first
        (discovery only: no request against the kind itself)."""
        found = self._dynamic.resources.search(group=group, kind=kind)
        listable = [
            resource
            for resource in found
            if "/" not in (resource.name or "") and "list" in (resource.verbs or []) and resource.kind == kind
        ]
        ordered = sorted(listable, key=lambda resource: not resource.preferred)
        return list(dict.fromkeys(resource.group_version for resource in ordered))


def gather_preflight_inputs(
    hook: EksRunbookHook,
    kube: KubernetesReader,
    cluster_name: str,
    hop: Hop,
    *,
    force_node_drain: bool = False,
    refresh_insights: bool = True,
    waiter_delay: float = 15,
    removals: Iterable[RemovedApi] | None = None,
) -> PreflightInputs:
    """Everything the pre-flight gates of one hop look at, read from AWS and the cluster's Kubernetes API.

    :param waiter_delay: seconds between DescribeInsightsRefresh calls while the refresh runs.
    """
    cluster = hook.get_cluster(cluster_name)
    addons = hook.describe_addons(cluster_name)
    addon_versions = [
        entry for addon in addons for entry in hook.describe_addon_versions(hop.to_version, addon["addonName"])
    ]
    subnets = network_hook(hook).describe_subnets(cluster["resourcesVpcConfig"]["subnetIds"])
    return PreflightInputs(
        cluster_name=cluster_name,
        cluster=cluster,
        hop_from=hop.from_version,
        hop_to=hop.to_version,
        updates=hook.recent_updates(cluster_name),
        nodegroups=hook.describe_nodegroups(cluster_name),
        addons=addons,
        addon_versions=addon_versions,
        subnets=subnets,
        insights=read_upgrade_insights(hook, cluster_name, refresh=refresh_insights, waiter_delay=waiter_delay),
        nodes=kube.list("v1", "Node"),
        pods=kube.list("v1", "Pod"),
        pdbs=kube.list("policy/v1", "PodDisruptionBudget"),
        deployments=kube.list("apps/v1", "Deployment"),
        statefulsets=kube.list("apps/v1", "StatefulSet"),
        deprecation_findings=scan_removed_apis(
            kube, current_version=cluster["version"], target_version=hop.to_version, removals=removals
        ),
        force_node_drain=force_node_drain,
    )


def read_upgrade_insights(
    hook: EksRunbookHook, cluster_name: str, *, refresh: bool, waiter_delay: float = 15, waiter_max_attempts: int = 40
) -> list[dict[str, Any]]:
    """UPGRADE_READINESS insights, refreshed first when asked (Insights otherwise refresh once a day)."""
    return hook.describe_insights(
        cluster_name,
        ["UPGRADE_READINESS"],
        refresh=refresh,
        waiter_delay=waiter_delay,
        waiter_max_attempts=waiter_max_attempts,
    )


def read_workload_snapshot(kube: KubernetesReader) -> WorkloadSnapshot:
    """How available every Deployment, StatefulSet and DaemonSet is now (the pre-flight baseline)."""
    return snapshot_workloads(
        kube.list("apps/v1", "Deployment"),
        kube.list("apps/v1", "StatefulSet"),
        kube.list("apps/v1", "DaemonSet"),
    )


def check_hop_done(
    hook: EksRunbookHook,
    kube: KubernetesReader,
    cluster_name: str,
    hop: Hop,
    workloads_at_preflight: WorkloadSnapshot,
) -> list[ValidationProblem]:
    """Every reason the hop is not finished yet: ``core.upgrade.validation.validate_hop`` on the cluster's state
    now."""
    in_kube_system = [
        daemonset
        for daemonset in kube.list("apps/v1", "DaemonSet")
        if daemonset["metadata"].get("namespace") == "kube-system"
    ]
    coredns = next(
        (
            deployment
            for deployment in kube.list("apps/v1", "Deployment")
            if (deployment["metadata"].get("namespace"), deployment["metadata"]["name"]) == ("kube-system", "coredns")
        ),
        None,
    )
    return validate_hop(
        hop.to_version,
        hook.get_cluster(cluster_name),
        kube.list("v1", "Node"),
        hook.describe_addons(cluster_name),
        read_workload_snapshot(kube),
        workloads_at_preflight,
        in_kube_system,
        coredns,
    )


def scan_removed_apis(
    kube: KubernetesReader,
    *,
    current_version: str,
    target_version: str,
    removals: Iterable[RemovedApi] | None = None,
) -> list[DeprecatedObject]:
    """Objects of apiVersions removed between the cluster's version and the target, wherever they show.

    Looks in Helm release storage (Secrets and ConfigMaps), in last-applied annotations and managedFields, and
    finds the objects of every kind the cluster still serves through a removed apiVersion. Those are listed
    through a version that stays: the apiserver serves the same object, metadata and managedFields included,
    through each version, and a request through the removed one would itself show up in EKS Insights as a
    client of the deprecated API (and so block the next pre-flight on the runbook's own reads).
    """
    removals = tuple(removals if removals is not None else load_api_removals())
    current, target = minor_of(current_version), minor_of(target_version)
    window = [removal for removal in removals if current < minor_of(removal.removed_in) <= target]
    leaving = {(removal.api_version, removal.kind) for removal in window}
    live = []
    for removal in window:
        group = removal.api_version.rpartition("/")[0]
        served = kube.listable_versions(group, removal.kind)
        if removal.api_version not in served:
            continue
        through = next((version for version in served if (version, removal.kind) not in leaving), removal.api_version)
        # Labelled with the removed apiVersion they are also served through; only their metadata is read.
        live += [{**obj, "apiVersion": removal.api_version} for obj in kube.list(through, removal.kind)]
    workloads_with_annotations = [
        *kube.list("apps/v1", "Deployment"),
        *kube.list("apps/v1", "DaemonSet"),
        *kube.list("apps/v1", "StatefulSet"),
        *kube.list("v1", "Service"),
    ]
    return find_removed_apis(
        target_version,
        helm_secrets=kube.list("v1", "Secret", field_selector="type=helm.sh/release.v1"),
        helm_configmaps=kube.list("v1", "ConfigMap", label_selector="owner=helm"),
        live_objects=[*live, *workloads_with_annotations],
        removals=removals,
        current_version=current_version,
    )


def list_objects(api_client: ApiClient, path: str) -> list[dict[str, Any]]:
    """Every object of a list path (``/api/v1/pods``), in kubectl's chunks, as the API's JSON: no discovery and no
    model objects built for each item (a fleet task lists thousands of pods)."""
    items: list[dict[str, Any]] = []
    token = None
    while True:
        query = [("limit", LIST_CHUNK_SIZE)] + ([("continue", token)] if token else [])
        response = api_client.call_api(
            path,
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _preload_content=False,
        )
        page = json.loads(response.data)
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items


def network_hook(hook: EksRunbookHook) -> Ec2NetworkHook:
    """The EC2 reads for the same connection, region, page size and boto3 session as the EKS hook (made once per
    EKS hook)."""
    from eks_runbooks.hooks.ec2 import Ec2NetworkHook

    return hook.sibling(Ec2NetworkHook)
