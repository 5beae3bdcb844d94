"""The disruption controller: PodDisruptionBudget status, which evictions and drains consult."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eks_sandbox.kube.controllers.objects import live_pods, save_status, set_condition
from eks_sandbox.kube.disruption import budget_numbers

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster


def update_disruption_budgets(cluster: KubeCluster) -> None:
    """The disruption controller: expected/healthy/desired pods and how many may be disrupted now."""
    store = cluster.store
    pods = live_pods(store)
    now = store.now()
    for pdb in store.all("policy", "PodDisruptionBudget"):
        numbers = budget_numbers(pdb, pods)
        generation = pdb["metadata"].get("generation", 1)
        allowed = numbers["disruptionsAllowed"] > 0
        conditions = set_condition(
            list((pdb.get("status") or {}).get("conditions") or []),
            "DisruptionAllowed",
            "True" if allowed else "False",
            "SufficientPods" if allowed else "InsufficientPods",
            "",
            now,
        )
        for condition in conditions:
            condition["observedGeneration"] = generation
        save_status(store, "policy", pdb, {"observedGeneration": generation, **numbers, "conditions": conditions})
