"""Namespaces Kubernetes itself creates and uses (include/kubernetes/system-namespaces.yaml)."""

from __future__ import annotations

from functools import cache

from eks_runbooks.core.include import include_path


@cache
def system_namespaces() -> frozenset[str]:
    """kube-system and its siblings: checks about the teams' workloads look outside them."""
    import yaml

    return frozenset(yaml.safe_load(include_path("kubernetes", "system-namespaces.yaml").read_text())["namespaces"])


@cache
def _addon_namespace_prefixes() -> tuple[str, ...]:
    import yaml

    data = yaml.safe_load(include_path("kubernetes", "system-namespaces.yaml").read_text())
    return tuple(data.get("addon_namespace_prefixes") or ())


def runs_workloads(namespace: str) -> bool:
    """Whether a namespace holds a team's workloads: neither Kubernetes' own nor an EKS add-on's (amazon-*)."""
    return namespace not in system_namespaces() and not namespace.startswith(_addon_namespace_prefixes())
