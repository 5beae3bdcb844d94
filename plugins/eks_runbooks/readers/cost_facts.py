"""Read what one cluster costs is made of, from AWS (EKS, EC2, Elastic Load Balancing) and its Kubernetes API.

Read-only, and small enough for a fleet: a fixed number of AWS calls per cluster whatever its size (one
DescribeInstanceTypes for every instance type, one DescribeVolumes for every volume, load balancers tagged 20 at
a time, the region's listing read once per hook; DescribeNodegroup once per node group) and one Kubernetes client
that lists Nodes, Pods, PersistentVolumes and kube-system's DaemonSets once each (in chunks of 500), with no
discovery requests.
Each source (``core.cost.facts.SOURCES``) is read on its own: when one fails its reason is in
``ClusterCostFacts.errors`` and the rest is still read; when DescribeCluster fails, every source is in error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from eks_runbooks.core.cost.facts import SOURCES, ClusterCostFacts, LoadBalancerFacts, VolumeFacts
from eks_runbooks.readers.cluster import list_objects, network_hook
from eks_runbooks.readers.cost_objects import (
    cluster_fields,
    cluster_support,
    fargate_pod_facts,
    instance_type_facts,
    is_fargate_node,
    load_balancer_facts,
    node_facts,
    nodegroup_facts,
    pod_facts,
    prefix_delegation,
    running_pods,
    runs_on_fargate,
    volume_claims,
    workload_pod_count,
)

if TYPE_CHECKING:
    from eks_runbooks.hooks.eks import EksRunbookHook

T = TypeVar("T")

#: The sources read through the cluster's Kubernetes API: all in error when no client can be made.
KUBERNETES_SOURCES = ("nodes", "pods", "volumes", "prefix_delegation")


def gather_cost_facts(
    aws_conn_id: str, region: str, cluster_name: str, *, hook: EksRunbookHook | None = None
) -> ClusterCostFacts:
    """Everything the cost audit prices and judges for one cluster, as its connection can read it.

    :param aws_conn_id: The Airflow connection of the cluster's account (a target's ``aws_conn_id``).
    :param region: The cluster's region.
    :param cluster_name: The cluster.
    :param hook: The EKS hook of that connection and region to read through (one per task for all its clusters:
        one boto3 session, the region's load balancers listed once); default: a new one.
    """
    from eks_runbooks.hooks.eks import EksRunbookHook

    hook = hook or EksRunbookHook(aws_conn_id=aws_conn_id, region_name=region)
    facts = ClusterCostFacts(aws_conn_id=aws_conn_id, region=region, cluster=cluster_name)
    cluster = _read(facts, "cluster", lambda: hook.get_cluster(cluster_name))
    if cluster is None:
        facts.errors.update(dict.fromkeys(SOURCES, facts.errors["cluster"]))
        return facts
    for name, value in cluster_fields(cluster).items():
        setattr(facts, name, value)
    version = _read(facts, "cluster_version", lambda: hook.describe_cluster_version(facts.version))
    facts.support, facts.end_of_standard_support = cluster_support(version)
    facts.nodegroups = (
        _read(facts, "nodegroups", lambda: list(map(nodegroup_facts, hook.describe_nodegroups(cluster_name)))) or []
    )
    persistent_volumes = _read_kubernetes(facts, hook, cluster)
    _read_aws_details(facts, hook, persistent_volumes)
    return facts


def _read(facts: ClusterCostFacts, source: str, read: Callable[[], T]) -> T | None:
    """What ``read`` returns, or None with the reason in ``facts.errors[source]``."""
    # Deliberately broad: whatever stops one source (AWS error, TLS, 401, timeout) must not stop the others.
    try:
        return read()
    except Exception as error:
        facts.errors[source] = f"{type(error).__name__}: {str(error)[:300]}"
        return None


def _read_kubernetes(facts: ClusterCostFacts, hook: EksRunbookHook, cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """Nodes, pods and prefix delegation into ``facts``; the PersistentVolumes for DescribeVolumes. The four kinds
    are core and apps/v1, served by every cluster: listed by path, with no discovery requests."""
    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    persistent_volumes: list[dict[str, Any]] | None = []
    try:
        with eks_kubernetes_client(facts.cluster, hook=hook, cluster=cluster) as api_client:
            nodes = _read(facts, "nodes", lambda: list_objects(api_client, "/api/v1/nodes"))
            pods = _read(facts, "pods", lambda: list_objects(api_client, "/api/v1/pods"))
            persistent_volumes = _read(facts, "volumes", lambda: list_objects(api_client, "/api/v1/persistentvolumes"))
            daemonsets = _read(
                facts,
                "prefix_delegation",
                lambda: list_objects(api_client, "/apis/apps/v1/namespaces/kube-system/daemonsets"),
            )
    except Exception as error:  # no client: the API server does not answer, or refuses the connection's identity
        reason = f"{type(error).__name__}: {str(error)[:300]}"
        facts.errors.update({source: reason for source in KUBERNETES_SOURCES if source not in facts.errors})
        return []
    facts.nodes = _read(facts, "nodes", lambda: [found for node in nodes or [] if (found := node_facts(node))]) or []
    fargate_nodes = {node["metadata"]["name"] for node in nodes or [] if is_fargate_node(node)}
    if pods is not None:
        _read(facts, "pods", lambda: _pods(facts, pods, fargate_nodes))
    facts.prefix_delegation = prefix_delegation(daemonsets) if daemonsets is not None else None
    return persistent_volumes or []


def _pods(facts: ClusterCostFacts, pods: list[dict[str, Any]], fargate_nodes: set[str]) -> None:
    running = running_pods(pods)
    facts.workload_pods = workload_pod_count(pods)
    facts.pods = [pod_facts(pod) for pod in running if not runs_on_fargate(pod, fargate_nodes)]
    unreadable = []
    for pod in running:
        if runs_on_fargate(pod, fargate_nodes):
            try:
                facts.fargate_pods.append(fargate_pod_facts(pod))
            except ValueError as error:  # one odd annotation leaves Fargate not known, not the cluster's pods
                unreadable.append(str(error))
    if unreadable:
        facts.errors["fargate_pods"] = "; ".join(unreadable)[:300]


def _read_aws_details(facts: ClusterCostFacts, hook: EksRunbookHook, persistent_volumes: list[dict[str, Any]]) -> None:
    """Instance types, EBS volumes and load balancers: one client per service."""
    ec2 = network_hook(hook)
    instance_types = sorted(
        {node.instance_type for node in facts.nodes if node.instance_type}
        | {name for nodegroup in facts.nodegroups for name in nodegroup.instance_types}
    )
    if instance_types:
        described = _read(facts, "instance_types", lambda: ec2.describe_instance_types(instance_types)) or []
        facts.instance_types = {entry.instance_type: entry for entry in map(instance_type_facts, described)}
    claims = volume_claims(persistent_volumes)
    if claims:
        facts.volumes = _read(facts, "volumes", lambda: _volumes(ec2.find_volumes(sorted(claims)), claims)) or []
    facts.load_balancers = _read(facts, "load_balancers", lambda: _load_balancers(facts, hook)) or []


def _volumes(described: list[dict[str, Any]], claims: dict[str, tuple[str, str]]) -> list[VolumeFacts]:
    return [
        VolumeFacts(
            persistent_volume=claims[volume["VolumeId"]][0],
            claim=claims[volume["VolumeId"]][1],
            volume_id=volume["VolumeId"],
            volume_type=volume.get("VolumeType", ""),
            size_gib=int(volume.get("Size", 0)),
            iops=volume.get("Iops"),
            throughput_mibps=volume.get("Throughput"),
        )
        for volume in described
        if volume["VolumeId"] in claims
    ]


def _load_balancers(facts: ClusterCostFacts, hook: EksRunbookHook) -> list[LoadBalancerFacts]:
    from eks_runbooks.hooks.elb import ClassicLoadBalancersHook, LoadBalancersHook

    # Listed once per EKS hook: the clusters a task reads in one region share the region's listing.
    current = hook.sibling(LoadBalancersHook).load_balancers_with_tags()
    classic = hook.sibling(ClassicLoadBalancersHook).load_balancers_with_tags()
    classic_arn = f"arn:aws:elasticloadbalancing:{facts.region}:{facts.account}:loadbalancer/"
    found = [load_balancer_facts(lb, tags, facts.cluster) for lb, tags in current] + [
        load_balancer_facts(lb, tags, facts.cluster, arn=classic_arn + lb["LoadBalancerName"]) for lb, tags in classic
    ]
    return [load_balancer for load_balancer in found if load_balancer]
