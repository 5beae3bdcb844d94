"""The Pod Identity facts the migration decides on, from include/eks/ (each with its source there)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from eks_runbooks.core.include import include_path


@dataclass(frozen=True)
class PodIdentityFacts:
    associations_per_cluster: int
    trust_policy_max_characters: int
    trust_principal: str
    trust_actions: tuple[str, ...]
    agent_addon: str
    agent_namespace: str
    agent_daemonset: str
    platform_versions: dict[str, str]
    pod_identity_env: tuple[str, ...]
    irsa_env: tuple[str, ...]
    fargate_label: tuple[str, str]
    windows_label: tuple[str, str]
    irsa_annotation: str
    sdk_annotation: str
    returned_annotation: str


@cache
def load_pod_identity_facts() -> PodIdentityFacts:
    """include/eks/pod-identity.yaml as typed facts."""
    import yaml

    data: dict[str, Any] = yaml.safe_load(include_path("eks", "pod-identity.yaml").read_text())
    compute = data["unsupported_compute"]
    return PodIdentityFacts(
        associations_per_cluster=int(data["associations_per_cluster"]["value"]),
        trust_policy_max_characters=int(data["trust_policy_max_characters"]["value"]),
        trust_principal=data["trust_principal"]["value"],
        trust_actions=tuple(data["trust_principal"]["actions"]),
        agent_addon=data["agent_addon"]["value"],
        agent_namespace=data["agent_addon"]["daemonset"]["namespace"],
        agent_daemonset=data["agent_addon"]["daemonset"]["name"],
        platform_versions=dict(data["platform_versions"]["value"]),
        pod_identity_env=tuple(data["environment"]["pod_identity"]),
        irsa_env=tuple(data["environment"]["irsa"]),
        fargate_label=(compute["fargate_label"]["key"], compute["fargate_label"]["value"]),
        windows_label=(compute["os_label"]["key"], compute["os_label"]["value"]),
        irsa_annotation=data["annotations"]["irsa_role"],
        sdk_annotation=data["annotations"]["declared_sdk"],
        returned_annotation=data["annotations"]["returned_to_irsa"],
    )


@cache
def load_sdk_minimums() -> dict[str, str]:
    """SDK id → the oldest version that reads Pod Identity credentials (include/eks/pod-identity-sdk-minimums.yaml)."""
    import yaml

    data = yaml.safe_load(include_path("eks", "pod-identity-sdk-minimums.yaml").read_text())
    return {entry["sdk"]: str(entry["minimum"]) for entry in data["sdks"]}


_RELEASE = re.compile(r"^release-(\d{4})-(\d{2})-(\d{2})$")
_DOTTED = re.compile(r"^v?(\d+(?:\.\d+)*)$")


class UnknownSdk(ValueError):
    """A declared SDK this runbook cannot judge: an unknown SDK id or an unreadable version."""


def sdk_version_key(version: str) -> tuple[Any, ...]:
    """A sortable key: ``release-YYYY-MM-DD`` by date, dotted versions part by part (``1.34.41``)."""
    if release := _RELEASE.match(version):
        return (date(*(int(part) for part in release.groups())),)
    if dotted := _DOTTED.match(version):
        return tuple(int(part) for part in dotted.group(1).split("."))
    raise UnknownSdk(f"{version!r} is not a version such as 1.34.41 or release-2023-11-14")


def sdk_below_minimum(declared: str, minimums: dict[str, str] | None = None) -> str | None:
    """Why ``<sdk>/<version>`` cannot read Pod Identity credentials, or None when it can.

    Raises UnknownSdk when the SDK or its version cannot be judged.
    """
    minimums = load_sdk_minimums() if minimums is None else minimums
    sdk, _, version = declared.strip().partition("/")
    if sdk not in minimums:
        raise UnknownSdk(f"{sdk!r} is not an SDK of the minimum-version table ({', '.join(sorted(minimums))})")
    minimum = minimums[sdk]
    if sdk_version_key(version) < sdk_version_key(minimum):
        return f"{sdk} {version} is older than {minimum}, the first {sdk} release that reads Pod Identity credentials"
    return None
