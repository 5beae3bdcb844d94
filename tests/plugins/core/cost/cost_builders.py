"""Hand-built cost facts and prices for the cost audit's unit tests (figures chosen to make hand sums easy)."""

from __future__ import annotations

from decimal import Decimal

from eks_runbooks.core.cost.facts import (
    MANAGED,
    ON_DEMAND,
    ClusterCostFacts,
    InstanceTypeFacts,
    NodeFacts,
    PodFacts,
)
from eks_runbooks.core.cost.prices import PER_GB_HOUR, PER_GB_MONTH, PER_HOUR, PER_VCPU_HOUR, Price, RegionPrices

SOURCE = "test price table"


def usd(amount: str, unit: str = PER_HOUR) -> Price:
    return Price(Decimal(amount), unit, SOURCE)


def region_prices(**overrides) -> RegionPrices:
    """us-east-1 as the tests price it."""
    values = {
        "on_demand": {
            "m5.large": usd("0.096"),
            "m5.2xlarge": usd("0.384"),
            "t3.medium": usd("0.0416"),
            "m4.large": usd("0.10"),
        },
        "spot": {"m5.large": {"us-east-1a": usd("0.035"), "us-east-1b": usd("0.0362")}},
        "ebs": {
            "gp2": usd("0.10", PER_GB_MONTH),
            "gp3": usd("0.08", PER_GB_MONTH),
            "gp3-iops": usd("0.005", "IOPS-month"),
            "gp3-throughput": usd("0.04", "MiBps-month"),
            "io1": usd("0.125", PER_GB_MONTH),
            "io1-iops": usd("0.065", "IOPS-month"),
            "sc1": usd("0.015", PER_GB_MONTH),
        },
        "fargate": {"vcpu": usd("0.04048", PER_VCPU_HOUR), "memory": usd("0.004445", PER_GB_HOUR)},
        "control_plane": {"standard": usd("0.10"), "extended": usd("0.50"), "tier-xl": usd("1.65")},
        "auto_mode": {"m5.large": usd("0.01152")},
        "load_balancer": {"application": usd("0.0225"), "network": usd("0.0225")},
    }
    return RegionPrices("aws_default", "us-east-1", **{**values, **overrides})


def node(
    name: str,
    group: str = "general",
    instance_type: str = "m5.large",
    capacity_type: str = ON_DEMAND,
    zone: str = "us-east-1a",
    origin: str = MANAGED,
    cpu: int = 1930,
    memory: int = 7000,
    pods: int = 29,
) -> NodeFacts:
    return NodeFacts(name, instance_type, capacity_type, zone, origin, group, cpu, memory, pods)


def pod(
    name: str,
    on: str,
    cpu: int = 100,
    memory: int = 128,
    owner_kind: str = "Deployment",
    namespace: str = "shop",
    claim: bool = False,
) -> PodFacts:
    return PodFacts(namespace, name, on, owner_kind, name.rsplit("-", 1)[0], cpu, memory, claim)


def daemon_pods(nodes: list[NodeFacts], cpu: int = 100, memory: int = 100) -> list[PodFacts]:
    """aws-node and kube-proxy on every node, as EKS runs them."""
    return [
        pod(f"{daemon}-{n.name}", n.name, cpu, memory, "DaemonSet", "kube-system")
        for n in nodes
        for daemon in ("aws-node", "kube-proxy")
    ]


INSTANCE_TYPES = {
    "m5.large": InstanceTypeFacts("m5.large", 2, 8192, 3, 10, "nitro", True),
    "m5.2xlarge": InstanceTypeFacts("m5.2xlarge", 8, 32768, 4, 15, "nitro", True),
    "t3.medium": InstanceTypeFacts("t3.medium", 2, 4096, 3, 6, "nitro", True),
    "m4.large": InstanceTypeFacts("m4.large", 2, 8192, 2, 10, "xen", False),
}


def cluster_facts(**fields) -> ClusterCostFacts:
    values = {
        "aws_conn_id": "aws_default",
        "region": "us-east-1",
        "cluster": "orders-prod",
        "account": "123456789012",
        "version": "1.33",
        "tags": {"team": "orders", "environment": "production"},
        "support": "standard",
        "end_of_standard_support": "2026-07-29",
        "upgrade_policy": "STANDARD",
        "prefix_delegation": False,
        "instance_types": dict(INSTANCE_TYPES),
        "workload_pods": 1,
    }
    return ClusterCostFacts(**{**values, **fields})
