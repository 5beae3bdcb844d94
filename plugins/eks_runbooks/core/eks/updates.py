"""A reference to one EKS update, as it travels between a step, the triggerer and XCom."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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
