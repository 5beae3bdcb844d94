"""What a cluster costs per month, part by part: every figure below is computed by hand from cost_builders' prices
(a month is 730 hours; lines rounded to the cent half up; the total is the sum of the rounded lines)."""

from __future__ import annotations

import json
from decimal import Decimal

from cost_builders import cluster_facts, node, region_prices, usd

from eks_runbooks.core.cost.costing import ClusterCost, cluster_cost
from eks_runbooks.core.cost.facts import (
    AUTO_MODE,
    SELF_MANAGED,
    SPOT,
    UNKNOWN,
    FargatePodFacts,
    LoadBalancerFacts,
    VolumeFacts,
)
from eks_runbooks.core.cost.prices import PER_GB_MONTH


def lines_of(cost: ClusterCost | dict, part: str) -> list[dict]:
    document = cost if isinstance(cost, dict) else cost.to_dict()
    return [line for line in document["lines"] if line["part"] == part]


def test_a_cluster_in_standard_support_pays_73_dollars_for_its_control_plane():
    cost = cluster_cost(cluster_facts(), region_prices()).to_dict()
    assert cost["by_part"] == {
        "control_plane": "73.00",  # 0.10 x 730
        "nodes": "0.00",
        "fargate": "0.00",
        "storage": "0.00",
        "load_balancers": "0.00",
    }
    assert cost["monthly_usd"] == "73.00" and cost["extended_support"] is None and cost["unpriced"] == []
    assert cost["lines"][0]["unit_price"] == {"usd": "0.10", "unit": "hour", "source": "test price table"}


def test_a_cluster_in_extended_support_pays_438_dollars_and_says_since_when():
    facts = cluster_facts(version="1.31", support="extended", end_of_standard_support="2025-11-26")
    cost = cluster_cost(facts, region_prices()).to_dict()
    assert [line["monthly_usd"] for line in lines_of(cost, "control_plane")] == ["73.00", "365.00"]
    assert cost["by_part"]["control_plane"] == "438.00"
    assert cost["extended_support"] == {"status": "running", "from": "2025-11-26", "adds_monthly_usd": "365.00"}


def test_standard_support_with_upgrade_policy_extended_says_when_365_dollars_a_month_will_start():
    facts = cluster_facts(upgrade_policy="EXTENDED", end_of_standard_support="2026-07-29")
    cost = cluster_cost(facts, region_prices()).to_dict()
    assert cost["by_part"]["control_plane"] == "73.00"
    assert cost["extended_support"] == {"status": "coming", "from": "2026-07-29", "adds_monthly_usd": "365.00"}


def test_a_provisioned_control_plane_tier_is_its_own_line():
    cost = cluster_cost(cluster_facts(provisioned_tier="tier-xl"), region_prices()).to_dict()
    assert [(line["item"], line["monthly_usd"]) for line in lines_of(cost, "control_plane")] == [
        ("cluster", "73.00"),
        ("provisioned tier tier-xl", "1204.50"),  # 1.65 x 730
    ]


def test_on_demand_nodes_are_one_line_per_node_group_and_instance_type():
    nodes = [node(f"ip-10-0-{i}", zone=zone) for i, zone in enumerate(("us-east-1a", "us-east-1b", "us-east-1c"))]
    cost = cluster_cost(cluster_facts(nodes=nodes), region_prices())
    [line] = lines_of(cost, "nodes")
    assert line["item"] == "general" and line["quantity"] == "3" and line["unit"] == "node"
    assert line["monthly_usd"] == "210.24"  # 3 x 0.096 x 730
    assert "3 x m5.large ON_DEMAND (us-east-1a, us-east-1b, us-east-1c)" in line["detail"]


def test_spot_nodes_are_priced_at_their_zones_spot_price_and_a_zone_without_one_at_on_demand_saying_so():
    nodes = [
        node("a1", "web", capacity_type=SPOT, zone="us-east-1a"),
        node("a2", "web", capacity_type=SPOT, zone="us-east-1a"),
        node("b1", "web", capacity_type=SPOT, zone="us-east-1b"),
        node("c1", "web", capacity_type=SPOT, zone="us-east-1c"),
    ]
    cost = cluster_cost(cluster_facts(nodes=nodes), region_prices())
    assert [(line["detail"], line["monthly_usd"]) for line in lines_of(cost, "nodes")] == [
        ("2 x m5.large SPOT (us-east-1a)", "51.10"),  # 2 x 0.035 x 730
        ("1 x m5.large SPOT (us-east-1b)", "26.43"),  # 0.0362 x 730 = 26.426
        (
            "1 x m5.large SPOT (us-east-1c): no spot price read for us-east-1c, priced on-demand (an upper bound)",
            "70.08",
        ),  # 0.096 x 730
    ]
    assert cost.unpriced == []
    assert cost.to_dict()["by_part"]["nodes"] == "147.61"
    assert cost.to_dict()["monthly_usd"] == "220.61"  # 73.00 + 51.10 + 26.43 + 70.08


def test_a_spot_node_with_neither_a_spot_nor_an_on_demand_price_is_listed_not_zero():
    prices = region_prices()
    prices.on_demand.pop("m5.large")
    cost = cluster_cost(cluster_facts(nodes=[node("c1", "web", capacity_type=SPOT, zone="us-east-1c")]), prices)
    assert cost.unpriced == ["nodes web: no spot or on-demand price for m5.large in us-east-1c (us-east-1)"]
    assert cost.to_dict()["monthly_usd"] == "73.00"


def test_a_node_without_a_capacity_type_label_is_priced_on_demand_and_says_so():
    cost = cluster_cost(
        cluster_facts(nodes=[node("i-1", "self-managed", "t3.medium", UNKNOWN, origin=SELF_MANAGED)]), region_prices()
    )
    [line] = lines_of(cost, "nodes")
    assert line["monthly_usd"] == "30.37"  # 0.0416 x 730 = 30.368
    assert "no capacity-type label, priced on-demand" in line["detail"]


def test_an_instance_type_without_an_on_demand_price_is_listed_not_priced():
    cost = cluster_cost(cluster_facts(nodes=[node("n1", instance_type="m7i.large")]), region_prices())
    [line] = lines_of(cost, "nodes")
    assert (line["unit_price"], line["monthly_usd"]) == (None, None)
    assert cost.unpriced == ["nodes general: no on-demand price for m7i.large in us-east-1"]


def test_auto_mode_nodes_also_pay_the_auto_mode_fee():
    cost = cluster_cost(cluster_facts(nodes=[node("auto-1", "general-purpose", origin=AUTO_MODE)]), region_prices())
    assert [(line["item"], line["monthly_usd"]) for line in lines_of(cost, "nodes")] == [
        ("general-purpose", "70.08"),  # 0.096 x 730
        ("general-purpose Auto Mode fee", "8.41"),  # 0.01152 x 730 = 8.4096
    ]


def test_fargate_pods_are_billed_for_the_vcpu_and_memory_they_were_provisioned():
    pods = [
        FargatePodFacts("orders", "settlement-1", "0.25", "0.5"),
        FargatePodFacts("orders", "settlement-2", "1", "2"),
    ]
    cost = cluster_cost(cluster_facts(fargate_pods=pods), region_prices())
    assert [(line["item"], line["quantity"], line["monthly_usd"]) for line in lines_of(cost, "fargate")] == [
        ("vCPU", "1.25", "36.94"),  # 1.25 x 0.04048 x 730 = 36.938
        ("memory", "2.5", "8.11"),  # 2.5 x 0.004445 x 730 = 8.112125
    ]
    assert cost.to_dict()["by_part"]["fargate"] == "45.05"


def test_volumes_are_billed_per_gib_month_by_type_with_gp3_performance_beyond_what_it_includes():
    volumes = [
        VolumeFacts("pv-1", "orders/data-inventory-0", "vol-1", "gp2", 20),
        VolumeFacts("pv-2", "orders/data-inventory-1", "vol-2", "gp2", 30),
        VolumeFacts("pv-3", "orders/ledger", "vol-3", "gp3", 100, iops=4000, throughput_mibps=250),
        VolumeFacts("pv-4", "orders/journal", "vol-4", "gp3", 100, iops=3000, throughput_mibps=125),
    ]
    cost = cluster_cost(cluster_facts(volumes=volumes), region_prices())
    assert [(line["item"], line["quantity"], line["monthly_usd"]) for line in lines_of(cost, "storage")] == [
        ("gp2", "50", "5.00"),  # 50 GiB x 0.10
        ("gp3", "200", "16.00"),  # 200 GiB x 0.08
        ("gp3 IOPS", "1000", "5.00"),  # (4000 - 3000) x 0.005
        ("gp3 MiB/s", "125", "5.00"),  # (250 - 125) x 0.04
    ]


def test_io1_iops_without_a_price_are_listed_not_priced():
    volumes = [VolumeFacts("pv-1", "db/data", "vol-1", "io1", 100, iops=5000)]
    prices = region_prices(ebs={"io1": usd("0.125", PER_GB_MONTH)})
    cost = cluster_cost(cluster_facts(volumes=volumes), prices)
    assert [(line["item"], line["monthly_usd"]) for line in lines_of(cost, "storage")] == [
        ("io1", "12.50"),
        ("io1 IOPS", None),
    ]
    assert cost.unpriced == ["storage io1 IOPS: no io1 IOPS-month price in us-east-1"]


def test_each_line_rounds_half_up_to_the_cent():
    cost = cluster_cost(cluster_facts(volumes=[VolumeFacts("pv", "a/b", "vol", "sc1", 7)]), region_prices())
    assert lines_of(cost, "storage")[0]["monthly_usd"] == "0.11"  # 7 x 0.015 = 0.105, half up


def test_load_balancers_are_billed_by_the_hour_per_kind():
    balancers = [
        LoadBalancerFacts("k8s-shop-web", "arn:1", "application", "shop/web"),
        LoadBalancerFacts("k8s-shop-api", "arn:2", "application", "shop/api"),
    ]
    cost = cluster_cost(cluster_facts(load_balancers=balancers), region_prices())
    [line] = lines_of(cost, "load_balancers")
    assert (line["quantity"], line["monthly_usd"]) == ("2", "32.85")  # 2 x 0.0225 x 730


def test_parts_whose_facts_could_not_be_read_are_not_known_rather_than_zero():
    facts = cluster_facts(nodes=[node("n1")], errors={"kubernetes": "Unauthorized"})
    cost = cluster_cost(facts, region_prices()).to_dict()
    assert cost["by_part"] == {
        "control_plane": "73.00",
        "nodes": None,
        "fargate": None,
        "storage": None,
        "load_balancers": "0.00",
    }
    assert "nodes: not known, its facts could not be read (kubernetes: Unauthorized)" in cost["unpriced"]
    assert cost["errors"] == {"kubernetes": "Unauthorized"}


def test_a_missing_control_plane_price_leaves_the_line_unpriced():
    cost = cluster_cost(cluster_facts(), region_prices(control_plane={})).to_dict()
    assert cost["monthly_usd"] == "0.00" and cost["lines"][0]["monthly_usd"] is None
    assert cost["unpriced"] == ["control_plane cluster: no EKS cluster-hour price in us-east-1"]


def test_the_cost_travels_as_json_and_reads_back_the_same():
    facts = cluster_facts(
        support="extended",
        nodes=[node("a1", "web", capacity_type=SPOT), node("c1", "web", capacity_type=SPOT, zone="us-east-1c")],
        fargate_pods=[FargatePodFacts("orders", "settlement-1", "0.25", "0.5")],
        errors={"load_balancers": "AccessDenied"},
    )
    cost = cluster_cost(facts, region_prices())
    document = json.loads(json.dumps(cost.to_dict()))
    assert ClusterCost.from_dict(document) == cost
    assert ClusterCost.from_dict({**document, "findings": []}).to_dict() == cost.to_dict()
    assert isinstance(cost.monthly_usd, Decimal)


def test_windows_nodes_are_not_priced_as_linux_but_listed_not_priced():
    from dataclasses import replace

    windows = replace(node("win-1", "windows"), operating_system="windows")
    cost = cluster_cost(cluster_facts(nodes=[node("lin-1"), windows]), region_prices())
    assert [(line["item"], line["monthly_usd"]) for line in lines_of(cost, "nodes")] == [
        ("general", "70.08"),
        ("windows", None),
    ]
    assert cost.unpriced == ["nodes windows: no Windows price for m5.large in us-east-1 (only Linux prices are read)"]
