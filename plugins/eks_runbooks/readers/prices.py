"""Read the prices one region's clusters need, through one target's AWS connection, once per run.

The Price List Query API (``pricing:GetProducts``) answers on-demand instance prices (one call per instance type,
filtered as Karpenter and eks-node-viewer filter), EBS (one call) and Amazon EKS (one call: control plane, Fargate,
Auto Mode's fee); ``ec2:DescribeSpotPriceHistory`` answers spot prices (one call for every type). What the Price
List refused or did not answer comes from the product's dated snapshot (``include/cost/prices.yaml``), and the
prices' notes say so, naming the connection, the error and the snapshot's date; what neither gives is not priced,
never $0. Load balancers' hourly prices always come from the snapshot. A throttled call is retried by botocore and,
if it still fails, fails the task (Airflow retries it): it is never taken for a refusal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eks_runbooks.core.clock import utc_today
from eks_runbooks.core.cost.price_list import (
    ebs_prices,
    eks_prices,
    fill_from_snapshot,
    instance_prices,
    load_snapshot,
    snapshot_region_prices,
)
from eks_runbooks.core.cost.prices import PER_HOUR, Price, RegionPrices

if TYPE_CHECKING:
    from eks_runbooks.hooks.pricing import PricingHook

#: The SKU a running Linux on-demand node is billed by (aws/karpenter-provider-aws pkg/providers/pricing
#: pricing.go; awslabs/eks-node-viewer pkg/aws/pricing.go): without capacitystatus and marketoption the answer
#: also holds reservations and a $0.00 Capacity Block (runbook-facts-wave2.md §2). Tenancy Dedicated is asked too
#: because eks-node-viewer prices bare metal by it; the parser keeps Shared first.
ON_DEMAND_FILTERS = {
    "operatingSystem": "Linux",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "marketoption": "OnDemand",
}
#: gp2 volumes are judged against gp3, which is priced even when no volume is gp3; IOPS and throughput extras
#: matter for the volume types that bill them.
ALWAYS_PRICED_VOLUME_TYPES = ("gp3",)
VOLUME_EXTRAS = {
    "gp2": ("gp3-iops", "gp3-throughput"),
    "gp3": ("gp3-iops", "gp3-throughput"),
    "io1": ("io1-iops",),
    "io2": ("io2-iops",),
}
SNAPSHOT_NAME = "include/cost/prices.yaml"


def read_region_prices(
    aws_conn_id: str,
    region: str,
    instance_types: Collection[str],
    volume_types: Collection[str],
    *,
    fargate: bool,
    auto_mode: bool,
    control_plane_tiers: Collection[str] = (),
) -> RegionPrices:
    """Every price the clusters of one target in one region need, each with its source.

    :param instance_types: the instance types their nodes run (on-demand and spot are read for each).
    :param volume_types: the EBS volume types behind their PersistentVolumes.
    :param fargate: whether any of them runs Fargate pods (Fargate's rates are then wanted).
    :param auto_mode: whether any of them uses EKS Auto Mode (its per-instance fee is then wanted).
    :param control_plane_tiers: the provisioned control-plane tiers they set (``tier-xl`` ...), if any.
    """
    from eks_runbooks.hooks.pricing import PricingHook, price_list_region

    endpoint = price_list_region(region)
    prices = RegionPrices(aws_conn_id=aws_conn_id, region=region)
    types = sorted(set(instance_types))
    volumes = sorted({*volume_types, *ALWAYS_PRICED_VOLUME_TYPES}) if volume_types else []
    pricing = PricingHook(aws_conn_id=aws_conn_id, region_name=endpoint)
    refusal = _read_price_list(pricing, prices, region, types, volumes, f"Price List API ({endpoint}) {utc_today()}")
    _read_spot(prices, aws_conn_id, region, types)
    wanted = _wanted(types, volumes, fargate=fargate, auto_mode=auto_mode)
    wanted["control_plane"].extend(sorted(set(control_plane_tiers) - {"standard"}))
    _fill_from_snapshot(prices, wanted, refusal, endpoint)
    return prices


def _read_price_list(
    pricing: PricingHook, prices: RegionPrices, region: str, types: list[str], volumes: list[str], source: str
) -> str | None:
    """Fill ``prices`` from the Price List; the refusal's code when it refused (nothing more is asked then)."""
    reads: list[Callable[[], None]] = [
        functools.partial(_read_instance, pricing, prices, region, instance_type, source) for instance_type in types
    ]
    if volumes:
        reads.append(functools.partial(_read_ebs, pricing, prices, region, volumes, source))
    reads.append(functools.partial(_read_eks, pricing, prices, region, source))
    for read in reads:
        refusal = _refused(read)
        if refusal is not None:
            return refusal
    return None


def _refused(read: Callable[[], None]) -> str | None:
    from eks_runbooks.hooks.pricing import refusal_code

    try:
        read()
    except Exception as error:
        code = refusal_code(error)
        if code is None:
            raise
        return code
    return None


def _term_match(**fields: str) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": name, "Value": value} for name, value in fields.items()]


def _read_instance(pricing: PricingHook, prices: RegionPrices, region: str, instance_type: str, source: str) -> None:
    filters = [
        *_term_match(instanceType=instance_type, regionCode=region, **ON_DEMAND_FILTERS),
        {"Type": "ANY_OF", "Field": "tenancy", "Value": "Shared,Dedicated"},
    ]
    prices.on_demand.update(instance_prices(pricing.get_products("AmazonEC2", filters), source))


def _read_ebs(pricing: PricingHook, prices: RegionPrices, region: str, volumes: list[str], source: str) -> None:
    # By volumeApiName rather than productFamily Storage: the same answer then carries the IOPS and throughput
    # products of those volume types (productFamily System Operation / Provisioned Throughput; UNCONFIRMED that
    # the real list names their volumeApiName — when it does not, the snapshot fills them in, noted).
    filters = [
        *_term_match(regionCode=region),
        {"Type": "ANY_OF", "Field": "volumeApiName", "Value": ",".join(volumes)},
    ]
    prices.ebs.update(ebs_prices(pricing.get_products("AmazonEC2", filters), source))


def _read_eks(pricing: PricingHook, prices: RegionPrices, region: str, source: str) -> None:
    answer = eks_prices(pricing.get_products("AmazonEKS", _term_match(regionCode=region)), source)
    prices.control_plane.update(answer.control_plane)
    prices.fargate.update(answer.fargate)
    prices.auto_mode.update(answer.auto_mode)


def _read_spot(prices: RegionPrices, aws_conn_id: str, region: str, types: list[str]) -> None:
    """Spot prices per type and zone; a refusal is noted (spot has no snapshot: spot nodes are then priced at
    on-demand, an upper bound)."""
    from eks_runbooks.hooks.pricing import SpotPriceHook

    latest: dict[str, dict[str, dict[str, Any]]] = {}

    def read() -> None:
        latest.update(SpotPriceHook(aws_conn_id=aws_conn_id, region_name=region).latest_spot_prices(types))

    refusal = _refused(read) if types else None
    if refusal is not None:
        prices.notes.append(
            f"DescribeSpotPriceHistory refused connection {aws_conn_id} in {region} ({refusal}): spot nodes are "
            "priced at their on-demand price, an upper bound"
        )
    for instance_type, zones in latest.items():
        prices.spot[instance_type] = {
            zone: Price(
                Decimal(entry["SpotPrice"]),
                PER_HOUR,
                f"DescribeSpotPriceHistory {region} {entry['Timestamp'].isoformat()}",
            )
            for zone, entry in zones.items()
        }


def _wanted(types: list[str], volumes: list[str], *, fargate: bool, auto_mode: bool) -> dict[str, list[str]]:
    extras = [extra for volume in volumes for extra in VOLUME_EXTRAS.get(volume, ())]
    return {
        "on_demand": types,
        "ebs": [*volumes, *dict.fromkeys(extras)],
        "control_plane": ["standard", "extended"],
        "fargate": ["vcpu", "memory"] if fargate else [],
        "auto_mode": types if auto_mode else [],
    }


def _fill_from_snapshot(prices: RegionPrices, wanted: dict[str, list[str]], refusal: str | None, endpoint: str) -> None:
    """What the Price List did not give, from the snapshot, noted; load balancers always; the rest not priced."""
    snapshot, date = snapshot_region_prices(prices.aws_conn_id, prices.region), load_snapshot().date
    filled = fill_from_snapshot(prices, snapshot, wanted)
    from_snapshot = f"from the price snapshot of {date} ({SNAPSHOT_NAME})"
    if refusal is not None:
        prices.notes.append(
            f"the Price List API ({endpoint}) refused connection {prices.aws_conn_id} ({refusal})"
            + (f": {', '.join(filled)} are {from_snapshot}" if filled else "")
        )
    elif filled:
        prices.notes.append(
            f"the Price List API ({endpoint}) had no product for {', '.join(filled)} in {prices.region}: "
            f"{from_snapshot}"
        )
    prices.load_balancer.update(snapshot.load_balancer)
    if snapshot.load_balancer:
        prices.notes.append(f"load balancers are priced by the hour from the price snapshot of {date} (LCUs excluded)")
    missing = [
        f"{section} {key}" for section, keys in wanted.items() for key in keys if key not in getattr(prices, section)
    ]
    if missing:
        prices.notes.append(f"no price from the Price List or the snapshot for {', '.join(missing)}: not priced")
