"""EKS data that changes with AWS releases, read from include/eks/: prices, node AMI rules, node group update
phase budgets, how many pods a node runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from eks_runbooks.core.include import include_path


@dataclass(frozen=True)
class ControlPlanePrices:
    """Dollars per cluster-hour (include/eks/pricing.yaml)."""

    standard_per_hour: float
    extended_per_hour: float
    hours_per_month: int

    @property
    def extended_extra_per_month(self) -> float:
        """What a month in extended support costs on top of standard support."""
        return (self.extended_per_hour - self.standard_per_hour) * self.hours_per_month


@dataclass(frozen=True)
class NodeAmiRules:
    """Amazon Linux 2's cut-off and the oldest acceptable AMI release (include/eks/node-amis.yaml)."""

    al2_ami_types: frozenset[str]
    last_al2_version: str
    release_max_age_days: int


@cache
def control_plane_prices() -> ControlPlanePrices:
    document = _load("pricing.yaml")
    return ControlPlanePrices(
        standard_per_hour=float(document["control_plane_per_hour"]["standard"]),
        extended_per_hour=float(document["control_plane_per_hour"]["extended"]),
        hours_per_month=int(document["hours_per_month"]["value"]),
    )


@cache
def node_ami_rules() -> NodeAmiRules:
    document = _load("node-amis.yaml")
    al2 = document["amazon_linux_2"]
    return NodeAmiRules(
        al2_ami_types=frozenset(al2["ami_types"]),
        last_al2_version=str(al2["last_kubernetes_version"]),
        release_max_age_days=int(document["release_max_age_days"]["value"]),
    )


@dataclass(frozen=True)
class MaxPodsRules:
    """How many pods the VPC CNI lets a node run (include/eks/max-pods.yaml)."""

    ips_per_prefix: int
    prefix_hypervisor: str
    cap_small: int
    cap_large: int
    large_above_vcpus: int

    def max_pods(self, enis: int, ipv4_per_eni: int, vcpus: int, *, prefixes: bool = False) -> int:
        """ENIs x (IPv4 per ENI - 1) + 2 — each slot a /28 prefix of ``ips_per_prefix`` addresses with prefix
        delegation — capped by the vCPU count as max-pods-calculator.sh caps it."""
        per_eni = (ipv4_per_eni - 1) * (self.ips_per_prefix if prefixes else 1)
        cap = self.cap_large if vcpus > self.large_above_vcpus else self.cap_small
        return min(enis * per_eni + 2, cap)

    def allows_prefixes(self, hypervisor: str) -> bool:
        """Prefix delegation needs a Nitro instance."""
        return hypervisor == self.prefix_hypervisor


@cache
def max_pods_rules() -> MaxPodsRules:
    document = _load("max-pods.yaml")
    cap = document["cap"]
    return MaxPodsRules(
        ips_per_prefix=int(document["prefix_delegation"]["ips_per_prefix"]),
        prefix_hypervisor=str(document["prefix_delegation"]["hypervisor"]),
        cap_small=int(cap["small"]),
        cap_large=int(cap["large"]),
        large_above_vcpus=int(cap["large_above_vcpus"]),
    )


@dataclass(frozen=True)
class NodegroupUpdateBudget:
    """How long each phase of a managed node group version update may take (include/eks/nodegroup-update.yaml)."""

    setup_and_scale_up: timedelta
    per_batch: timedelta
    scale_down: timedelta


@cache
def nodegroup_update_budget() -> NodegroupUpdateBudget:
    document = _load("nodegroup-update.yaml")
    return NodegroupUpdateBudget(
        setup_and_scale_up=timedelta(minutes=float(document["setup_and_scale_up_minutes"]["value"])),
        per_batch=timedelta(minutes=float(document["per_batch_minutes"]["value"])),
        scale_down=timedelta(minutes=float(document["scale_down_minutes"]["value"])),
    )


def _load(name: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(include_path("eks", name).read_text())
