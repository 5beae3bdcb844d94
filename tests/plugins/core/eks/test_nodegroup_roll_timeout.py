"""How long the upgrade waits for a node group roll: sized from its node count and updateConfig."""

from __future__ import annotations

from datetime import timedelta

from eks_runbooks.core.eks.rules import NodegroupUpdateBudget, nodegroup_update_budget
from eks_runbooks.core.eks.updates import nodegroup_roll_timeout, nodes_per_batch

BUDGET = NodegroupUpdateBudget(
    setup_and_scale_up=timedelta(minutes=15), per_batch=timedelta(minutes=20), scale_down=timedelta(minutes=10)
)


def nodegroup(desired: int, **update_config: int) -> dict:
    return {"nodegroupName": "general", "scalingConfig": {"desiredSize": desired}, "updateConfig": update_config}


def test_a_node_group_rolled_one_node_at_a_time_gets_one_drain_budget_per_node():
    assert nodegroup_roll_timeout(nodegroup(30, maxUnavailable=1), BUDGET) == timedelta(minutes=15 + 30 * 20 + 10)


def test_max_unavailable_cuts_the_wait_to_one_drain_budget_per_batch():
    assert nodegroup_roll_timeout(nodegroup(30, maxUnavailable=10), BUDGET) == timedelta(minutes=15 + 3 * 20 + 10)


def test_max_unavailable_percentage_counts_nodes_of_the_desired_size_rounded_down():
    assert nodes_per_batch(nodegroup(30, maxUnavailablePercentage=25)) == 7
    assert nodegroup_roll_timeout(nodegroup(30, maxUnavailablePercentage=25), BUDGET) == timedelta(
        minutes=15 + 5 * 20 + 10
    )
    assert nodes_per_batch(nodegroup(3, maxUnavailablePercentage=10)) == 1


def test_a_bigger_node_group_waits_longer_and_an_empty_one_still_gets_one_batch():
    assert nodegroup_roll_timeout(nodegroup(2)) < nodegroup_roll_timeout(nodegroup(200))
    assert nodegroup_roll_timeout(nodegroup(0), BUDGET) == timedelta(minutes=15 + 20 + 10)


def test_the_phase_budgets_come_from_include_with_the_documented_drain_limit_inside_one_batch():
    budget = nodegroup_update_budget()
    # 15 minutes of refused evictions, then 60 seconds before termination [UG managed-node-update-behavior]
    assert budget.per_batch >= timedelta(minutes=16)
