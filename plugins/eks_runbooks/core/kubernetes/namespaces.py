"""Namespaces Kubernetes itself creates and uses (include/kubernetes/system-namespaces.yaml)."""

from __future__ import annotations

from functools import cache

from eks_runbooks.core.include import include_path


@cache
def system_namespaces() -> frozenset[str]:
    """kube-system and its siblings: checks about the teams' workloads look outside them."""
    import yaml

    return frozenset(yaml.safe_load(include_path("kubernetes", "system-namespaces.yaml").read_text())["namespaces"])
