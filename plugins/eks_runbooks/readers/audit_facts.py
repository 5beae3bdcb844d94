"""Read one cluster's facts for the compliance audit from AWS and its Kubernetes API (read-only).

Each fact source is read on its own: when one fails (an API error, a cluster whose Kubernetes API does not
answer), ``ClusterFacts.errors`` names it and the checks that need it are ERROR; everything else is still
audited. When DescribeCluster itself fails, every source is in error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from eks_runbooks.core.audit.compliance import SOURCES, ClusterFacts
from eks_runbooks.core.clock import utc_now
from eks_runbooks.readers.cluster import network_hook

if TYPE_CHECKING:
    from eks_runbooks.hooks.ec2 import Ec2NetworkHook
    from eks_runbooks.hooks.eks import EksRunbookHook

T = TypeVar("T")

#: Kubernetes kinds the audit lists (apiVersion, kind, the list's path). All are built into every Kubernetes
#: version EKS runs, so they are listed by path: no discovery requests first (14 per cluster otherwise).
KUBERNETES_KINDS = (
    ("v1", "Namespace", "/api/v1/namespaces"),
    ("networking.k8s.io/v1", "NetworkPolicy", "/apis/networking.k8s.io/v1/networkpolicies"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "/apis/rbac.authorization.k8s.io/v1/rolebindings"),
    ("v1", "ServiceAccount", "/api/v1/serviceaccounts"),
    ("v1", "Pod", "/api/v1/pods"),
    ("v1", "ConfigMap", "/api/v1/namespaces/kube-system/configmaps"),
)


def gather_cluster_facts(
    hook: EksRunbookHook, cluster_name: str, *, required_tags: tuple[str, ...] = ()
) -> ClusterFacts:
    """Everything the audit's checks look at for one cluster."""
    facts = ClusterFacts(
        cluster_name=cluster_name,
        region=hook.region_name or "",
        account="",
        now=utc_now(),
        required_tags=required_tags,
    )
    cluster = _read(facts, "cluster", lambda: hook.get_cluster(cluster_name))
    if cluster is None:
        facts.errors.update(dict.fromkeys(SOURCES, facts.errors["cluster"]))
        return facts
    facts.cluster = cluster
    facts.account = cluster["arn"].split(":")[4]
    facts.cluster_versions = _read(facts, "cluster_versions", hook.describe_cluster_versions) or []
    facts.nodegroups = _read(facts, "nodegroups", lambda: hook.describe_nodegroups(cluster_name)) or []
    if "nodegroups" in facts.errors:
        facts.errors.update(launch_templates=facts.errors["nodegroups"], network=facts.errors["nodegroups"])
    else:
        ec2 = network_hook(hook)
        facts.launch_templates = (
            _read(facts, "launch_templates", lambda: _launch_templates(ec2, facts.nodegroups)) or {}
        )
        facts.subnets_routed_to_igw = _read(facts, "network", lambda: _routed_to_igw(ec2, facts)) or set()
    facts.addons = _read(facts, "addons", lambda: hook.describe_addons(cluster_name)) or []
    facts.addon_versions = (
        _read(facts, "addon_versions", lambda: hook.describe_addon_versions(cluster["version"])) or []
    )
    facts.insights = (
        _read(facts, "insights", lambda: hook.paginate("list_insights", "insights", clusterName=cluster_name)) or []
    )
    facts.kubernetes = _read(facts, "kubernetes", lambda: _kubernetes(hook, cluster)) or {}
    return facts


def _read(facts: ClusterFacts, source: str, read: Callable[[], T]) -> T | None:
    """What ``read`` returns, or None with the reason in ``facts.errors[source]``."""
    # Deliberately broad: whatever stops one source (AWS error, TLS, 401, timeout) must not stop the audit.
    try:
        return read()
    except Exception as error:
        facts.errors[source] = f"{type(error).__name__}: {str(error)[:300]}"
        return None


def _launch_templates(ec2: Ec2NetworkHook, nodegroups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        template["id"]: ec2.launch_template_data(template["id"], str(template.get("version", "$Default")))
        for nodegroup in nodegroups
        if (template := nodegroup.get("launchTemplate"))
    }


def _routed_to_igw(ec2: Ec2NetworkHook, facts: ClusterFacts) -> set[str]:
    """Node group subnets whose route table (explicit, else the VPC's main one) sends 0.0.0.0/0 to an IGW."""
    tables = ec2.describe_route_tables(facts.cluster["resourcesVpcConfig"]["vpcId"])
    explicit = {
        assoc["SubnetId"]: table for table in tables for assoc in table.get("Associations", []) if assoc.get("SubnetId")
    }
    main = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), {"Routes": []})
    subnets = {subnet for nodegroup in facts.nodegroups for subnet in nodegroup.get("subnets", [])}
    return {
        subnet
        for subnet in subnets
        if any(
            route.get("DestinationCidrBlock") == "0.0.0.0/0" and str(route.get("GatewayId", "")).startswith("igw-")
            for route in explicit.get(subnet, main).get("Routes", [])
        )
    }


def _kubernetes(hook: EksRunbookHook, cluster: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each kind's objects as the API serves them, each carrying its apiVersion and kind (list items omit them)."""
    from eks_runbooks.readers.cluster import list_objects
    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    with eks_kubernetes_client(cluster["name"], hook=hook, cluster=cluster) as api_client:
        return {
            kind: [{**item, "apiVersion": api_version, "kind": kind} for item in list_objects(api_client, path)]
            for api_version, kind, path in KUBERNETES_KINDS
        }
