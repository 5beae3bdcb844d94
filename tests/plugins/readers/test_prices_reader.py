"""read_region_prices on the sandbox: what the Price List and the spot history answer, with their sources; the
product's snapshot, dated and noted, for what they refuse or do not answer; the number of calls per region."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from eks_runbooks.core.cost.price_list import load_snapshot
from eks_runbooks.readers.prices import read_region_prices

#: What the sandbox's Price List serves (its price snapshot), to tell the API's figure from the product's own.
SERVED = yaml.safe_load((Path(__file__).parents[3] / "include" / "sandbox" / "prices.yaml").read_text())


def served_on_demand(region: str, instance_type: str) -> Decimal:
    return Decimal(SERVED["regions"][region]["prices"][instance_type][0])


@pytest.fixture
def snapshot_date() -> str:
    return load_snapshot().date


def test_prices_come_from_the_price_list_and_the_spot_history_with_their_sources(sandbox):
    prices = read_region_prices(
        "aws_default", "us-east-1", ["m5.large", "t3.medium"], ["gp2"], fargate=True, auto_mode=False
    )

    assert prices.on_demand["m5.large"].usd == served_on_demand("us-east-1", "m5.large")
    assert prices.on_demand["m5.large"].source.startswith("Price List API (us-east-1) ")
    assert {prices.ebs[volume].source.split(")")[0] for volume in ("gp2", "gp3")} == {"Price List API (us-east-1"}
    assert prices.control_plane["standard"].usd == Decimal("0.1")
    assert prices.control_plane["extended"].usd == Decimal("0.5")
    assert set(prices.fargate) == {"vcpu", "memory"}
    assert prices.fargate["vcpu"].source.startswith("Price List API")
    (zone_price, *_) = prices.spot["m5.large"].values()
    assert 0 < zone_price.usd < prices.on_demand["m5.large"].usd
    assert zone_price.source.startswith("DescribeSpotPriceHistory us-east-1 ")


def test_the_price_list_is_asked_once_per_instance_type_plus_once_for_ebs_and_eks_and_spot_once(sandbox):
    read_region_prices(
        "aws_default",
        "us-east-1",
        ["m5.large", "t3.medium", "m5.xlarge"],
        ["gp2", "gp3"],
        fargate=False,
        auto_mode=False,
    )

    assert sandbox.api_calls[("pricing", "GetProducts")] == 3 + 1 + 1
    assert sandbox.api_calls[("ec2", "DescribeSpotPriceHistory")] == 1


def test_a_target_denied_the_price_list_is_priced_from_the_snapshot_and_the_notes_say_so(sandbox, snapshot_date):
    sandbox.faults.add_from_dict({"kind": "error", "service": "pricing", "error": "AccessDeniedException"})

    prices = read_region_prices(
        "aws_default", "eu-west-1", ["m5.large", "m5.2xlarge"], ["gp2"], fargate=True, auto_mode=False
    )

    assert sandbox.api_calls[("pricing", "GetProducts")] == 1  # no more asking once refused
    assert prices.on_demand["m5.2xlarge"].source.startswith(f"price snapshot {snapshot_date}: ")
    assert prices.control_plane["extended"].source.startswith(f"price snapshot {snapshot_date}: ")
    assert {"gp2", "gp3"} <= set(prices.ebs) and set(prices.fargate) == {"vcpu", "memory"}
    (refusal,) = [note for note in prices.notes if "refused" in note]
    assert "aws_default" in refusal and "AccessDeniedException" in refusal and snapshot_date in refusal
    assert prices.spot["m5.large"]  # the spot history is another API, still read


def test_what_the_price_list_has_no_product_for_is_filled_from_the_snapshot_one_by_one(sandbox, snapshot_date):
    # t3.2xlarge is in the product's snapshot, not in what the sandbox's Price List serves for eu-west-1.
    assert "t3.2xlarge" not in SERVED["regions"]["eu-west-1"]["prices"]

    prices = read_region_prices(
        "aws_default", "eu-west-1", ["m5.large", "t3.2xlarge"], [], fargate=False, auto_mode=False
    )

    assert prices.on_demand["m5.large"].source.startswith("Price List API (eu-central-1) ")
    assert prices.on_demand["t3.2xlarge"].source.startswith(f"price snapshot {snapshot_date}: ")
    (no_product,) = [note for note in prices.notes if "had no product" in note]
    assert "on_demand t3.2xlarge" in no_product and "m5.large" not in no_product and snapshot_date in no_product


def test_what_neither_the_price_list_nor_the_snapshot_prices_stays_absent_and_noted(sandbox):
    prices = read_region_prices("aws_default", "us-east-1", ["x9.huge"], [], fargate=False, auto_mode=True)

    assert "x9.huge" not in prices.on_demand and "x9.huge" not in prices.auto_mode
    (missing,) = [note for note in prices.notes if note.startswith("no price from")]
    assert "on_demand x9.huge" in missing and "auto_mode x9.huge" in missing


def test_load_balancers_are_priced_by_the_hour_from_the_snapshot_and_noted(sandbox, snapshot_date):
    prices = read_region_prices("aws_default", "us-east-1", [], [], fargate=False, auto_mode=False)

    assert set(prices.load_balancer) == {"application", "network", "gateway", "classic"}
    assert any("load balancers" in note and snapshot_date in note for note in prices.notes)
    assert sandbox.api_calls[("ec2", "DescribeSpotPriceHistory")] == 0


def test_a_denied_spot_history_leaves_spot_unpriced_and_says_spot_nodes_are_an_upper_bound(sandbox):
    # EC2 answers UnauthorizedOperation; the sandbox injects AccessDeniedException, a refusal all the same.
    sandbox.faults.add_from_dict(
        {"kind": "error", "service": "ec2", "operation": "DescribeSpotPriceHistory", "error": "AccessDeniedException"}
    )

    prices = read_region_prices("aws_default", "us-east-1", ["m5.large"], [], fargate=False, auto_mode=False)

    assert prices.spot == {}
    assert prices.on_demand["m5.large"].source.startswith("Price List API")
    assert any("DescribeSpotPriceHistory refused" in note and "upper bound" in note for note in prices.notes)


def test_a_throttled_price_list_is_retried_not_taken_for_a_refusal(sandbox):
    sandbox.faults.add_from_dict({"kind": "error", "service": "pricing", "error": "ThrottlingException", "count": 2})

    prices = read_region_prices("aws_default", "us-east-1", ["m5.large"], [], fargate=False, auto_mode=False)

    assert prices.on_demand["m5.large"].source.startswith("Price List API")
    assert not any("refused" in note for note in prices.notes)


def test_the_prices_travel_as_json_and_back(sandbox):
    prices = read_region_prices("aws_default", "us-east-1", ["m5.large"], ["gp2"], fargate=True, auto_mode=False)

    assert type(prices).from_dict(prices.to_dict()) == prices


def test_a_denied_target_in_a_region_the_snapshot_does_not_hold_is_not_priced_and_both_are_said(sandbox):
    sandbox.faults.add_from_dict({"kind": "error", "service": "pricing", "error": "AccessDeniedException"})

    prices = read_region_prices("aws_default", "sa-east-1", ["m5.large"], [], fargate=False, auto_mode=False)

    assert prices.on_demand == {} and prices.control_plane == {}
    assert any("refused connection aws_default (AccessDeniedException)" in note for note in prices.notes)
    (missing,) = [note for note in prices.notes if note.startswith("no price from")]
    assert "on_demand m5.large" in missing and "control_plane standard" in missing
