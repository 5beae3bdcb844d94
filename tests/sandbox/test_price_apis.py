"""The sandbox answers the Price List Query API and EC2's spot price history as AWS does, from its price snapshot."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from helpers import DEMO_FLEET, WORLD_DATE

SNAPSHOT = yaml.safe_load((Path(__file__).parents[2] / "include" / "sandbox" / "prices.yaml").read_text())

#: The filters eks-node-viewer and Karpenter send for a Linux on-demand price (runbook-facts-wave2.md §2).
ON_DEMAND_LINUX = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "marketoption": "OnDemand",
}


def _pricing():
    return boto3.client("pricing", region_name="us-east-1")


def _filters(**fields: str) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in fields.items()]


def _products(**fields: str) -> list[dict]:
    pages = _pricing().get_paginator("get_products").paginate(ServiceCode="AmazonEC2", Filters=_filters(**fields))
    return [json.loads(item) for page in pages for item in page["PriceList"]]


def _on_demand_usd(product: dict) -> str:
    (term,) = product["terms"]["OnDemand"].values()
    (dimension,) = term["priceDimensions"].values()
    return dimension["pricePerUnit"]["USD"]


def test_an_m5_large_in_us_east_1_has_one_linux_on_demand_product_at_the_snapshot_price(sandbox):
    (product,) = _products(instanceType="m5.large", regionCode="us-east-1", **ON_DEMAND_LINUX)

    assert product["product"]["attributes"]["instanceType"] == "m5.large"
    assert product["product"]["productFamily"] == "Compute Instance"
    assert float(_on_demand_usd(product)) == float(SNAPSHOT["regions"]["us-east-1"]["prices"]["m5.large"][0])


def test_the_price_list_items_are_json_strings_as_the_api_returns_them(sandbox):
    answer = _pricing().get_products(ServiceCode="AmazonEC2", Filters=_filters(instanceType="m5.large"), MaxResults=1)

    assert answer["FormatVersion"] == "aws_v1"
    assert isinstance(answer["PriceList"][0], str)


def test_filters_narrow_the_products_and_a_capacity_block_sku_shows_only_when_not_filtered_out(sandbox):
    unfiltered = _products(instanceType="m5.large", regionCode="us-east-1")
    linux_on_demand = _products(instanceType="m5.large", regionCode="us-east-1", **ON_DEMAND_LINUX)

    market_options = {product["product"]["attributes"]["marketoption"] for product in unfiltered}
    assert "CapacityBlock" in market_options
    assert len(linux_on_demand) < len(unfiltered)
    assert {product["product"]["attributes"]["marketoption"] for product in linux_on_demand} == {"OnDemand"}


def test_the_location_filter_narrows_like_the_region_code(sandbox):
    by_location = _products(instanceType="m5.large", location="EU (Ireland)", **ON_DEMAND_LINUX)

    assert [product["product"]["attributes"]["regionCode"] for product in by_location] == ["eu-west-1"]


def test_get_products_pages_with_next_token(sandbox):
    first = _pricing().get_products(ServiceCode="AmazonEC2", Filters=_filters(regionCode="us-east-1"), MaxResults=5)
    second = _pricing().get_products(
        ServiceCode="AmazonEC2", Filters=_filters(regionCode="us-east-1"), MaxResults=5, NextToken=first["NextToken"]
    )

    assert len(first["PriceList"]) == 5
    assert not set(first["PriceList"]) & set(second["PriceList"])
    assert len(_products(regionCode="us-east-1")) > 10


def test_ebs_volume_prices_per_gb_month_by_volume_api_name(sandbox):
    (gp3,) = _products(productFamily="Storage", volumeApiName="gp3", regionCode="us-east-1")

    assert float(_on_demand_usd(gp3)) == 0.08


def test_a_pricing_api_denied_by_a_fault_rule_answers_access_denied(sandbox):
    sandbox.faults.add_from_dict({"kind": "error", "service": "pricing", "error": "AccessDeniedException"})

    with pytest.raises(ClientError) as refused:
        _pricing().get_products(ServiceCode="AmazonEC2")

    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"


def test_spot_price_history_gives_the_latest_price_per_zone_below_on_demand(sandbox):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    zones = [zone["ZoneName"] for zone in ec2.describe_availability_zones()["AvailabilityZones"]]

    history = ec2.describe_spot_price_history(
        InstanceTypes=["m5.large"],
        ProductDescriptions=["Linux/UNIX", "Linux/UNIX (Amazon VPC)"],
        StartTime=sandbox.clock.now(),
    )["SpotPriceHistory"]

    assert {entry["AvailabilityZone"] for entry in history} == set(zones)
    on_demand = float(SNAPSHOT["regions"]["us-east-1"]["prices"]["m5.large"][0])
    assert all(0 < float(entry["SpotPrice"]) < on_demand for entry in history)
    assert {entry["InstanceType"] for entry in history} == {"m5.large"}


def test_spot_price_history_honours_the_product_description_and_the_time_window(sandbox):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    windows = ec2.describe_spot_price_history(InstanceTypes=["m5.large"], ProductDescriptions=["Windows"])
    long_ago = ec2.describe_spot_price_history(
        InstanceTypes=["m5.large"], EndTime=datetime.combine(WORLD_DATE, time(), UTC) - timedelta(days=400)
    )

    assert windows["SpotPriceHistory"] == []
    assert long_ago["SpotPriceHistory"] == []


@pytest.mark.parametrize("region", ["eu-central-1", "ap-south-1"])
def test_the_price_list_answers_at_its_other_endpoints(sandbox, region):
    answer = boto3.client("pricing", region_name=region).get_products(
        ServiceCode="AmazonEC2", Filters=_filters(instanceType="m5.large", regionCode="us-east-1", **ON_DEMAND_LINUX)
    )

    assert len(answer["PriceList"]) == 1


def test_the_price_list_refuses_a_region_where_it_has_no_endpoint(sandbox):
    # botocore endpoints.json, api.pricing in partition aws: us-east-1, eu-central-1, ap-south-1 only.
    with pytest.raises(ClientError):
        boto3.client("pricing", region_name="us-west-2").get_products(ServiceCode="AmazonEC2")


def test_spot_price_history_filters_by_zone_and_instance_type(sandbox):
    ec2 = boto3.client("ec2", region_name="us-east-1")

    history = ec2.describe_spot_price_history(
        Filters=[
            {"Name": "availability-zone", "Values": ["us-east-1a"]},
            {"Name": "instance-type", "Values": ["m5.large", "c5.large"]},
        ]
    )["SpotPriceHistory"]

    assert sorted((entry["AvailabilityZone"], entry["InstanceType"]) for entry in history) == [
        ("us-east-1a", "c5.large"),
        ("us-east-1a", "m5.large"),
    ]


def _eks_node_viewer_on_demand(tenancy: str, family: str) -> list[dict]:
    """The query awslabs/eks-node-viewer sends (pkg/aws/pricing.go fetchOnDemandPricing), field names and all."""
    fields = {"regionCode": "us-east-1", "serviceCode": "AmazonEC2", **ON_DEMAND_LINUX}
    fields |= {"tenancy": tenancy, "productFamily": family}
    return _products(**fields)


def test_the_eks_node_viewer_queries_find_one_price_per_instance_type_and_bare_metal_ones(sandbox):
    virtual = _eks_node_viewer_on_demand("Shared", "Compute Instance")
    metal = _eks_node_viewer_on_demand("Dedicated", "Compute Instance (bare metal)")

    snapshot_types = SNAPSHOT["regions"]["us-east-1"]["prices"]
    metal_types = {name for name in snapshot_types if SNAPSHOT["instance_types"][name].get("bare_metal")}
    instance_types = [product["product"]["attributes"]["instanceType"] for product in virtual]
    assert sorted(instance_types) == sorted(set(snapshot_types) - metal_types)
    assert metal_types
    assert sorted(product["product"]["attributes"]["instanceType"] for product in metal) == sorted(metal_types)
    assert all(float(_on_demand_usd(product)) > 0 for product in virtual + metal)


def test_fargate_rates_are_amazon_eks_products_per_vcpu_and_gb_hour(sandbox):
    # awslabs/eks-node-viewer pkg/aws/pricing.go updateFargatePricing: ServiceCode AmazonEKS, regionCode filter,
    # the rate told apart by "vCPU-Hours" / "GB-Hours" in the usage type.
    pages = (
        _pricing()
        .get_paginator("get_products")
        .paginate(ServiceCode="AmazonEKS", Filters=_filters(regionCode="us-east-1"))
    )
    products = [json.loads(item) for page in pages for item in page["PriceList"]]

    usage_types = [product["product"]["attributes"]["usagetype"] for product in products]
    assert any("Fargate-vCPU-Hours" in usage_type for usage_type in usage_types)
    assert any("Fargate-GB-Hours" in usage_type for usage_type in usage_types)


def test_spot_price_history_pages_end_after_one_page(sandbox):
    # eks-node-viewer reads it through the SDK's paginator, which must stop.
    pages = boto3.client("ec2", region_name="us-east-1").get_paginator("describe_spot_price_history")

    history = [entry for page in pages.paginate(InstanceTypes=["t3.medium"]) for entry in page["SpotPriceHistory"]]

    assert {entry["InstanceType"] for entry in history} == {"t3.medium"}


def test_describe_services_and_attribute_values_list_what_get_products_can_filter_on(sandbox):
    (service,) = _pricing().describe_services(ServiceCode="AmazonEC2")["Services"]
    values = _pricing().get_paginator("get_attribute_values")
    pages = values.paginate(ServiceCode="AmazonEC2", AttributeName="regionCode")
    region_codes = {value["Value"] for page in pages for value in page["AttributeValues"]}

    assert {"instanceType", "regionCode", "capacitystatus", "marketoption"} <= set(service["AttributeNames"])
    assert set(SNAPSHOT["regions"]) <= region_codes


def test_describe_services_of_an_unknown_service_is_not_found(sandbox):
    with pytest.raises(ClientError) as refused:
        _pricing().describe_services(ServiceCode="AmazonNothing")

    assert refused.value.response["Error"]["Code"] == "NotFoundException"


def test_describe_instance_types_calls_m5_current_and_m4_previous_generation_as_ec2_does(sandbox):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    answer = ec2.describe_instance_types(InstanceTypes=["m4.large", "m5.large", "c5.xlarge", "r5.large", "t3.medium"])
    generations = {item["InstanceType"]: item["CurrentGeneration"] for item in answer["InstanceTypes"]}
    assert generations == {
        "m4.large": False,
        "m5.large": True,
        "c5.xlarge": True,
        "r5.large": True,
        "t3.medium": True,
    }


def _demo_fleet_instance_types() -> set[tuple[str, str]]:
    """(region, instance type) of every managed node group of the demo fleet, from its fleet file."""
    fleet = yaml.safe_load(DEMO_FLEET.read_text())
    return {
        (region, instance_type)
        for account in fleet["accounts"]
        for region, entry in account["regions"].items()
        for cluster in entry["clusters"]
        for nodegroup in cluster.get("nodegroups", [])
        for instance_type in nodegroup.get("instance_types")
        or [(nodegroup.get("launch_template") or {}).get("instance_type", "m5.large")]
    }


def _demo_regions() -> set[str]:
    return {region for region, _ in _demo_fleet_instance_types()}


@pytest.mark.parametrize(("region", "instance_type"), sorted(_demo_fleet_instance_types()))
def test_every_instance_type_the_demo_fleet_runs_has_an_on_demand_price_and_a_spot_price_below_it(
    sandbox, region, instance_type
):
    (product,) = _products(instanceType=instance_type, regionCode=region, **ON_DEMAND_LINUX)
    on_demand = float(_on_demand_usd(product))
    history = boto3.client("ec2", region_name=region).describe_spot_price_history(
        InstanceTypes=[instance_type], ProductDescriptions=["Linux/UNIX (Amazon VPC)"], StartTime=sandbox.clock.now()
    )["SpotPriceHistory"]
    assert history
    assert all(0 < float(entry["SpotPrice"]) < on_demand for entry in history)


def _eks_usage_types(region: str) -> dict[str, float]:
    pages = (
        _pricing().get_paginator("get_products").paginate(ServiceCode="AmazonEKS", Filters=_filters(regionCode=region))
    )
    products = [json.loads(item) for page in pages for item in page["PriceList"]]
    return {product["product"]["attributes"]["usagetype"]: float(_on_demand_usd(product)) for product in products}


@pytest.mark.parametrize("region", sorted(_demo_regions()))
def test_every_demo_region_prices_the_control_plane_its_extended_support_and_fargate(sandbox, region):
    rates = _eks_usage_types(region)
    by_suffix = {usage_type.split("-", 1)[1]: usd for usage_type, usd in rates.items()}
    assert by_suffix["AmazonEKS-Hours:perCluster"] == 0.10
    assert by_suffix["AmazonEKS-Hours:extendedSupport"] == 0.50  # $0.60/h in extended support in all
    assert by_suffix["Fargate-vCPU-Hours:perCPU"] > 0
    assert by_suffix["Fargate-GB-Hours"] > 0


@pytest.mark.parametrize("region", sorted(_demo_regions()))
def test_every_demo_region_prices_gp2_above_gp3_and_gp3_iops(sandbox, region):
    (gp2,) = _products(productFamily="Storage", volumeApiName="gp2", regionCode=region)
    (gp3,) = _products(productFamily="Storage", volumeApiName="gp3", regionCode=region)
    (iops,) = _products(productFamily="System Operation", volumeApiName="gp3", regionCode=region)

    # gp3 costs 20 % less than gp2 per GB-month (aws.amazon.com/ebs/pricing)
    assert float(_on_demand_usd(gp3)) == pytest.approx(0.8 * float(_on_demand_usd(gp2)))
    assert float(_on_demand_usd(iops)) > 0
