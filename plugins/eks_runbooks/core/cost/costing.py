"""What one cluster costs per month, part by part, each line with the price it used and where that came from.

``cluster_cost(facts, prices)`` prices a cluster's ``ClusterCostFacts`` with its region's ``RegionPrices``:
control plane (standard, extended support, provisioned tier), EC2 nodes per node group, instance type and capacity
type (spot by zone), Auto Mode's fee, Fargate pods, EBS volumes and load balancers. Money is ``Decimal``; each line
is rounded to cents (half up) and the cluster's total is the sum of its rounded lines. A price nobody could give
leaves its line unpriced and listed — never $0 — and a part whose facts could not be read is not known (None).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from eks_runbooks.core.catalogue import listed
from eks_runbooks.core.cost.facts import AUTO_MODE, SPOT, UNKNOWN, ClusterCostFacts, NodeFacts, VolumeFacts
from eks_runbooks.core.cost.prices import PER_GB_HOUR, PER_HOUR, PER_VCPU_HOUR, Price, RegionPrices
from eks_runbooks.core.cost.rules import cost_rules

#: The parts of a cluster's bill, in the order reports show them.
CONTROL_PLANE, NODES, FARGATE, STORAGE, LOAD_BALANCERS = (
    "control_plane",
    "nodes",
    "fargate",
    "storage",
    "load_balancers",
)
PARTS = (CONTROL_PLANE, NODES, FARGATE, STORAGE, LOAD_BALANCERS)

#: Fact sources (``ClusterCostFacts.errors`` keys) each part is read from: when one failed, the part is not known.
PART_SOURCES = {
    CONTROL_PLANE: ("cluster", "cluster_version"),
    NODES: ("kubernetes", "nodes"),
    FARGATE: ("kubernetes", "pods", "fargate_pods"),
    STORAGE: ("kubernetes", "volumes"),
    LOAD_BALANCERS: ("load_balancers",),
}

#: Units billed by the hour: a month of them is ``hours_per_month`` hours; other units are already per month.
HOURLY_UNITS = (PER_HOUR, PER_VCPU_HOUR, PER_GB_HOUR)
CENT = Decimal("0.01")


def money(amount: Decimal) -> Decimal:
    """Dollars rounded to the cent, half up, as a bill rounds them."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def monthly(price: Price, quantity: Decimal) -> Decimal:
    """A month of ``quantity`` units at ``price``, unrounded (hourly units run ``hours_per_month`` hours)."""
    hours = cost_rules().hours_per_month if price.unit in HOURLY_UNITS else Decimal(1)
    return price.usd * quantity * hours


@dataclass(frozen=True)
class CostLine:
    """One line of a cluster's bill; ``unit_price`` and ``monthly_usd`` are None when nobody could price it."""

    part: str
    item: str
    detail: str
    quantity: Decimal
    unit: str
    unit_price: Price | None
    monthly_usd: Decimal | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "item": self.item,
            "detail": self.detail,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "unit_price": self.unit_price.to_dict() if self.unit_price else None,
            "monthly_usd": str(self.monthly_usd) if self.monthly_usd is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostLine:
        return cls(
            part=data["part"],
            item=data["item"],
            detail=data["detail"],
            quantity=Decimal(data["quantity"]),
            unit=data["unit"],
            unit_price=Price.from_dict(data["unit_price"]) if data.get("unit_price") else None,
            monthly_usd=Decimal(data["monthly_usd"]) if data.get("monthly_usd") is not None else None,
        )


@dataclass(frozen=True)
class ExtendedSupport:
    """Extended support ``running`` since ``starts``, or ``coming`` on ``starts`` (standard support with
    upgradePolicy EXTENDED), and what it adds to the control plane per month (None when the surcharge is unpriced)."""

    status: str
    starts: str
    adds_monthly_usd: Decimal | None

    def to_dict(self) -> dict[str, Any]:
        adds = str(self.adds_monthly_usd) if self.adds_monthly_usd is not None else None
        return {"status": self.status, "from": self.starts, "adds_monthly_usd": adds}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExtendedSupport:
        adds = data.get("adds_monthly_usd")
        return cls(data["status"], data["from"], Decimal(adds) if adds is not None else None)


@dataclass
class ClusterCost:
    """A cluster's monthly bill: its lines, what could not be priced, and what could not be read."""

    cluster: str
    region: str
    account: str
    aws_conn_id: str
    version: str
    tags: dict[str, str] = field(default_factory=dict)
    lines: list[CostLine] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)
    unknown_parts: list[str] = field(default_factory=list)
    extended_support: ExtendedSupport | None = None
    price_notes: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def monthly_usd(self) -> Decimal:
        """The sum of the priced lines (each already rounded to the cent)."""
        return sum((line.monthly_usd for line in self.lines if line.monthly_usd is not None), Decimal("0.00"))

    @property
    def by_part(self) -> dict[str, Decimal | None]:
        """Every part's priced sum; None for a part whose facts could not be read."""
        totals = {part: Decimal("0.00") for part in PARTS}
        for line in self.lines:
            if line.monthly_usd is not None:
                totals[line.part] += line.monthly_usd
        return {part: None if part in self.unknown_parts else total for part, total in totals.items()}

    def to_dict(self) -> dict[str, Any]:
        """The per-cluster result the report consumes (without its findings)."""
        return {
            "cluster": self.cluster,
            "region": self.region,
            "account": self.account,
            "aws_conn_id": self.aws_conn_id,
            "version": self.version,
            "tags": dict(self.tags),
            "monthly_usd": str(self.monthly_usd),
            "by_part": {part: str(total) if total is not None else None for part, total in self.by_part.items()},
            "lines": [line.to_dict() for line in self.lines],
            "unpriced": list(self.unpriced),
            "extended_support": self.extended_support.to_dict() if self.extended_support else None,
            "price_notes": list(self.price_notes),
            "errors": dict(self.errors),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterCost:
        """The inverse of ``to_dict`` (a result with findings reads back too; they are not part of the cost)."""
        extended = data.get("extended_support")
        return cls(
            cluster=data["cluster"],
            region=data["region"],
            account=data["account"],
            aws_conn_id=data["aws_conn_id"],
            version=data["version"],
            tags=dict(data.get("tags") or {}),
            lines=[CostLine.from_dict(line) for line in data.get("lines", [])],
            unpriced=list(data.get("unpriced", [])),
            unknown_parts=[part for part, total in (data.get("by_part") or {}).items() if total is None],
            extended_support=ExtendedSupport.from_dict(extended) if extended else None,
            price_notes=list(data.get("price_notes", [])),
            errors=dict(data.get("errors") or {}),
        )


def cluster_cost(facts: ClusterCostFacts, prices: RegionPrices) -> ClusterCost:
    """What ``facts``' cluster costs per month at ``prices``, part by part."""
    cost = ClusterCost(
        cluster=facts.cluster,
        region=facts.region,
        account=facts.account,
        aws_conn_id=facts.aws_conn_id,
        version=facts.version,
        tags=dict(facts.tags),
        price_notes=list(prices.notes),
        errors=dict(facts.errors),
    )
    builders = {
        CONTROL_PLANE: _control_plane_lines,
        NODES: _node_lines,
        FARGATE: _fargate_lines,
        STORAGE: _storage_lines,
        LOAD_BALANCERS: _load_balancer_lines,
    }
    bill = _Bill(facts.region)
    for part, build in builders.items():
        failed = [source for source in PART_SOURCES[part] if source in facts.errors]
        if failed:
            cost.unknown_parts.append(part)
            reasons = "; ".join(f"{source}: {facts.errors[source]}" for source in failed)
            bill.unpriced.append(f"{part}: not known, its facts could not be read ({reasons})")
        else:
            build(facts, prices, bill)
    cost.lines, cost.unpriced = bill.lines, bill.unpriced
    if CONTROL_PLANE not in cost.unknown_parts:
        cost.extended_support = extended_support(facts, prices)
    return cost


class _Bill:
    """The lines being written for one cluster, and what could not be priced (part, item and why)."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.lines: list[CostLine] = []
        self.unpriced: list[str] = []

    def add(
        self, part: str, item: str, detail: str, quantity: Decimal, unit: str, price: Price | None, missing: str
    ) -> None:
        """A line at ``price``; without one, an unpriced line and ``missing`` (why, naming the region) listed."""
        self.lines.append(priced_line(part, item, detail, quantity, unit, price))
        if price is None:
            self.unpriced.append(f"{part} {item}: {missing}")


def priced_line(part: str, item: str, detail: str, quantity: Decimal, unit: str, price: Price | None) -> CostLine:
    """A line at ``price`` (rounded to the cent), or an unpriced line when there is none."""
    amount = money(monthly(price, quantity)) if price is not None else None
    return CostLine(part, item, detail, quantity, unit, price, amount)


def _control_plane_lines(facts: ClusterCostFacts, prices: RegionPrices, bill: _Bill) -> None:
    version = f"Kubernetes {facts.version}" if facts.version else "Kubernetes version not known"
    one, region = Decimal(1), facts.region
    standard = prices.control_plane.get("standard")
    support = facts.support or "support not known"
    bill.add(
        CONTROL_PLANE,
        "cluster",
        f"{version}, {support}",
        one,
        "cluster",
        standard,
        f"no EKS cluster-hour price in {region}",
    )
    if facts.support == "extended":
        since = facts.end_of_standard_support or "its end of standard support"
        bill.add(
            CONTROL_PLANE,
            "extended support",
            f"{version} in extended support since {since}",
            one,
            "cluster",
            prices.control_plane.get("extended"),
            f"no extended-support surcharge in {region}",
        )
    tier = facts.provisioned_tier
    if tier and tier != "standard":
        # Billed under its own usage type (<PFX>-AmazonEKS-Hours:XL-ProvisionedTier ...) beside the cluster-hour
        # (runbook-facts-wave2 §2; whether the tier replaces the $0.10 is UNCONFIRMED — priced on top of it here).
        bill.add(
            CONTROL_PLANE,
            f"provisioned tier {tier}",
            f"controlPlaneScalingConfig.tier {tier}",
            one,
            "cluster",
            prices.control_plane.get(tier),
            f"no price for control-plane tier {tier} in {region}",
        )


def extended_support(facts: ClusterCostFacts, prices: RegionPrices) -> ExtendedSupport | None:
    """Extended support running (support ``extended``) or coming (standard support, upgradePolicy EXTENDED and
    a known end of standard support) and its monthly surcharge; None otherwise."""
    surcharge = prices.control_plane.get("extended")
    adds = money(monthly(surcharge, Decimal(1))) if surcharge is not None else None
    if facts.support == "extended":
        return ExtendedSupport("running", facts.end_of_standard_support, adds)
    if facts.support == "standard" and facts.upgrade_policy == "EXTENDED" and facts.end_of_standard_support:
        return ExtendedSupport("coming", facts.end_of_standard_support, adds)
    return None


def node_hourly(node: NodeFacts, prices: RegionPrices) -> Price | None:
    """What one node costs per hour: the spot price in its zone for a spot node (on-demand, an upper bound, when
    no spot price could be read), else the on-demand price."""
    if node.capacity_type == SPOT:
        return prices.spot.get(node.instance_type, {}).get(node.zone) or prices.on_demand.get(node.instance_type)
    return prices.on_demand.get(node.instance_type)


def _node_lines(facts: ClusterCostFacts, prices: RegionPrices, bill: _Bill) -> None:
    groups: dict[tuple[str, str, str, str, str], list[NodeFacts]] = defaultdict(list)
    for node in facts.nodes:
        # spot prices differ by zone, so spot nodes get a line per zone; Windows nodes are a line of their own
        zone = node.zone if node.capacity_type == SPOT else ""
        groups[(node.group, node.instance_type, node.capacity_type, zone, node.operating_system)].append(node)
    for (group, instance_type, capacity_type, zone, _), nodes in sorted(groups.items()):
        _ec2_line(bill, group, instance_type, capacity_type, zone, nodes, prices)
        if any(node.origin == AUTO_MODE for node in nodes):
            managed = sum(1 for node in nodes if node.origin == AUTO_MODE)
            bill.add(
                NODES,
                f"{group} Auto Mode fee",
                f"{managed} x {instance_type} managed by EKS Auto Mode",
                Decimal(managed),
                "node",
                prices.auto_mode.get(instance_type),
                f"no Auto Mode fee for {instance_type} in {bill.region}",
            )


def _ec2_line(
    bill: _Bill,
    group: str,
    instance_type: str,
    capacity_type: str,
    zone: str,
    nodes: list[NodeFacts],
    prices: RegionPrices,
) -> None:
    zones = ", ".join(sorted({node.zone for node in nodes}))
    detail = f"{len(nodes)} x {instance_type} {capacity_type} ({zones})"
    if any(node.operating_system != "linux" for node in nodes):
        # The Price List is read for Linux only: a Windows node's licence-included price is not a Linux one.
        bill.add(
            NODES,
            group,
            f"{detail}, Windows",
            Decimal(len(nodes)),
            "node",
            None,
            f"no Windows price for {instance_type} in {bill.region} (only Linux prices are read)",
        )
        return
    if capacity_type == SPOT:
        price = prices.spot.get(instance_type, {}).get(zone)
        missing = f"no spot or on-demand price for {instance_type} in {zone} ({bill.region})"
        if price is None and instance_type in prices.on_demand:
            # Spot has no list price to fall back on: the on-demand price bounds it, never a silent 0.
            price = prices.on_demand[instance_type]
            detail += f": no spot price read for {zone}, priced on-demand (an upper bound)"
    else:
        price = prices.on_demand.get(instance_type)
        missing = f"no on-demand price for {instance_type} in {bill.region}"
        if capacity_type == UNKNOWN:
            detail += ": no capacity-type label, priced on-demand"
    bill.add(NODES, group, detail, Decimal(len(nodes)), "node", price, missing)


def _fargate_lines(facts: ClusterCostFacts, prices: RegionPrices, bill: _Bill) -> None:
    pods = facts.fargate_pods
    if not pods:
        return
    detail = f"{len(pods)} pods as provisioned ({listed([f'{pod.namespace}/{pod.name}' for pod in pods])})"
    vcpus = sum((Decimal(pod.vcpu) for pod in pods), Decimal(0))
    memory = sum((Decimal(pod.memory_gb) for pod in pods), Decimal(0))
    bill.add(
        FARGATE,
        "vCPU",
        detail,
        vcpus,
        "vCPU",
        prices.fargate.get("vcpu"),
        f"no Fargate vCPU-hour price in {bill.region}",
    )
    bill.add(
        FARGATE,
        "memory",
        detail,
        memory,
        "GB",
        prices.fargate.get("memory"),
        f"no Fargate GB-hour price in {bill.region}",
    )


def _storage_lines(facts: ClusterCostFacts, prices: RegionPrices, bill: _Bill) -> None:
    by_type: dict[str, list[VolumeFacts]] = defaultdict(list)
    for volume in facts.volumes:
        by_type[volume.volume_type].append(volume)
    for volume_type, volumes in sorted(by_type.items()):
        size = sum(volume.size_gib for volume in volumes)
        claims = listed([volume.claim or volume.volume_id for volume in volumes])
        bill.add(
            STORAGE,
            volume_type,
            f"{len(volumes)} volumes, {size} GiB ({claims})",
            Decimal(size),
            "GiB",
            prices.ebs.get(volume_type),
            f"no {volume_type} GB-month price in {bill.region}",
        )
        _volume_extra_lines(bill, volume_type, volumes, prices)


#: A volume's provisioned amount of each billed extra, and the unit it is counted in.
_EXTRAS = {"iops": ("iops", "IOPS"), "throughput": ("throughput_mibps", "MiB/s")}


def _volume_extra_lines(bill: _Bill, volume_type: str, volumes: list[VolumeFacts], prices: RegionPrices) -> None:
    """Provisioned IOPS and throughput beyond what the volume type includes (gp3: 3,000 IOPS and 125 MiB/s;
    io1/io2: every provisioned IOPS), billed per month."""
    ebs = cost_rules().ebs
    included = {"iops": ebs.gp3_included_iops, "throughput": ebs.gp3_included_throughput_mibps}
    for extra, price_key in sorted(ebs.extras.get(volume_type, {}).items()):
        attribute, unit = _EXTRAS[extra]
        free = included[extra] if volume_type == "gp3" else 0
        beyond = sum(max(0, (getattr(volume, attribute) or 0) - free) for volume in volumes)
        if beyond:
            bill.add(
                STORAGE,
                f"{volume_type} {unit}",
                f"{beyond} {unit} provisioned beyond the {free} included per volume",
                Decimal(beyond),
                unit,
                prices.ebs.get(price_key),
                f"no {volume_type} {unit}-month price in {bill.region}",
            )


def _load_balancer_lines(facts: ClusterCostFacts, prices: RegionPrices, bill: _Bill) -> None:
    by_kind: dict[str, list[str]] = defaultdict(list)
    for balancer in facts.load_balancers:
        by_kind[balancer.kind].append(balancer.owner or balancer.name)
    for kind, owners in sorted(by_kind.items()):
        bill.add(
            LOAD_BALANCERS,
            kind,
            f"{len(owners)} x {kind} ({listed(owners)}); capacity units not included",
            Decimal(len(owners)),
            "load balancer",
            prices.load_balancer.get(kind),
            f"no {kind} load balancer hourly price in {bill.region}",
        )
