"""Price List answers turned into prices, and the product's own snapshot: pure, with answers shaped as AWS records
them (OpenCost testdata/pricing-us-east-1.json; runbook-facts-wave2.md §2) written here."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import yaml

from eks_runbooks.core.cost.price_list import (
    PER_IOPS_MONTH,
    PER_MIBPS_MONTH,
    decode_price_list,
    ebs_prices,
    eks_prices,
    fill_from_snapshot,
    instance_prices,
    load_snapshot,
    snapshot_prices,
)
from eks_runbooks.core.cost.prices import PER_GB_MONTH, PER_HOUR, Price, RegionPrices
from eks_runbooks.core.include import include_path

SOURCE = "Price List API (us-east-1) 2026-01-20"


def product(family: str, attributes: dict, usd: str, unit: str = "Hrs", sku: str = "SKU1", **extra_dimensions) -> str:
    """One PriceList item as GetProducts returns it: a JSON string, its price under the on-demand offer term."""
    term, rate = f"{sku}.JRTCKXETXF", f"{sku}.JRTCKXETXF.6YS6EN2CT7"
    dimensions = {rate: {"unit": unit, "beginRange": "0", "endRange": "Inf", "pricePerUnit": {"USD": usd}}}
    dimensions.update(extra_dimensions)
    return json.dumps(
        {
            "product": {"productFamily": family, "attributes": attributes, "sku": sku},
            "serviceCode": attributes.get("servicecode", "AmazonEC2"),
            "terms": {"OnDemand": {term: {"priceDimensions": dimensions, "sku": sku, "offerTermCode": "JRTCKXETXF"}}},
            "version": "20260119000000",
            "publicationDate": "2026-01-19T00:00:00Z",
        }
    )


def linux(instance_type: str, **overrides: str) -> dict:
    return {
        "instanceType": instance_type,
        "regionCode": "us-east-1",
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "marketoption": "OnDemand",
        "usagetype": f"BoxUsage:{instance_type}",
        **overrides,
    }


def test_an_m5_large_is_priced_by_its_linux_on_demand_sku_not_its_zero_dollar_capacity_block():
    answer = [
        product("Compute Instance", linux("m5.large", marketoption="CapacityBlock"), "0.0000000000", sku="CB"),
        product("Compute Instance", linux("m5.large"), "0.0960000000", sku="OD"),
        product(
            "Compute Instance",
            linux("m5.large", capacitystatus="AllocatedCapacityReservation", usagetype="Reservation:m5.large"),
            "0.0000000000",
            sku="AR",
        ),
        product(
            "Compute Instance",
            linux("m5.large", capacitystatus="UnusedCapacityReservation", usagetype="UnusedBox:m5.large"),
            "0.0960000000",
            sku="UR",
        ),
    ]

    prices = instance_prices(decode_price_list(answer), SOURCE)

    assert prices == {"m5.large": Price(Decimal("0.096"), PER_HOUR, SOURCE)}


def test_a_capacity_block_sku_alone_leaves_the_instance_type_unpriced_rather_than_free():
    answer = [product("Compute Instance", linux("p5.48xlarge", marketoption="CapacityBlock"), "0.0000000000")]

    assert instance_prices(decode_price_list(answer), SOURCE) == {}


@pytest.mark.parametrize(
    "overrides",
    [
        {"operatingSystem": "Windows"},
        {"tenancy": "Dedicated"},
        {"tenancy": "Host"},
        {"preInstalledSw": "SQL Std"},
        {"capacitystatus": "UnusedCapacityReservation"},
    ],
)
def test_skus_a_running_linux_node_is_not_billed_by_are_ignored(overrides):
    answer = [product("Compute Instance", linux("m5.large", **overrides), "0.5000000000")]

    assert instance_prices(decode_price_list(answer), SOURCE) == {}


def test_bare_metal_is_priced_by_its_dedicated_sku_as_eks_node_viewer_asks_for_it():
    answer = [product("Compute Instance (bare metal)", linux("m5.metal", tenancy="Dedicated"), "4.6080000000")]

    assert instance_prices(decode_price_list(answer), SOURCE)["m5.metal"].usd == Decimal("4.608")


def test_ebs_storage_iops_and_throughput_by_volume_api_name():
    answer = [
        product("Storage", {"volumeApiName": "gp2", "usagetype": "EBS:VolumeUsage.gp2"}, "0.1000000000", "GB-Mo"),
        product("Storage", {"volumeApiName": "gp3", "usagetype": "EBS:VolumeUsage.gp3"}, "0.0800000000", "GB-Mo"),
        product(
            "System Operation", {"volumeApiName": "gp3", "usagetype": "EBS:VolumeP-IOPS.gp3"}, "0.0050000000", "IOPS-Mo"
        ),
        product(
            "Provisioned Throughput",
            {"volumeApiName": "gp3", "usagetype": "EBS:VolumeP-Throughput.gp3"},
            "40.9600000000",
            "GiBps-mo",
        ),
        product("Storage Snapshot", {"usagetype": "EBS:SnapshotUsage"}, "0.0500000000", "GB-Mo"),
    ]

    prices = ebs_prices(decode_price_list(answer), SOURCE)

    assert {key: (price.usd, price.unit) for key, price in prices.items()} == {
        "gp2": (Decimal("0.1"), PER_GB_MONTH),
        "gp3": (Decimal("0.08"), PER_GB_MONTH),
        "gp3-iops": (Decimal("0.005"), PER_IOPS_MONTH),
        "gp3-throughput": (Decimal("0.04"), PER_MIBPS_MONTH),
    }


def test_a_tiered_price_takes_its_first_tier():
    second_tier = {"unit": "IOPS-Mo", "beginRange": "32000", "endRange": "64000", "pricePerUnit": {"USD": "0.0455"}}
    answer = [
        product(
            "System Operation",
            {"volumeApiName": "io2", "usagetype": "EBS:VolumeP-IOPS.io2"},
            "0.0650000000",
            "IOPS-Mo",
            **{"SKU1.JRTCKXETXF.TIER2": second_tier},
        )
    ]

    assert ebs_prices(decode_price_list(answer), SOURCE)["io2-iops"].usd == Decimal("0.065")


def test_eks_products_are_told_apart_by_usage_type_and_operation():
    def eks(usage_type: str, usd: str, **attributes: str) -> str:
        return product("Compute", {"servicecode": "AmazonEKS", "usagetype": usage_type, **attributes}, usd, "Hours")

    answer = [
        eks("USE1-AmazonEKS-Hours:perCluster", "0.1000000000", operation="CreateOperation"),
        eks("USE1-AmazonEKS-Hours:extendedSupport", "0.5000000000", operation="ExtendedSupport"),
        eks("USE1-AmazonEKS-Hours:perOutpostsCluster", "0.2000000000", operation="CreateOperation"),
        eks("USE1-AmazonEKS-Hours:XL-ProvisionedTier", "1.6500000000"),
        eks("USE1-Fargate-vCPU-Hours:perCPU", "0.0404800000"),
        eks("USE1-Fargate-GB-Hours", "0.0044450000"),
        eks("USE1-Fargate-ARM-vCPU-Hours:perCPU", "0.0323800000"),
        eks("USE1-Fargate-ARM-GB-Hours", "0.0035600000"),
        eks("USE1-AutoNode:m5.large", "0.0115200000", operation="EKSAutoUsage", instanceType="m5.large"),
    ]

    prices = eks_prices(decode_price_list(answer), SOURCE)

    assert {key: str(price.usd) for key, price in prices.control_plane.items()} == {
        "standard": "0.1",
        "extended": "0.5",
        "tier-xl": "1.65",
    }
    assert {key: str(price.usd) for key, price in prices.fargate.items()} == {"vcpu": "0.04048", "memory": "0.004445"}
    assert {key: str(price.usd) for key, price in prices.auto_mode.items()} == {"m5.large": "0.01152"}


def test_the_snapshot_names_its_date_and_source_in_every_price_and_says_why_it_was_used():
    data = yaml.safe_load(include_path("cost", "prices.yaml").read_text())

    prices = snapshot_prices("aws_prod", "eu-west-1", "the Price List API refused aws_prod (AccessDeniedException)")

    date = str(data["snapshot_date"])
    assert prices.on_demand["m5.large"].usd == Decimal(data["regions"]["eu-west-1"]["on_demand"]["m5.large"])
    assert prices.on_demand["m5.large"].source.startswith(f"price snapshot {date}: ")
    assert prices.ebs["gp3-iops"].unit == PER_IOPS_MONTH
    assert prices.control_plane["extended"].usd == Decimal("0.50")
    assert prices.spot == {} and prices.auto_mode == {}
    (note,) = prices.notes
    assert "aws_prod" in note and "AccessDeniedException" in note and date in note


def test_a_region_the_snapshot_does_not_hold_is_not_priced_and_says_so():
    prices = snapshot_prices("aws_prod", "sa-east-1", "the Price List API refused aws_prod (AccessDeniedException)")

    assert prices.on_demand == {} and prices.control_plane == {}
    assert "sa-east-1" in prices.notes[0] and "not priced" in prices.notes[0]


def test_every_snapshot_region_holds_the_demo_fleets_instance_types_and_the_audits_other_prices():
    fleet = (include_path("sandbox", "fleets", "demo.yaml")).read_text()
    snapshot = load_snapshot()

    for region in ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"):
        sections = snapshot.regions[region]
        demo_types = {name for name in sections["on_demand"] if name in fleet}
        assert {"m5.large", "m5.xlarge", "m5.2xlarge", "c5.xlarge", "r5.large", "t3.medium"} <= demo_types
        assert {"gp2", "gp3", "io1", "io2", "st1", "sc1", "gp3-iops", "gp3-throughput"} <= set(sections["ebs"])
        assert set(sections["fargate"]) == {"vcpu", "memory"}
        assert {"standard", "extended"} <= set(sections["control_plane"])
        assert set(sections["load_balancer"]) == {"application", "network", "gateway", "classic"}
        assert all(price.usd > 0 for prices in sections.values() for price in prices.values())


def test_what_the_api_did_not_answer_is_filled_from_the_snapshot_and_listed():
    api = Price(Decimal("0.096"), PER_HOUR, SOURCE)
    prices = RegionPrices("aws_default", "us-east-1", on_demand={"m5.large": api})
    snapshot = snapshot_prices("aws_default", "us-east-1", "no product")

    filled = fill_from_snapshot(prices, snapshot, {"on_demand": ["m5.large", "m5.xlarge", "x9.huge"], "ebs": ["gp2"]})

    assert filled == ["on_demand m5.xlarge", "ebs gp2"]
    assert prices.on_demand["m5.large"] is api
    assert "x9.huge" not in prices.on_demand


def test_an_unconfirmed_figure_says_so_in_its_own_source():
    prices = snapshot_prices("aws_prod", "us-east-1", "the Price List API refused aws_prod (AccessDeniedException)")

    assert "UNCONFIRMED" in prices.control_plane["tier-xl"].source
    assert "UNCONFIRMED" not in prices.control_plane["standard"].source
    assert "UNCONFIRMED" not in prices.on_demand["m5.large"].source  # checked against the Price List's own table


def test_a_snapshot_section_without_a_source_is_refused(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump({"snapshot_date": "2026-12-02", "regions": {"us-east-1": {"ebs": {"gp3": "0.08"}}}}))

    with pytest.raises(ValueError, match="ebs has no source"):
        snapshot_prices("aws_prod", "us-east-1", "refused", path=path)
