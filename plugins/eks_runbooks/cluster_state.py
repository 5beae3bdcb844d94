"""Read a cluster's state from AWS and Kubernetes into the plain data the domain core decides on.

Nothing here decides anything: it calls the read-only AWS and Kubernetes APIs (plus StartInsightsRefresh,
which changes no cluster state) and returns dicts shaped exactly as those APIs serve them — Kubernetes objects
in their camelCase wire form — so that the core's checks see what an engineer would see with the AWS CLI and
kubectl.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from eks_runbooks.core.deprecations import DeprecatedObject, RemovedApi, find_removed_apis, load_api_removals
from eks_runbooks.core.preflight import PreflightInputs
from eks_runbooks.core.upgrade_plan import Hop
from eks_runbooks.core.validation import ValidationProblem, WorkloadSnapshot, snapshot_workloads, validate_hop
from eks_runbooks.core.versions import minor_of

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from eks_runbooks.hooks.eks import EksRunbookHook

#: How many of the cluster's most recent updates pre-flight looks at (an update in flight is among them).
RECENT_UPDATES = 10


def gather_preflight_inputs(
    hook: EksRunbookHook,
    api_client: ApiClient,
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
    eks = hook.conn
    cluster = eks.describe_cluster(name=cluster_name)["cluster"]
    nodegroups = [
        eks.describe_nodegroup(clusterName=cluster_name, nodegroupName=name)["nodegroup"]
        for name in hook.list_nodegroups(clusterName=cluster_name)
    ]
    addons = [
        eks.describe_addon(clusterName=cluster_name, addonName=name)["addon"]
        for name in _paginate(eks, "list_addons", "addons", clusterName=cluster_name)
    ]
    addon_versions = [
        entry
        for addon in addons
        for entry in eks.describe_addon_versions(kubernetesVersion=hop.to_version, addonName=addon["addonName"])[
            "addons"
        ]
    ]
    update_ids = eks.list_updates(name=cluster_name)["updateIds"][-RECENT_UPDATES:]
    updates = [eks.describe_update(name=cluster_name, updateId=update_id)["update"] for update_id in update_ids]
    subnet_ids = cluster["resourcesVpcConfig"]["subnetIds"]
    subnets = _ec2(hook).describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    kubernetes = read_workloads(api_client)
    return PreflightInputs(
        cluster_name=cluster_name,
        cluster=cluster,
        hop_from=hop.from_version,
        hop_to=hop.to_version,
        updates=updates,
        nodegroups=nodegroups,
        addons=addons,
        addon_versions=addon_versions,
        subnets=subnets,
        insights=read_upgrade_insights(hook, cluster_name, refresh=refresh_insights, waiter_delay=waiter_delay),
        deprecation_findings=scan_removed_apis(
            api_client, current_version=cluster["version"], target_version=hop.to_version, removals=removals
        ),
        force_node_drain=force_node_drain,
        **kubernetes,
    )


def read_upgrade_insights(
    hook: EksRunbookHook, cluster_name: str, *, refresh: bool, waiter_delay: float = 15, waiter_max_attempts: int = 40
) -> list[dict[str, Any]]:
    """UPGRADE_READINESS insights, refreshed first when asked (Insights otherwise refresh once a day)."""
    eks = hook.conn
    if refresh:
        eks.start_insights_refresh(clusterName=cluster_name)
        hook.get_waiter("insights_refresh_completed").wait(
            clusterName=cluster_name, WaiterConfig={"Delay": waiter_delay, "MaxAttempts": waiter_max_attempts}
        )
    summaries = _paginate(
        eks, "list_insights", "insights", clusterName=cluster_name, filter={"categories": ["UPGRADE_READINESS"]}
    )
    return [eks.describe_insight(clusterName=cluster_name, id=summary["id"])["insight"] for summary in summaries]


def read_workloads(api_client: ApiClient) -> dict[str, list[dict[str, Any]]]:
    """Nodes, pods, PodDisruptionBudgets, Deployments and StatefulSets of every namespace."""
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(api_client)
    return {
        name: _list(dynamic, api_version, kind)
        for name, api_version, kind in (
            ("nodes", "v1", "Node"),
            ("pods", "v1", "Pod"),
            ("pdbs", "policy/v1", "PodDisruptionBudget"),
            ("deployments", "apps/v1", "Deployment"),
            ("statefulsets", "apps/v1", "StatefulSet"),
        )
    }


def read_workload_snapshot(api_client: ApiClient) -> WorkloadSnapshot:
    """How available every Deployment, StatefulSet and DaemonSet is now (the pre-flight baseline)."""
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(api_client)
    return snapshot_workloads(
        _list(dynamic, "apps/v1", "Deployment"),
        _list(dynamic, "apps/v1", "StatefulSet"),
        _list(dynamic, "apps/v1", "DaemonSet"),
    )


def check_hop_done(
    hook: EksRunbookHook,
    api_client: ApiClient,
    cluster_name: str,
    hop: Hop,
    workloads_at_preflight: WorkloadSnapshot,
) -> list[ValidationProblem]:
    """Every reason the hop is not finished yet (``core.validation.validate_hop`` on the cluster's state now)."""
    from kubernetes.dynamic import DynamicClient

    eks = hook.conn
    dynamic = DynamicClient(api_client)
    addons = [
        eks.describe_addon(clusterName=cluster_name, addonName=name)["addon"]
        for name in _paginate(eks, "list_addons", "addons", clusterName=cluster_name)
    ]
    kube_system_daemonsets = _list(dynamic, "apps/v1", "DaemonSet", namespace="kube-system")
    coredns = [
        deployment
        for deployment in _list(dynamic, "apps/v1", "Deployment", namespace="kube-system")
        if deployment["metadata"]["name"] == "coredns"
    ]
    return validate_hop(
        hop.to_version,
        eks.describe_cluster(name=cluster_name)["cluster"],
        _list(dynamic, "v1", "Node"),
        addons,
        read_workload_snapshot(api_client),
        workloads_at_preflight,
        kube_system_daemonsets,
        coredns[0] if coredns else None,
    )


def scan_removed_apis(
    api_client: ApiClient,
    *,
    current_version: str,
    target_version: str,
    removals: Iterable[RemovedApi] | None = None,
) -> list[DeprecatedObject]:
    """Objects of apiVersions removed between the cluster's version and the target, wherever they show.

    Looks in Helm release storage (Secrets and ConfigMaps), in last-applied annotations, and lists every
    removed apiVersion the cluster still serves (what discovery offers now) to find live objects.
    """
    from kubernetes.dynamic import DynamicClient

    removals = tuple(removals if removals is not None else load_api_removals())
    dynamic = DynamicClient(api_client)
    current, target = minor_of(current_version), minor_of(target_version)
    live: list[dict[str, Any]] = []
    for removal in removals:
        if current < minor_of(removal.removed_in) <= target and _served(dynamic, removal.api_version, removal.kind):
            live += _list(dynamic, removal.api_version, removal.kind)
    workloads_with_annotations = [
        *_list(dynamic, "apps/v1", "Deployment"),
        *_list(dynamic, "apps/v1", "DaemonSet"),
        *_list(dynamic, "apps/v1", "StatefulSet"),
        *_list(dynamic, "v1", "Service"),
    ]
    return find_removed_apis(
        target_version,
        helm_secrets=_list(dynamic, "v1", "Secret", field_selector="type=helm.sh/release.v1"),
        helm_configmaps=_list(dynamic, "v1", "ConfigMap", label_selector="owner=helm"),
        live_objects=[*live, *workloads_with_annotations],
        removals=removals,
        current_version=current_version,
    )


def _served(dynamic: Any, api_version: str, kind: str) -> bool:
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    try:
        dynamic.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        return False
    return True


def _list(dynamic: Any, api_version: str, kind: str, **selectors: str) -> list[dict[str, Any]]:
    """Every object of a kind, each carrying the apiVersion and kind it was listed through (List items omit them)."""
    resource = dynamic.resources.get(api_version=api_version, kind=kind)
    items = resource.get(**selectors).to_dict().get("items") or []
    return [{**item, "apiVersion": api_version, "kind": kind} for item in items]


def _paginate(client: Any, method: str, key: str, **arguments: Any) -> list[Any]:
    return [item for page in client.get_paginator(method).paginate(**arguments) for item in page[key]]


def _ec2(hook: EksRunbookHook) -> Any:
    """An EC2 client for the same connection and region as the EKS hook."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=hook.aws_conn_id, region_name=hook.region_name, client_type="ec2").conn
