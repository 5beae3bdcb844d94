"""Each cost finding appears on the cluster it exists for, with the saving computed here by hand from
cost_builders' prices (a month is 730 hours), and not on the cluster that does not need it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
import yaml
from cost_builders import cluster_facts, daemon_pods, node, pod, region_prices

from eks_runbooks.core.catalogue import Status
from eks_runbooks.core.cost.costing import cluster_cost
from eks_runbooks.core.cost.facts import SPOT, ClusterCostFacts, VolumeFacts
from eks_runbooks.core.cost.findings import COST_CHECKS, CostOutcome, CostPolicy, cost_findings, load_cost_catalogue
from eks_runbooks.core.cost.rules import cost_rules
from tests.helpers import REPO


def findings(facts: ClusterCostFacts, policy: CostPolicy | None = None, **prices) -> list[dict]:
    region = region_prices(**prices)
    return cost_findings(facts, cluster_cost(facts, region), region, policy)


def of(check_id: str, found: list[dict]) -> list[dict]:
    return [finding for finding in found if finding["check_id"] == check_id]


# --- idle capacity --------------------------------------------------------------------------------------------


def ml_platform_cpu_group(trainer_cpu: int) -> ClusterCostFacts:
    """2 x m5.2xlarge, DaemonSets on each, a trainer and a feature store."""
    nodes = [node(f"cpu-{i}", "cpu", "m5.2xlarge", cpu=7910, memory=30000, pods=58) for i in (1, 2)]
    workloads = [
        pod("trainer-a", "cpu-1", trainer_cpu, 1024),
        pod("trainer-b", "cpu-2", trainer_cpu, 1024),
        pod("feature-store-a", "cpu-2", 500, 1024),
    ]
    return cluster_facts(cluster="ml-platform", nodes=nodes, pods=daemon_pods(nodes) + workloads)


def test_a_node_group_whose_pods_fit_on_one_of_its_two_nodes_has_one_idle_node():
    [finding] = of("COST-IDLE-CAPACITY", findings(ml_platform_cpu_group(trainer_cpu=500)))
    assert finding["status"] == "FAIL" and finding["object"] == "nodegroup/cpu"
    assert finding["monthly_saving_usd"] == "280.32"  # 1 spare x 0.384 x 730
    assert "they fit on 1 node(s): 1 spare" in finding["detail"]
    assert "pods request 1.5 of 15.4 vCPU" in finding["detail"]  # 2 x (7910 - 200) millicores free of DaemonSets


def test_a_node_group_whose_pods_need_every_node_is_not_idle():
    # two trainers of 4000m do not fit in one node's 7710m of room (7910 less 200 for its DaemonSets)
    assert of("COST-IDLE-CAPACITY", findings(ml_platform_cpu_group(trainer_cpu=4000))) == []


def test_a_pod_count_limit_keeps_nodes_needed_even_when_cpu_idles():
    facts = web_staging_api(prefix_delegation=True)
    assert of("COST-IDLE-CAPACITY", findings(facts)) == []


# --- prefix delegation ----------------------------------------------------------------------------------------


def web_staging_api(prefix_delegation: bool | None = False, per_node: int = 15) -> ClusterCostFacts:
    """3 x t3.medium (max pods 17) each running aws-node, kube-proxy and ``per_node`` tiny pods."""
    nodes = [node(f"api-{i}", "api", "t3.medium", cpu=1930, memory=3300, pods=17) for i in (1, 2, 3)]
    tiny = [pod(f"api-{n.name}-{i}", n.name, 10, 16) for n in nodes for i in range(per_node)]
    return cluster_facts(
        cluster="web-staging",
        tags={"environment": "staging"},
        prefix_delegation=prefix_delegation,
        nodes=nodes,
        pods=daemon_pods(nodes) + tiny,
    )


def test_nodes_full_by_max_pods_with_idle_cpu_would_be_one_with_prefix_delegation():
    [finding] = of("COST-PREFIX-DELEGATION", findings(web_staging_api()))
    assert finding["status"] == "FAIL" and finding["object"] == "nodegroup/api"
    # t3.medium: 3 ENIs x (6 - 1) x 16 + 2 = 242, capped at 110 (2 vCPUs); 45 pods of 10m fit on one node
    assert finding["monthly_saving_usd"] == "60.74"  # 2 fewer x 0.0416 x 730 = 60.736
    assert "with 17/17, 17/17, 17/17 pods of their max" in finding["detail"]
    assert "the pods need 3 node(s) at today's max pods, prefixes would allow 110 pods per node" in finding["detail"]
    assert finding["detail"].endswith("1 node(s) would do, 2 fewer")


def test_prefix_delegation_already_on_is_not_a_finding():
    assert of("COST-PREFIX-DELEGATION", findings(web_staging_api(prefix_delegation=True))) == []


def test_nodes_bound_by_max_pods_without_being_exactly_full_are_a_prefix_delegation_finding_too():
    # 16/17 pods each: 42 tiny pods need 3 nodes of 15 free slots today; with prefixes, one node
    [finding] = of("COST-PREFIX-DELEGATION", findings(web_staging_api(per_node=14)))
    assert finding["monthly_saving_usd"] == "60.74"


def test_nodes_whose_pods_need_them_all_even_with_prefixes_are_not_a_prefix_delegation_finding():
    nodes = [node(f"api-{i}", "api", "t3.medium", cpu=1930, memory=3300, pods=17) for i in (1, 2, 3)]
    busy = [pod(f"app-{n.name}", n.name, 1500, 512) for n in nodes]  # one pod fills a node's CPU
    facts = cluster_facts(tags={"environment": "staging"}, nodes=nodes, pods=daemon_pods(nodes) + busy)
    assert of("COST-PREFIX-DELEGATION", findings(facts)) == []


def test_xen_instance_types_cannot_use_prefixes():
    nodes = [node(f"old-{i}", "old", "m4.large", pods=20) for i in (1, 2)]
    tiny = [pod(f"app-{n.name}-{i}", n.name, 10, 16) for n in nodes for i in range(18)]
    facts = cluster_facts(nodes=nodes, pods=daemon_pods(nodes) + tiny)
    assert of("COST-PREFIX-DELEGATION", findings(facts)) == []


# --- spot share ------------------------------------------------------------------------------------------------


def staging(*nodes_, owner_kind: str = "Deployment", claim: bool = False, **fields) -> ClusterCostFacts:
    workloads = [pod(f"web-{n.name}", n.name, 500, 512, owner_kind, claim=claim) for n in nodes_]
    values = {"cluster": "analytics-staging", "tags": {"environment": "staging"}, **fields}
    return cluster_facts(nodes=list(nodes_), pods=daemon_pods(list(nodes_)) + workloads, **values)


def test_stateless_on_demand_node_groups_outside_production_should_run_half_on_spot():
    facts = staging(node("w1", "web", zone="us-east-1a"), node("w2", "web", zone="us-east-1b"))
    [finding] = of("COST-SPOT-SHARE", findings(facts))
    assert finding["status"] == "FAIL" and finding["object"] == "cluster/analytics-staging"
    # share 0 → f = (0.5 - 0) / (1 - 0) = 0.5; 0.5 x ((0.096 - 0.035) + (0.096 - 0.0362)) x 730 = 44.092
    assert finding["monthly_saving_usd"] == "44.09"
    assert "0 of 2 nodes on spot, 0 % of their on-demand cost (target 50 %)" in finding["detail"]


def test_a_third_on_spot_moves_a_quarter_of_the_on_demand_nodes():
    facts = staging(
        node("s1", "web", capacity_type=SPOT, zone="us-east-1a"),
        node("w1", "web", zone="us-east-1a"),
        node("w2", "web", zone="us-east-1b"),
    )
    [finding] = of("COST-SPOT-SHARE", findings(facts))
    # share 1/3 → f = (0.5 - 1/3) / (1 - 1/3) = 0.25; 0.25 x (0.061 + 0.0598) x 730 = 22.046
    assert finding["monthly_saving_usd"] == "22.05"


def test_a_policy_target_below_the_share_is_met():
    facts = staging(
        node("s1", "web", capacity_type=SPOT, zone="us-east-1a"),
        node("w1", "web", zone="us-east-1a"),
        node("w2", "web", zone="us-east-1b"),
    )
    assert of("COST-SPOT-SHARE", findings(facts, CostPolicy(spot_target_share=Decimal("0.25")))) == []


def test_half_on_spot_meets_the_target():
    facts = staging(node("s1", "web", capacity_type=SPOT), node("w1", "web"))
    assert of("COST-SPOT-SHARE", findings(facts)) == []


def test_production_clusters_are_not_asked_for_spot():
    facts = staging(node("w1", "web"), node("w2", "web"), tags={"environment": "production"})
    assert of("COST-SPOT-SHARE", findings(facts)) == []


@pytest.mark.parametrize(("owner_kind", "claim"), [("StatefulSet", False), ("Deployment", True)])
def test_node_groups_running_stateful_pods_are_not_stateless(owner_kind, claim):
    facts = staging(node("w1", "web"), node("w2", "web"), owner_kind=owner_kind, claim=claim)
    assert of("COST-SPOT-SHARE", findings(facts)) == []


# --- gp2 volumes -------------------------------------------------------------------------------------------------


def test_gp2_volumes_save_the_price_difference_per_gib_month_on_gp3():
    volumes = [
        VolumeFacts("pv-1", "orders/data-inventory-0", "vol-1", "gp2", 20),
        VolumeFacts("pv-2", "orders/data-inventory-1", "vol-2", "gp2", 30),
        VolumeFacts("pv-3", "orders/ledger", "vol-3", "gp3", 100),
    ]
    [finding] = of("COST-GP2-VOLUMES", findings(cluster_facts(volumes=volumes)))
    assert finding["status"] == "FAIL" and finding["monthly_saving_usd"] == "1.00"  # 50 GiB x (0.10 - 0.08)
    assert "orders/data-inventory-0 (20 GiB), orders/data-inventory-1 (30 GiB)" in finding["detail"]


def test_a_gp2_volume_over_1000_gib_pays_gp3_iops_to_keep_its_performance():
    volumes = [VolumeFacts("pv-1", "logs/archive", "vol-1", "gp2", 2000)]
    [finding] = of("COST-GP2-VOLUMES", findings(cluster_facts(volumes=volumes)))
    # 2000 x 0.02 = 40.00, less (3 x 2000 - 3000) IOPS x 0.005 = 15.00
    assert finding["monthly_saving_usd"] == "25.00"


def test_without_a_gp3_iops_price_the_saving_is_an_upper_bound_and_says_so():
    volumes = [VolumeFacts("pv-1", "logs/archive", "vol-1", "gp2", 2000)]
    prices = {"ebs": {"gp2": region_prices().ebs["gp2"], "gp3": region_prices().ebs["gp3"]}}
    [finding] = of("COST-GP2-VOLUMES", findings(cluster_facts(volumes=volumes), **prices))
    assert finding["monthly_saving_usd"] == "40.00"
    assert "logs/archive needs 3000 IOPS more on gp3" in finding["detail"] and "upper bound" in finding["detail"]


def test_gp3_volumes_are_not_a_finding():
    volumes = [VolumeFacts("pv-3", "orders/ledger", "vol-3", "gp3", 100)]
    assert of("COST-GP2-VOLUMES", findings(cluster_facts(volumes=volumes))) == []


# --- extended support --------------------------------------------------------------------------------------------


def test_a_cluster_in_extended_support_fails_with_365_dollars_a_month():
    facts = cluster_facts(version="1.31", support="extended", end_of_standard_support="2025-11-26")
    [finding] = of("COST-EXTENDED-SUPPORT", findings(facts))
    assert (finding["status"], finding["monthly_saving_usd"]) == ("FAIL", "365.00")  # 0.50 x 730
    assert "since 2025-11-26" in finding["detail"] and finding["severity"] == "HIGH"


def test_extended_support_coming_warns_with_its_date():
    facts = cluster_facts(upgrade_policy="EXTENDED", end_of_standard_support="2026-07-29")
    [finding] = of("COST-EXTENDED-SUPPORT", findings(facts))
    assert (finding["status"], finding["monthly_saving_usd"]) == ("WARN", "365.00")
    assert "standard support ends 2026-07-29 and upgradePolicy is EXTENDED" in finding["detail"]


def test_standard_support_with_upgrade_policy_standard_is_not_a_finding():
    assert of("COST-EXTENDED-SUPPORT", findings(cluster_facts())) == []


# --- previous generation -----------------------------------------------------------------------------------------


def test_previous_generation_nodes_warn_with_what_their_successor_saves():
    facts = cluster_facts(nodes=[node("old-1", "legacy", "m4.large"), node("old-2", "legacy", "m4.large")])
    [finding] = of("COST-PREVIOUS-GENERATION", findings(facts))
    assert finding["status"] == "WARN" and finding["object"] == "nodegroup/legacy"
    assert finding["monthly_saving_usd"] == "5.84"  # 2 x (0.10 - 0.096) x 730
    assert "2 x m4.large → m5.large" in finding["detail"]


def test_a_previous_generation_type_whose_successor_is_not_priced_has_no_saving():
    facts = cluster_facts(nodes=[node("old-1", "legacy", "m4.large")])
    prices = {"on_demand": {"m4.large": region_prices().on_demand["m4.large"]}}
    [finding] = of("COST-PREVIOUS-GENERATION", findings(facts, **prices))
    assert finding["monthly_saving_usd"] is None and "saving is not known" in finding["detail"]


def test_current_generation_nodes_are_not_a_finding():
    assert of("COST-PREVIOUS-GENERATION", findings(cluster_facts(nodes=[node("n1")]))) == []


# --- no workloads ------------------------------------------------------------------------------------------------


def test_a_cluster_without_workload_pods_could_save_all_it_costs():
    facts = cluster_facts(cluster="edge-dev", workload_pods=0, nodes=[node("n1"), node("n2")])
    [finding] = of("COST-NO-WORKLOADS", findings(facts))
    assert finding["status"] == "WARN" and finding["object"] == "cluster/edge-dev"
    assert finding["monthly_saving_usd"] == "213.16"  # 73.00 + 2 x 0.096 x 730 (140.16)


def test_a_cluster_with_workload_pods_is_not_a_finding():
    assert of("COST-NO-WORKLOADS", findings(cluster_facts(workload_pods=3))) == []


def test_when_pods_could_not_be_read_no_finding_is_guessed():
    facts = cluster_facts(workload_pods=0, nodes=[node("n1")], errors={"kubernetes": "Unauthorized"})
    assert findings(facts) == []


# --- the framework -----------------------------------------------------------------------------------------------


def test_a_finding_carries_the_cluster_the_evidence_the_saving_and_the_remediation():
    facts = cluster_facts(cluster="analytics-staging", support="extended", end_of_standard_support="2025-11-26")
    [finding] = findings(facts)
    spec = {spec.id: spec for spec in load_cost_catalogue()}["COST-EXTENDED-SUPPORT"]
    assert finding == {
        "check_id": "COST-EXTENDED-SUPPORT",
        "title": spec.title,
        "severity": "HIGH",
        "status": "FAIL",
        "cluster": "analytics-staging",
        "region": "us-east-1",
        "account": "123456789012",
        "aws_conn_id": "aws_default",
        "object": "cluster/analytics-staging",
        "detail": finding["detail"],
        "monthly_saving_usd": "365.00",
        "remediation": spec.remediation,
    }


def test_a_check_that_cannot_run_is_listed_as_info_not_passed(monkeypatch):
    def broken(inputs):
        raise KeyError("zone")

    monkeypatch.setitem(COST_CHECKS, "COST-GP2-VOLUMES", broken)
    [finding] = findings(cluster_facts())
    assert finding["status"] == str(Status.INFO) and "check could not run: KeyError" in finding["detail"]


def test_every_catalogue_entry_has_its_function_and_every_function_its_entry():
    assert {spec.id for spec in load_cost_catalogue()} == set(COST_CHECKS)
    assert all(isinstance(result, CostOutcome) for result in COST_CHECKS["COST-NO-WORKLOADS"](_inputs()))


def _inputs():
    from eks_runbooks.core.cost.findings import CostInputs

    facts = cluster_facts()
    return CostInputs(facts, cluster_cost(facts, region_prices()), region_prices(), CostPolicy(), cost_rules())


def test_the_policy_defaults_come_from_include():
    policy = CostPolicy()
    assert policy.spot_target_share == Decimal("0.5")
    assert (policy.environment_tag, policy.exempt_environments) == ("environment", ("production", "prod"))
    assert cost_rules().successor_of("m4.large") == "m5.large" and cost_rules().successor_of("m5.large") is None


def test_every_cost_rules_entry_names_its_source():
    document = yaml.safe_load((REPO / "include/cost/rules.yaml").read_text())
    assert all(len(section["source"]) > 20 for section in document.values())


def test_first_fit_decreasing_packs_the_largest_requests_first():
    from eks_runbooks.core.cost.packing import Room, nodes_needed

    rooms = [Room(2000, 4000, 10), Room(2000, 4000, 10)]
    # 1200 + 800 fill one node, 700 + 600 + 500 the other; in arrival order 700, 800 would leave 1200 a third node
    pods = [pod(f"p-{cpu}", "n", cpu, 100) for cpu in (700, 800, 1200, 600, 500)]
    assert nodes_needed(pods, rooms) == 2
    assert nodes_needed([], rooms) == 1  # a group keeps at least one node
    assert nodes_needed([pod("huge", "n", 5000, 100)], rooms) == 1  # larger than any node: it runs on one


def test_without_any_spot_price_the_spot_share_saving_is_not_known():
    facts = staging(node("w1", "web", zone="us-east-1a"), node("w2", "web", zone="us-east-1b"))
    [finding] = of("COST-SPOT-SHARE", findings(facts, spot={}))
    assert finding["monthly_saving_usd"] is None
    assert "w1, w2 without a spot price in their zone left out of the saving" in finding["detail"]


def test_a_cluster_full_by_max_pods_with_a_spot_group_gets_only_the_prefix_delegation_finding():
    api = web_staging_api()
    web = [node(f"web-{i}", "web", capacity_type=SPOT, zone="us-east-1a") for i in (1, 2)]
    busy = [pod(f"web-{n.name}", n.name, 1500, 2048) for n in web]  # 1500m each: one node holds one
    facts = cluster_facts(
        cluster="web-staging",
        tags={"environment": "staging"},
        nodes=api.nodes + web,
        pods=api.pods + daemon_pods(web) + busy,
    )
    # spot share: 2 x 0.096 (web, on-demand equivalent) / (2 x 0.096 + 3 x 0.0416) = 61 %, above the 50 % target
    assert [(finding["check_id"], finding["object"]) for finding in findings(facts)] == [
        ("COST-PREFIX-DELEGATION", "nodegroup/api")
    ]


def test_auto_mode_nodes_are_not_asked_for_prefix_delegation_and_karpenter_pools_are_named_as_such():
    from eks_runbooks.core.cost.facts import AUTO_MODE, KARPENTER

    full = web_staging_api()
    auto = cluster_facts(
        prefix_delegation=False,
        nodes=[replace(n, origin=AUTO_MODE) for n in full.nodes],
        pods=full.pods,
    )
    assert of("COST-PREFIX-DELEGATION", findings(auto)) == []
    karpenter = cluster_facts(
        prefix_delegation=False, nodes=[replace(n, origin=KARPENTER) for n in full.nodes], pods=full.pods
    )
    [finding] = of("COST-PREFIX-DELEGATION", findings(karpenter))
    assert finding["object"] == "nodepool/api"


def test_node_groups_whose_pods_could_not_be_read_are_not_called_idle():
    facts = ml_platform_cpu_group(trainer_cpu=500)
    facts.pods, facts.errors = [], {"pods": "Forbidden"}
    assert findings(facts) == []


def test_a_cluster_without_workloads_is_one_finding_not_idle_nodes_and_spot_as_well():
    nodes = [node("n1", "general", zone="us-east-1a"), node("n2", "general", zone="us-east-1b")]
    facts = cluster_facts(
        cluster="edge-dev", tags={"environment": "dev"}, workload_pods=0, nodes=nodes, pods=daemon_pods(nodes)
    )
    assert [finding["check_id"] for finding in findings(facts)] == ["COST-NO-WORKLOADS"]
