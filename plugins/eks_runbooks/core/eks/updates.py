"""EKS updates as the upgrade steps see them: a reference that travels between a step, the triggerer and XCom;
how many earlier attempts at the same update ended Failed (which decides a step's next clientRequestToken); and
how long a node group's roll may take."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eks_runbooks.core.eks.rules import NodegroupUpdateBudget


@dataclass(frozen=True)
class UpdateRef:
    """One update of a cluster itself, of one of its node groups, or of one of its add-ons."""

    update_id: str
    nodegroup_name: str | None = None
    addon_name: str | None = None

    @property
    def target(self) -> str:
        """What the update changes, in words: ``control plane``, ``node group general``, ``add-on coredns``."""
        if self.nodegroup_name:
            return f"node group {self.nodegroup_name}"
        if self.addon_name:
            return f"add-on {self.addon_name}"
        return "control plane"

    def to_dict(self) -> dict[str, str]:
        """JSON-able (a trigger's kwargs, its event): only the fields that are set."""
        found = {"update_id": self.update_id, "nodegroup_name": self.nodegroup_name, "addon_name": self.addon_name}
        return {key: value for key, value in found.items() if value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UpdateRef:
        """The inverse of ``to_dict``; refuses unknown keys."""
        unknown = sorted(set(data) - {"update_id", "nodegroup_name", "addon_name"})
        if unknown:
            raise ValueError(f"an update reference has update_id, nodegroup_name, addon_name; not {unknown}")
        return cls(str(data["update_id"]), data.get("nodegroup_name"), data.get("addon_name"))


#: How an EKS update ends when it did not do what was asked [BC Update.status].
ENDED_UNSUCCESSFULLY = frozenset({"Failed", "Cancelled"})


def failed_attempts(updates: Iterable[Mapping[str, Any]], update_type: str, param: str, value: str) -> int:
    """How many of ``updates`` (DescribeUpdate objects) of ``update_type`` towards ``param`` = ``value`` ended
    Failed or Cancelled.

    A step counts them into its clientRequestToken: EKS answers a repeated token with the update it first
    started, so after a Failed update the same token would only hand that failure back to a cleared task.
    """
    return sum(
        1
        for update in updates
        if update.get("type") == update_type
        and update.get("status") in ENDED_UNSUCCESSFULLY
        and any(p.get("type") == param and p.get("value") == value for p in update.get("params") or [])
    )


def nodegroup_roll_timeout(nodegroup: Mapping[str, Any], budget: NodegroupUpdateBudget | None = None) -> timedelta:
    """How long an UpdateNodegroupVersion of ``nodegroup`` (a DescribeNodegroup object) may take: EKS replaces
    the nodes ``maxUnavailable`` (or ``maxUnavailablePercentage`` of desiredSize) at a time, each batch drained
    for up to 15 minutes, so a large node group rolled one node at a time needs hours, a small one minutes."""
    from eks_runbooks.core.eks.rules import nodegroup_update_budget

    budget = budget or nodegroup_update_budget()
    batches = math.ceil(max(1, _node_count(nodegroup)) / nodes_per_batch(nodegroup))
    return budget.setup_and_scale_up + batches * budget.per_batch + budget.scale_down


def nodes_per_batch(nodegroup: Mapping[str, Any]) -> int:
    """How many nodes EKS drains at once: ``updateConfig.maxUnavailable``, or ``maxUnavailablePercentage`` of the
    desired size rounded down (at least 1); 1 when neither is set [BC NodegroupUpdateConfig]."""
    config = nodegroup.get("updateConfig") or {}
    if config.get("maxUnavailablePercentage"):
        return max(1, math.floor(_node_count(nodegroup) * config["maxUnavailablePercentage"] / 100))
    return max(1, int(config.get("maxUnavailable") or 1))


def _node_count(nodegroup: Mapping[str, Any]) -> int:
    return int((nodegroup.get("scalingConfig") or {}).get("desiredSize") or 0)
