"""What a fleet audit looks at: connections and regions to list, and the clusters found there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AuditTarget:
    """One Airflow AWS connection (an account, or a role in one) and the regions to list clusters in."""

    aws_conn_id: str
    regions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"aws_conn_id": self.aws_conn_id, "regions": list(self.regions)}


@dataclass(frozen=True)
class ClusterRef:
    """One cluster to audit, and how to reach it; travels to each mapped audit task as XCom JSON."""

    aws_conn_id: str
    region: str
    cluster_name: str

    def to_dict(self) -> dict[str, str]:
        return {"aws_conn_id": self.aws_conn_id, "region": self.region, "cluster_name": self.cluster_name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterRef:
        """The inverse of ``to_dict``."""
        return cls(str(data["aws_conn_id"]), str(data["region"]), str(data["cluster_name"]))
