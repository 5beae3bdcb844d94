"""Which pods reach into their node, and which EKS add-on workloads are known to need that
(include/kubernetes/eks-node-access-workloads.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from eks_runbooks.core.include import include_path

#: The kinds of node access a pod spec can ask for, as the allow-list names them.
NODE_ACCESS = ("hostNetwork", "privileged", "hostPath")


@cache
def known_node_access_workloads() -> dict[str, frozenset[str]]:
    """``namespace/Kind/name`` of each known EKS add-on workload → the node access it may use."""
    import yaml

    entries = yaml.safe_load(include_path("kubernetes", "eks-node-access-workloads.yaml").read_text())["workloads"]
    known = {}
    for entry in entries:
        unknown = set(entry["access"]) - set(NODE_ACCESS)
        if unknown or not entry.get("source"):
            raise ValueError(f"eks-node-access-workloads.yaml: {entry['name']}: access {sorted(unknown)} or no source")
        known[f"{entry['namespace']}/{entry['kind']}/{entry['name']}"] = frozenset(entry["access"])
    return known


def node_access(pod_spec: Mapping[str, Any]) -> dict[str, list[str]]:
    """The node access a pod spec asks for: kind (``NODE_ACCESS``) → what asks for it (containers, volumes)."""
    access: dict[str, list[str]] = {}
    for container in [*pod_spec.get("containers", []), *pod_spec.get("initContainers", [])]:
        if (container.get("securityContext") or {}).get("privileged"):
            access.setdefault("privileged", []).append(f"privileged container {container['name']}")
    for volume in pod_spec.get("volumes") or []:
        if volume.get("hostPath"):
            access.setdefault("hostPath", []).append(f"hostPath {volume['name']}")
    if pod_spec.get("hostNetwork"):
        access["hostNetwork"] = ["hostNetwork"]
    return access
