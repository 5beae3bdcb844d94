"""PricingHook and SpotPriceHook on the sandbox: the Price List read across every page at the endpoint nearest the
target, decoded; the spot price in effect per type and zone; throttling retried, refusals told apart."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from eks_runbooks.hooks.pricing import PricingHook, SpotPriceHook, price_list_region, refusal_code

M5_LARGE_IN_US_EAST_1 = [
    {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "m5.large"},
    {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"},
]


@pytest.mark.parametrize(
    ("region", "endpoint"),
    [
        ("us-west-2", "us-east-1"),
        ("ca-central-1", "us-east-1"),
        ("sa-east-1", "us-east-1"),
        ("eu-west-1", "eu-central-1"),
        ("me-south-1", "eu-central-1"),
        ("af-south-1", "eu-central-1"),
        ("ap-southeast-2", "ap-south-1"),
        ("cn-north-1", "cn-northwest-1"),  # the aws-cn partition has its own (botocore endpoints.json)
    ],
)
def test_the_price_list_is_asked_at_the_endpoint_nearest_the_targets_region(region, endpoint):
    assert price_list_region(region) == endpoint


def test_every_page_of_products_is_read_and_decoded(sandbox):
    whole = PricingHook(aws_conn_id="aws_default", region_name="us-east-1").get_products(
        "AmazonEC2", M5_LARGE_IN_US_EAST_1
    )
    sandbox.api_calls.clear()

    paged = PricingHook(aws_conn_id="aws_default", region_name="us-east-1", page_size=1).get_products(
        "AmazonEC2", M5_LARGE_IN_US_EAST_1
    )

    assert len(whole) > 1
    assert paged == whole
    assert all(product["product"]["attributes"]["instanceType"] == "m5.large" for product in paged)
    assert sandbox.api_calls[("pricing", "GetProducts")] == len(whole)


def test_a_throttled_price_list_call_is_retried_by_botocore(sandbox):
    sandbox.faults.add_from_dict({"kind": "error", "service": "pricing", "error": "ThrottlingException", "count": 2})

    products = PricingHook(aws_conn_id="aws_default", region_name="us-east-1").get_products(
        "AmazonEC2", M5_LARGE_IN_US_EAST_1
    )

    assert products
    assert sandbox.api_calls[("pricing", "GetProducts")] == 3


def test_the_spot_price_in_effect_is_read_per_instance_type_and_zone(sandbox):
    zones = {
        zone["ZoneName"]
        for zone in boto3.client("ec2", region_name="us-east-1").describe_availability_zones()["AvailabilityZones"]
    }

    latest = SpotPriceHook(aws_conn_id="aws_default", region_name="us-east-1").latest_spot_prices(
        ["m5.large", "t3.medium"]
    )

    assert set(latest) == {"m5.large", "t3.medium"}
    assert set(latest["m5.large"]) == zones
    assert all(float(entry["SpotPrice"]) > 0 for entry in latest["m5.large"].values())
    assert sandbox.api_calls[("ec2", "DescribeSpotPriceHistory")] == 1


def test_only_the_latest_spot_price_per_zone_is_kept(sandbox, monkeypatch):
    older, newer = datetime(2026, 1, 19, tzinfo=UTC), datetime(2026, 1, 20, tzinfo=UTC)
    history = [
        {"InstanceType": "m5.large", "AvailabilityZone": "us-east-1a", "SpotPrice": "0.030", "Timestamp": newer},
        {"InstanceType": "m5.large", "AvailabilityZone": "us-east-1a", "SpotPrice": "0.050", "Timestamp": older},
    ]
    hook = SpotPriceHook(aws_conn_id="aws_default", region_name="us-east-1")
    monkeypatch.setattr(hook, "paginate", lambda *args, **kwargs: history)

    assert hook.latest_spot_prices(["m5.large"])["m5.large"]["us-east-1a"]["SpotPrice"] == "0.030"


def test_a_denial_or_an_unreachable_endpoint_is_a_refusal_and_throttling_is_not():
    def client_error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "..."}}, "GetProducts")

    assert refusal_code(client_error("AccessDeniedException")) == "AccessDeniedException"
    assert refusal_code(EndpointConnectionError(endpoint_url="https://api.pricing.us-east-1.amazonaws.com")) == (
        "EndpointConnectionError"
    )
    assert refusal_code(client_error("ThrottlingException")) is None
    assert refusal_code(ValueError("a bug")) is None
