"""What a fleet audit looks at: connections and regions to list, and the clusters found there."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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


#: Clusters one fleet task reads at most: Airflow's own cost per task instance (77 ms under ``dag.test()``, a
#: process per task with a real executor) and a boto3 session with its clients (about 1 s) are paid once per
#: batch, not once per cluster (BENCHMARKS.md, "Airflow's own cost per mapped task").
CLUSTERS_PER_TASK = 25


@dataclass(frozen=True)
class ClusterBatch:
    """Clusters of one connection and region read by one mapped task, through one AWS session and client set;
    travels to the task as XCom JSON."""

    aws_conn_id: str
    region: str
    cluster_names: tuple[str, ...]

    def refs(self) -> list[ClusterRef]:
        """Each cluster of the batch, in order."""
        return [ClusterRef(self.aws_conn_id, self.region, name) for name in self.cluster_names]

    @property
    def label(self) -> str:
        """How the grid names the task: connection, region, first and last cluster, count."""
        names = self.cluster_names
        shown = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]} ({len(names)})"
        return f"{self.aws_conn_id} {self.region}: {shown}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "aws_conn_id": self.aws_conn_id,
            "region": self.region,
            "cluster_names": list(self.cluster_names),
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterBatch:
        """The inverse of ``to_dict``."""
        return cls(str(data["aws_conn_id"]), str(data["region"]), tuple(str(name) for name in data["cluster_names"]))


def batch_clusters(clusters: Sequence[ClusterRef], *, per_batch: int = CLUSTERS_PER_TASK) -> list[ClusterBatch]:
    """The clusters in batches of one connection and region, each group split evenly into as few batches of at
    most ``per_batch`` as it takes (60 clusters: three of 20, not 25 + 25 + 10), in discovery order."""
    groups: dict[tuple[str, str], list[str]] = {}
    for ref in clusters:
        groups.setdefault((ref.aws_conn_id, ref.region), []).append(ref.cluster_name)
    batches = []
    for (aws_conn_id, region), names in groups.items():
        count = -(-len(names) // per_batch)
        size = -(-len(names) // count)
        batches += [
            ClusterBatch(aws_conn_id, region, tuple(names[start : start + size]))
            for start in range(0, len(names), size)
        ]
    return batches
