"""What a pre-flight check is given, what it answers, and how it is registered against its catalogue entry.

A check is one small function ``(PreflightInputs) -> list[Outcome]`` registered with ``@check("CHECK-ID")``.
Its title, severity, blocking flag and remediation live in include/checks/upgrade-preflight.yaml, not here:
``run_preflight`` joins each outcome with its catalogue entry into a ``Finding``, so the code cannot disagree
with the catalogue about what blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from eks_runbooks.core.upgrade_plan import AddonRules


class Status(StrEnum):
    PASS = "PASS"  # checked, nothing to report
    WARN = "WARN"  # reported, never stops the hop
    FAIL = "FAIL"  # stops the hop when the check is blocking
    INFO = "INFO"  # a follow-up or a fact worth knowing
    IGNORED = "IGNORED"  # a FAIL downgraded because ignore_checks names the check


@dataclass(frozen=True)
class PreflightInputs:
    """Everything the pre-flight of one hop looks at, as plain data (AWS and Kubernetes responses as dicts).

    :param cluster: DescribeCluster ``cluster``.
    :param updates: DescribeUpdate ``update`` of the cluster's recent updates (ListUpdates → DescribeUpdate).
    :param nodegroups: DescribeNodegroup ``nodegroup`` of every managed node group.
    :param addons: DescribeAddon ``addon`` of every installed add-on.
    :param addon_versions: ``addons`` of DescribeAddonVersions(kubernetesVersion=hop_to) for the installed add-ons.
    :param subnets: DescribeSubnets ``Subnets`` of the cluster's subnets.
    :param insights: DescribeInsight ``insight`` (or ListInsights summaries), any category.
    :param nodes: Kubernetes Node objects, camelCase as the API serves them (also: pods, pdbs, deployments,
        statefulsets).
    :param deprecation_findings: removed-API findings (objects or dicts with api_version, kind, namespace, name,
        sources, removed_in, replacement), any version; the check keeps those the hop is concerned with.
    :param force_node_drain: node groups are updated with ``force``: PDBs are reported, not blocking.
    :param addon_rules: how add-ons must move (``load_addon_rules()`` when not given).
    """

    cluster_name: str
    cluster: Mapping[str, Any]
    hop_from: str
    hop_to: str
    updates: Sequence[Mapping[str, Any]] = ()
    nodegroups: Sequence[Mapping[str, Any]] = ()
    addons: Sequence[Mapping[str, Any]] = ()
    addon_versions: Sequence[Mapping[str, Any]] = ()
    subnets: Sequence[Mapping[str, Any]] = ()
    insights: Sequence[Mapping[str, Any]] = ()
    nodes: Sequence[Mapping[str, Any]] = ()
    pods: Sequence[Mapping[str, Any]] = ()
    pdbs: Sequence[Mapping[str, Any]] = ()
    deployments: Sequence[Mapping[str, Any]] = ()
    statefulsets: Sequence[Mapping[str, Any]] = ()
    deprecation_findings: Sequence[Any] = ()
    force_node_drain: bool = False
    addon_rules: AddonRules | None = None


@dataclass(frozen=True)
class Outcome:
    """One thing a check found: a status, a line a person can act on, and the objects it names."""

    status: Status
    detail: str
    objects: tuple[str, ...] = ()


def passed(detail: str) -> Outcome:
    return Outcome(Status.PASS, detail)


def failed(detail: str, objects: Iterable[str] = ()) -> Outcome:
    return Outcome(Status.FAIL, detail, tuple(objects))


def warned(detail: str, objects: Iterable[str] = ()) -> Outcome:
    return Outcome(Status.WARN, detail, tuple(objects))


def noted(detail: str, objects: Iterable[str] = ()) -> Outcome:
    return Outcome(Status.INFO, detail, tuple(objects))


CheckFunction = Callable[[PreflightInputs], list[Outcome]]

#: check id → function; filled by the ``@check`` decorators of the modules in this package.
PREFLIGHT_CHECKS: dict[str, CheckFunction] = {}


def check(check_id: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the check of catalogue entry ``check_id``."""

    def register(function: CheckFunction) -> CheckFunction:
        if check_id in PREFLIGHT_CHECKS:
            raise ValueError(f"check {check_id} is registered twice ({PREFLIGHT_CHECKS[check_id].__name__})")
        PREFLIGHT_CHECKS[check_id] = function
        return function

    return register


def listed(items: Sequence[str], limit: int = 5) -> str:
    """``a, b, c and 4 more``: keeps a finding's detail to one line however many objects it names."""
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown
