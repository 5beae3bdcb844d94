"""PodDisruptionBudgets: how many matching pods must stay healthy, and whether an eviction may proceed.

One rule serves the PDB status the disruption controller reports, the ``pods/eviction`` subresource and the
managed-node-group drain (``KubeCluster.evict_pods``), so a runbook sees the same verdict from all three.
Semantics follow pkg/controller/disruption and pkg/registry/core/pod/storage/eviction.go.
"""

from __future__ import annotations

import math
from typing import Any

from eks_sandbox.kube.errors import KubeApiError
from eks_sandbox.kube.selectors import matches_label_selector

EVICTION_REFUSED_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."


def pod_is_ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def resolve_int_or_percent(value: int | str, total: int) -> int:
    """An IntOrString budget against ``total`` pods; percentages round up, as the disruption controller does."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def covered_pods(pdb: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods of the PDB's namespace its selector matches (a missing selector matches none)."""
    namespace = pdb["metadata"].get("namespace")
    selector = (pdb.get("spec") or {}).get("selector")
    return [
        pod
        for pod in pods
        if pod["metadata"].get("namespace") == namespace
        and "deletionTimestamp" not in pod["metadata"]
        and matches_label_selector(selector, pod["metadata"].get("labels") or {})
    ]


def budget_numbers(pdb: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, int]:
    """expectedPods, currentHealthy, desiredHealthy and disruptionsAllowed for a PDB over ``pods``."""
    matching = covered_pods(pdb, pods)
    expected = len(matching)
    healthy = sum(1 for pod in matching if pod_is_ready(pod))
    spec = pdb.get("spec") or {}
    if "minAvailable" in spec:
        desired = resolve_int_or_percent(spec["minAvailable"], expected)
    elif "maxUnavailable" in spec:
        desired = max(0, expected - resolve_int_or_percent(spec["maxUnavailable"], expected))
    else:
        desired = 0
    return {
        "expectedPods": expected,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "disruptionsAllowed": max(0, healthy - desired),
    }


def matching_budgets(pod: dict[str, Any], pdbs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The PDBs of the pod's namespace whose selector matches the pod."""
    labels = pod["metadata"].get("labels") or {}
    return [
        pdb
        for pdb in pdbs
        if pdb["metadata"].get("namespace") == pod["metadata"].get("namespace")
        and matches_label_selector((pdb.get("spec") or {}).get("selector"), labels)
    ]


def eviction_allowed(pod: dict[str, Any], pdb: dict[str, Any], pods: list[dict[str, Any]]) -> bool:
    """Whether evicting ``pod`` keeps ``pdb`` (one that matches it) satisfied.

    Pending and finished pods are evicted without consulting the budget; an unready pod may be evicted while
    the budget is met (the default ``IfHealthyBudget`` policy); a ready one only if a disruption is allowed.
    """
    if (pod.get("status") or {}).get("phase") in ("Pending", "Succeeded", "Failed"):
        return True
    numbers = budget_numbers(pdb, pods)
    if not pod_is_ready(pod):
        return numbers["currentHealthy"] >= numbers["desiredHealthy"]
    return numbers["disruptionsAllowed"] > 0


def too_many_budgets() -> KubeApiError:
    return KubeApiError(
        500,
        "InternalError",
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
    )


def eviction_refused(pdb: dict[str, Any], pods: list[dict[str, Any]]) -> KubeApiError:
    """The 429 the eviction subresource answers when a budget would be violated."""
    numbers = budget_numbers(pdb, pods)
    return KubeApiError(
        429,
        "TooManyRequests",
        EVICTION_REFUSED_MESSAGE,
        {
            "causes": [
                {
                    "reason": "DisruptionBudget",
                    "message": (
                        f"The disruption budget {pdb['metadata']['name']} needs {numbers['desiredHealthy']} "
                        f"healthy pods and has {numbers['currentHealthy']} currently"
                    ),
                }
            ]
        },
    )
