"""Read one cluster's facts for the compliance audit from AWS and its Kubernetes API (read-only).

Each fact source is read on its own: when one fails (an API error, a cluster whose Kubernetes API does not
answer), ``ClusterFacts.errors`` names it and the checks that need it are ERROR; everything else is still
audited. When DescribeCluster itself fails, every source is in error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eks_runbooks.core.audit.compliance import SOURCES, ClusterFacts
from eks_runbooks.core.clock import utc_now
from eks_runbooks.readers.cluster import network_hook

if TYPE_CHECKING:
    from eks_runbooks.hooks.ec2 import Ec2NetworkHook
    from eks_runbooks.hooks.eks import EksRunbookHook

#: Kubernetes kinds the audit lists (apiVersion, kind, selectors).
KUBERNETES_KINDS = (
    ("v1", "Namespace", {}),
    ("networking.k8s.io/v1", "NetworkPolicy", {}),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", {}),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", {}),
    ("v1", "ServiceAccount", {}),
    ("v1", "Pod", {}),
    ("v1", "ConfigMap", {"namespace": "kube-system"}),
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
    if not _read(facts, "cluster", lambda: _set(facts, "cluster", hook.get_cluster(cluster_name))):
        facts.errors.update(dict.fromkeys(SOURCES, facts.errors["cluster"]))
        return facts
    facts.account = facts.cluster["arn"].split(":")[4]
    _read(facts, "cluster_versions", lambda: _set(facts, "cluster_versions", hook.describe_cluster_versions()))
    _read(facts, "nodegroups", lambda: _set(facts, "nodegroups", hook.describe_nodegroups(cluster_name)))
    ec2 = network_hook(hook)
    if "nodegroups" in facts.errors:
        facts.errors.update(launch_templates=facts.errors["nodegroups"], network=facts.errors["nodegroups"])
    else:
        _read(
            facts, "launch_templates", lambda: _set(facts, "launch_templates", _launch_templates(ec2, facts.nodegroups))
        )
        _read(facts, "network", lambda: _set(facts, "subnets_routed_to_igw", _routed_to_igw(ec2, facts)))
    _read(facts, "addons", lambda: _set(facts, "addons", hook.describe_addons(cluster_name)))
    _read(
        facts,
        "addon_versions",
        lambda: _set(facts, "addon_versions", hook.describe_addon_versions(facts.cluster["version"])),
    )
    _read(
        facts,
        "insights",
        lambda: _set(facts, "insights", hook.paginate("list_insights", "insights", clusterName=cluster_name)),
    )
    _read(facts, "kubernetes", lambda: _set(facts, "kubernetes", _kubernetes(hook, cluster_name)))
    return facts


def _read(facts: ClusterFacts, source: str, read: Callable[[], None]) -> bool:
    # Deliberately broad: whatever stops one source (AWS error, TLS, 401, timeout) must not stop the audit.
    try:
        read()
    except Exception as error:
        facts.errors[source] = f"{type(error).__name__}: {str(error)[:300]}"
        return False
    return True


def _set(facts: ClusterFacts, name: str, value: Any) -> None:
    setattr(facts, name, value)


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


def _kubernetes(hook: EksRunbookHook, cluster_name: str) -> dict[str, list[dict[str, Any]]]:
    from eks_runbooks.readers.cluster import KubernetesReader
    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    with eks_kubernetes_client(cluster_name, hook=hook) as api_client:
        kube = KubernetesReader(api_client)
        return {kind: kube.list(api_version, kind, **selectors) for api_version, kind, selectors in KUBERNETES_KINDS}
