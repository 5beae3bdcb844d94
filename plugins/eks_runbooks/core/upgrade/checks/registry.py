"""What a pre-flight check is given, and the registry its functions join (the framework: ``core.catalogue``).

A check is one small function ``(PreflightInputs) -> list[Outcome]`` registered with ``@check("CHECK-ID")``.
Its title, severity, blocking flag and remediation live in include/checks/upgrade-preflight.yaml, not here:
``run_preflight`` joins each outcome with its catalogue entry into a ``GateFinding``, so the code cannot disagree
with the catalogue about what blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eks_runbooks.core.catalogue import CheckRegistry, Outcome
from eks_runbooks.core.upgrade.plan import AddonRules


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


CheckFunction = Callable[[PreflightInputs], list[Outcome]]

#: check id → function; filled by the ``@check`` decorators of the modules in this package.
PREFLIGHT_CHECKS: CheckRegistry[CheckFunction] = CheckRegistry("pre-flight")
check = PREFLIGHT_CHECKS.check
