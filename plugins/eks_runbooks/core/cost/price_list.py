"""The AWS Price List read as the cost audit needs it, and the product's own dated snapshot for when it cannot be.

``GetProducts`` answers ``PriceList``: a list of JSON strings (botocore leaves them undecoded), each a product with
``product.attributes`` and ``terms.OnDemand.<sku>.<offer term>.priceDimensions.<rate>.pricePerUnit.USD``
[botocore pricing 2017-10-15; runbook-facts-wave2.md §2]. The functions here turn answers into ``Price``s and keep
only what a running Linux node, volume or cluster is billed: never a $0.00 Capacity Block or reservation SKU that
shares an instance type with the on-demand one (OpenCost testdata/pricing-us-east-1.json).

``snapshot_prices`` reads ``include/cost/prices.yaml`` (dated, a source per region and section) for what the API
refused or did not answer; each of its prices says so in its source.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from eks_runbooks.core.cost.prices import PER_GB_HOUR, PER_GB_MONTH, PER_HOUR, PER_VCPU_HOUR, Price, RegionPrices
from eks_runbooks.core.include import include_path

#: Units of the EBS extras (``gp3-iops``, ``gp3-throughput``, ``io1-iops`` ...) in ``RegionPrices.ebs``.
PER_IOPS_MONTH, PER_MIBPS_MONTH = "IOPS-month", "MiBps-month"

#: Product families of instances; eks-node-viewer asks for bare metal with tenancy Dedicated
#: (awslabs/eks-node-viewer pkg/aws/pricing.go updateOnDemandPricing), so that is the one Dedicated SKU taken.
VIRTUAL_FAMILY, BARE_METAL_FAMILY = "Compute Instance", "Compute Instance (bare metal)"
#: The attributes of the SKU a running Linux on-demand instance is billed by, as Karpenter and eks-node-viewer
#: filter for it (runbook-facts-wave2.md §2): a Capacity Block (marketoption CapacityBlock) or an allocated
#: reservation (capacitystatus AllocatedCapacityReservation) is $0.00 and is not the instance's price.
LINUX_ON_DEMAND = {"operatingSystem": "Linux", "preInstalledSw": "NA", "capacitystatus": "Used"}
ON_DEMAND_MARKET = "OnDemand"

#: AmazonEKS usage types after their region prefix (``USE1-``, ``EU-`` ...): Fargate Linux/x86 and the control
#: plane (runbook-facts-wave2.md §2; OpenCost fargate.go; eks-node-viewer updateFargatePricing).
EKS_USAGE_TYPES = {
    "AmazonEKS-Hours:perCluster": ("control_plane", "standard", PER_HOUR),
    "AmazonEKS-Hours:extendedSupport": ("control_plane", "extended", PER_HOUR),
    "Fargate-vCPU-Hours:perCPU": ("fargate", "vcpu", PER_VCPU_HOUR),
    "Fargate-GB-Hours": ("fargate", "memory", PER_GB_HOUR),
}
#: ``…-AmazonEKS-Hours:XL-ProvisionedTier`` → ``tier-xl`` (the tier as ``controlPlaneScalingConfig.tier`` names it;
#: usage type from third-party captures, UNCONFIRMED).
PROVISIONED_TIER = re.compile(r"^AmazonEKS-Hours:(?P<tier>\w+)-ProvisionedTier$")
#: EKS Auto Mode's per-instance fee: ServiceCode AmazonEKS, operation EKSAutoUsage, by instanceType
#: (eks-node-viewer; runbook-facts-wave2.md §2).
AUTO_MODE_OPERATION = "EKSAutoUsage"
REGION_PREFIX = re.compile(r"^[A-Z]{2,4}\d*-")
#: gp3 throughput may be listed per GiBps-month; the audit keeps it per MiB/s-month (UNCONFIRMED unit spelling).
GIBPS_UNITS = frozenset({"GiBps-mo", "GiBps-Mo"})

SNAPSHOT_FILE = ("cost", "prices.yaml")
#: Snapshot sections → (RegionPrices field, unit of every entry or None when the key decides it).
SNAPSHOT_SECTIONS = {
    "on_demand": PER_HOUR,
    "ebs": None,
    "fargate": None,
    "control_plane": PER_HOUR,
    "load_balancer": PER_HOUR,
}


def decode_price_list(items: Iterable[str | Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """The products of a ``PriceList``: JSON strings as botocore returns them (dicts pass through)."""
    for item in items:
        yield json.loads(item) if isinstance(item, str) else dict(item)


def on_demand_price(product: Mapping[str, Any]) -> tuple[Decimal, str] | None:
    """The first-tier on-demand price of a product and its unit (``Hrs``, ``GB-Mo`` ...), None when it has none."""
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        dimensions = sorted(
            term.get("priceDimensions", {}).values(), key=lambda dimension: Decimal(dimension.get("beginRange") or 0)
        )
        if dimensions and "USD" in dimensions[0].get("pricePerUnit", {}):
            return _plain(Decimal(dimensions[0]["pricePerUnit"]["USD"])), dimensions[0].get("unit", "")
    return None


def instance_prices(products: Iterable[Mapping[str, Any]], source: str) -> dict[str, Price]:
    """Linux on-demand per hour by instance type, from AmazonEC2 products: only the running (``Used``), on-demand,
    shared-tenancy (or bare-metal Dedicated), no-software SKU, and never a $0.00 one."""
    found: dict[str, tuple[int, Price]] = {}
    for product in products:
        rank = _linux_on_demand_rank(product)
        priced = on_demand_price(product) if rank is not None else None
        if rank is None or priced is None or priced[0] <= 0:
            continue
        instance_type = product["product"]["attributes"]["instanceType"]
        if instance_type not in found or rank < found[instance_type][0]:
            found[instance_type] = (rank, Price(priced[0], PER_HOUR, source))
    return {instance_type: price for instance_type, (_rank, price) in found.items()}


def _linux_on_demand_rank(product: Mapping[str, Any]) -> int | None:
    """0 for a shared-tenancy Linux on-demand SKU, 1 for bare metal's Dedicated one, None for any other SKU."""
    attributes = product.get("product", {}).get("attributes", {})
    if "instanceType" not in attributes or any(attributes.get(k) != v for k, v in LINUX_ON_DEMAND.items()):
        return None
    if attributes.get("marketoption", ON_DEMAND_MARKET) != ON_DEMAND_MARKET:
        return None
    if attributes.get("tenancy") == "Shared":
        return 0
    family = product["product"].get("productFamily")
    return 1 if attributes.get("tenancy") == "Dedicated" and family == BARE_METAL_FAMILY else None


def ebs_prices(products: Iterable[Mapping[str, Any]], source: str) -> dict[str, Price]:
    """EBS by ``volumeApiName``: storage per GB-month (``gp3``), provisioned IOPS (``gp3-iops``) and throughput
    (``gp3-throughput``, per MiB/s-month)."""
    prices: dict[str, Price] = {}
    for product in products:
        attributes = product.get("product", {}).get("attributes", {})
        volume_type, priced = attributes.get("volumeApiName"), on_demand_price(product)
        if not volume_type or priced is None or priced[0] <= 0:
            continue
        key, usd, unit = _ebs_entry(product["product"].get("productFamily", ""), attributes, volume_type, *priced)
        if key:
            prices.setdefault(key, Price(usd, unit, source))
    return prices


def _ebs_entry(
    family: str, attributes: Mapping[str, str], volume_type: str, usd: Decimal, unit: str
) -> tuple[str, Decimal, str]:
    usage_type = attributes.get("usagetype", "")
    if family == "Storage":
        return volume_type, usd, PER_GB_MONTH
    if "IOPS" in usage_type:
        return f"{volume_type}-iops", usd, PER_IOPS_MONTH
    if "Throughput" in usage_type:
        return f"{volume_type}-throughput", _plain(usd / 1024) if unit in GIBPS_UNITS else usd, PER_MIBPS_MONTH
    return "", usd, unit


@dataclass
class EksPrices:
    """What the AmazonEKS products of one region price: the control plane, Fargate and Auto Mode's fee."""

    control_plane: dict[str, Price] = field(default_factory=dict)
    fargate: dict[str, Price] = field(default_factory=dict)
    auto_mode: dict[str, Price] = field(default_factory=dict)


def eks_prices(products: Iterable[Mapping[str, Any]], source: str) -> EksPrices:
    """Control plane (standard, the extended-support surcharge, provisioned tiers), Fargate Linux/x86 vCPU and GB
    hours, and Auto Mode's per-instance fee, told apart by usage type and operation."""
    prices = EksPrices()
    for product in products:
        attributes = product.get("product", {}).get("attributes", {})
        priced = on_demand_price(product)
        if priced is None or priced[0] <= 0:
            continue
        place = _eks_entry(attributes)
        if place is not None:
            section, key, unit = place
            getattr(prices, section).setdefault(key, Price(priced[0], unit, source))
    return prices


def _eks_entry(attributes: Mapping[str, str]) -> tuple[str, str, str] | None:
    if attributes.get("operation") == AUTO_MODE_OPERATION:
        instance_type = attributes.get("instanceType") or attributes.get("instancetype")
        return ("auto_mode", instance_type, PER_HOUR) if instance_type else None
    stem = REGION_PREFIX.sub("", attributes.get("usagetype", ""), count=1)
    if stem in EKS_USAGE_TYPES:
        return EKS_USAGE_TYPES[stem]
    tier = PROVISIONED_TIER.match(stem)
    return ("control_plane", f"tier-{tier['tier'].lower()}", PER_HOUR) if tier else None


def _plain(usd: Decimal) -> Decimal:
    """``0.0960000000`` → ``0.096``: the Price List pads to ten places; the audit keeps the figure, not the padding."""
    return Decimal(f"{usd.normalize():f}")


# --- the product's own snapshot -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceSnapshot:
    """``include/cost/prices.yaml`` as read: its date and, per region, its prices (sources included)."""

    date: str
    regions: Mapping[str, dict[str, dict[str, Price]]]


def load_snapshot(path: Path | None = None) -> PriceSnapshot:
    """The product's price snapshot (read once per process and file)."""
    return _load_snapshot(path or include_path(*SNAPSHOT_FILE))


@cache
def _load_snapshot(path: Path) -> PriceSnapshot:
    data = yaml.safe_load(path.read_text())
    date = str(data["snapshot_date"])
    regions = {
        region: {
            section: _snapshot_section(section, entry[section], _section_source(data, entry, section), date)
            for section in SNAPSHOT_SECTIONS
            if section in entry
        }
        for region, entry in data["regions"].items()
    }
    return PriceSnapshot(date, regions)


def _section_source(data: Mapping[str, Any], entry: Mapping[str, Any], section: str) -> str:
    source = entry.get(f"{section}_source") or data.get("sources", {}).get(section)
    if not source:
        raise ValueError(f"include/cost/prices.yaml: {section} has no source")
    return " ".join(str(source).split())


def _snapshot_section(section: str, values: Mapping[str, Any], source: str, date: str) -> dict[str, Price]:
    """A section's prices: ``key: "0.10"`` takes the section's source, ``key: {usd, source}`` its own."""
    prices = {}
    for key, value in values.items():
        usd, own_source = (value["usd"], value["source"]) if isinstance(value, Mapping) else (value, source)
        unit = SNAPSHOT_SECTIONS[section] or _snapshot_unit(section, key)
        prices[key] = Price(_plain(Decimal(str(usd))), unit, f"price snapshot {date}: {' '.join(own_source.split())}")
    return prices


def _snapshot_unit(section: str, key: str) -> str:
    if section == "fargate":
        return PER_VCPU_HOUR if key == "vcpu" else PER_GB_HOUR
    if key.endswith("-iops"):
        return PER_IOPS_MONTH
    return PER_MIBPS_MONTH if key.endswith("-throughput") else PER_GB_MONTH


def snapshot_region_prices(aws_conn_id: str, region: str, *, path: Path | None = None) -> RegionPrices:
    """Every price the snapshot holds for ``region`` (none for a region it does not hold), without notes."""
    sections = load_snapshot(path).regions.get(region, {})
    return RegionPrices(
        aws_conn_id=aws_conn_id, region=region, **{name: dict(sections.get(name, {})) for name in SNAPSHOT_SECTIONS}
    )


def snapshot_prices(aws_conn_id: str, region: str, reason: str, *, path: Path | None = None) -> RegionPrices:
    """Every price the snapshot holds for ``region``, with a note saying why the snapshot was used and its date.

    :param reason: why the Price List was not used, e.g. "the Price List API refused aws_prod (AccessDenied)".
    """
    date = load_snapshot(path).date
    prices = snapshot_region_prices(aws_conn_id, region, path=path)
    if any(prices.to_dict()[name] for name in SNAPSHOT_SECTIONS):
        prices.notes.append(f"{reason}: prices for {region} are from the price snapshot of {date}")
    else:
        prices.notes.append(f"{reason}, and the price snapshot of {date} has no prices for {region}: not priced")
    return prices


def fill_from_snapshot(prices: RegionPrices, snapshot: RegionPrices, wanted: Mapping[str, Iterable[str]]) -> list[str]:
    """Add to ``prices`` what it lacks and the snapshot has, for the keys ``wanted`` names per section
    (``{"on_demand": ["m5.large"], "ebs": ["gp2"]}``); return what was filled, as ``section key``."""
    filled = []
    for section, keys in wanted.items():
        have, spare = getattr(prices, section), getattr(snapshot, section)
        for key in keys:
            if key not in have and key in spare:
                have[key] = spare[key]
                filled.append(f"{section} {key}")
    return filled
