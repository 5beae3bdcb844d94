"""What a fleet audit looks at: connections and regions to list, and the clusters found there."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eks_runbooks.core.eks.names import CONNECTION_ID_PATTERN, REGION_PATTERN

_CONNECTION, _REGION = CONNECTION_ID_PATTERN.strip("^$"), REGION_PATTERN.strip("^$")
#: One account as a person types it on a line of the trigger form: ``aws_ml: eu-west-1, us-east-1`` (the regions
#: separated by commas or spaces). Airflow's form has no field for a list of objects but a JSON editor.
TARGET_LINE_PATTERN = rf"^\s*(?:{_CONNECTION})\s*:\s*(?:{_REGION})(?:(?:\s*,\s*|\s+)(?:{_REGION}))*\s*$"
_TARGET_LINE = re.compile(rf"^\s*(?P<conn_id>{_CONNECTION})\s*:(?P<regions>.*)$")


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


def parse_target_line(line: str) -> dict[str, Any]:
    """A target typed as ``connection: region, region`` as the ``{"aws_conn_id", "regions"}`` REST callers send;
    ``ValueError`` naming the expected form when it is not one."""
    if not re.match(TARGET_LINE_PATTERN, line):
        raise ValueError(f"{line!r} is not a target: write it as `connection: region, region`, e.g. aws_ml: eu-west-1")
    match = _TARGET_LINE.match(line)
    return {"aws_conn_id": match["conn_id"], "regions": re.split(r"[\s,]+", match["regions"].strip())}
