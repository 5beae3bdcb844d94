"""What the cost audit knows about AWS beyond prices (include/cost/rules.yaml): what an EBS volume type includes,
which instance families succeed which, and which clusters the spot-share finding leaves alone."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from eks_runbooks.core.eks.rules import MaxPodsRules, control_plane_prices, max_pods_rules
from eks_runbooks.core.include import include_path


@dataclass(frozen=True)
class EbsRules:
    """gp3's included performance, gp2's IOPS by size, and the price keys of what is billed beyond storage."""

    gp3_included_iops: int
    gp3_included_throughput_mibps: int
    gp2_iops_per_gib: int
    gp2_min_iops: int
    gp2_max_iops: int
    #: volume type → {"iops": price key, "throughput": price key} in ``RegionPrices.ebs``
    extras: dict[str, dict[str, str]]

    def gp2_iops(self, size_gib: int) -> int:
        """The IOPS a gp2 volume of this size delivers (3 per GiB, within its floor and ceiling)."""
        return max(self.gp2_min_iops, min(self.gp2_max_iops, self.gp2_iops_per_gib * size_gib))


@dataclass(frozen=True)
class CostRules:
    hours_per_month: Decimal
    ebs: EbsRules
    #: previous-generation family → its successor family (m4 → m5)
    successors: dict[str, str]
    environment_tag: str
    exempt_environments: tuple[str, ...]
    #: include/eks/max-pods.yaml (the prefix-delegation finding)
    max_pods: MaxPodsRules

    def successor_of(self, instance_type: str) -> str | None:
        """The current-generation type of the same size (m4.large → m5.large), when the family has a successor."""
        family, _, size = instance_type.partition(".")
        successor = self.successors.get(family)
        return f"{successor}.{size}" if successor and size else None


@cache
def cost_rules() -> CostRules:
    import yaml

    document = yaml.safe_load(include_path("cost", "rules.yaml").read_text())
    ebs, spot = document["ebs"], document["spot_share"]
    return CostRules(
        hours_per_month=Decimal(control_plane_prices().hours_per_month),
        ebs=EbsRules(
            gp3_included_iops=int(ebs["gp3_included_iops"]),
            gp3_included_throughput_mibps=int(ebs["gp3_included_throughput_mibps"]),
            gp2_iops_per_gib=int(ebs["gp2_iops_per_gib"]),
            gp2_min_iops=int(ebs["gp2_min_iops"]),
            gp2_max_iops=int(ebs["gp2_max_iops"]),
            extras={volume_type: dict(keys) for volume_type, keys in ebs["extras"].items()},
        ),
        successors=dict(document["previous_generation"]["successors"]),
        environment_tag=str(spot["environment_tag"]),
        exempt_environments=tuple(str(value) for value in spot["exempt_values"]),
        max_pods=max_pods_rules(),
    )
