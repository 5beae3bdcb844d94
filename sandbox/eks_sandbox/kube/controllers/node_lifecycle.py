"""The node lifecycle controller's part the runbooks see: cordoning shows as a NoSchedule taint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eks_sandbox.kube.nodes import UNSCHEDULABLE_TAINT_KEY
from eks_sandbox.kube.store import clone

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster


def sync_unschedulable_taints(cluster: KubeCluster) -> None:
    """Keep the ``node.kubernetes.io/unschedulable`` taint in step with ``spec.unschedulable``."""
    store = cluster.store
    for node in store.all("", "Node"):
        spec = node.get("spec") or {}
        taints = spec.get("taints") or []
        has_taint = any(t.get("key") == UNSCHEDULABLE_TAINT_KEY for t in taints)
        if bool(spec.get("unschedulable")) == has_taint:
            continue
        updated = clone(node)
        if has_taint:
            updated["spec"]["taints"] = [t for t in taints if t.get("key") != UNSCHEDULABLE_TAINT_KEY]
            if not updated["spec"]["taints"]:
                del updated["spec"]["taints"]
        else:
            updated["spec"]["taints"] = [
                *taints,
                {"key": UNSCHEDULABLE_TAINT_KEY, "effect": "NoSchedule", "timeAdded": store.now()},
            ]
        store.save("", "Node", updated)
