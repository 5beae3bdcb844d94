"""Where the upgrade goes: one minor version per hop, and the add-on versions each hop needs.

EKS upgrades the control plane one minor version at a time (UpdateClusterVersion refuses to skip, eks-facts
§3), so 1.29 → 1.32 is three hops, each with its own pre-flight, control plane, add-ons and node groups.
Which versions exist and are still supported comes from DescribeClusterVersions, never a list kept here.

Add-ons (eks-facts §2): each installed managed add-on moves to the default version EKS names for the hop's
Kubernetes version (or the latest compatible one, if asked); vpc-cni and eks-pod-identity-agent move one minor
version at a time, through every intermediate minor; kube-proxy moves only after the node groups, because it
must not be newer than any kubelet it runs beside (Kubernetes version-skew policy).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from eks_runbooks.core.eks.versions import addon_version_key, minor_of, minor_version
from eks_runbooks.core.include import include_path


class UpgradePlanError(ValueError):
    """The requested upgrade cannot be planned; the message names the cluster and what to do."""


class AddonVersionPolicy(Enum):
    """Which version an add-on moves to at each hop."""

    DEFAULT = "default"  # what EKS marks defaultVersion for the hop's Kubernetes version
    LATEST = "latest"  # the newest version compatible with the hop's Kubernetes version


@dataclass(frozen=True)
class AddonRules:
    """How add-ons must move, from include/eks/addons.yaml (see ``load_addon_rules``)."""

    #: UpdateAddon may change their minor version by one only (eks-facts §2, UG eks-add-ons.adoc).
    one_minor_at_a_time: frozenset[str]
    #: Updated after the node groups of a hop, not before (version skew with the kubelets beside them).
    after_nodegroups: frozenset[str]
    #: Order within the add-on step (include/eks/addons.yaml ``update_order``); others follow by name.
    update_order: tuple[str, ...]


def load_addon_rules(addons_file: Path | None = None) -> AddonRules:
    """The add-on rules kept with the add-on catalogue in include/eks/addons.yaml."""
    import yaml

    document = yaml.safe_load((addons_file or include_path("eks", "addons.yaml")).read_text())
    addons = document["addons"]
    return AddonRules(
        one_minor_at_a_time=frozenset(name for name, spec in addons.items() if spec.get("one_minor_version_at_a_time")),
        after_nodegroups=frozenset(name for name, spec in addons.items() if spec.get("update_after_nodegroups")),
        update_order=tuple(document.get("update_order") or ()),
    )


@dataclass(frozen=True)
class Hop:
    """One UpdateClusterVersion: from one minor version to the next."""

    from_version: str
    to_version: str


@dataclass(frozen=True)
class UpgradePath:
    cluster_name: str
    current_version: str
    target_version: str
    hops: tuple[Hop, ...]

    @property
    def nothing_to_do(self) -> bool:
        return not self.hops


@dataclass(frozen=True)
class AddonStep:
    """One UpdateAddon call within a hop."""

    addon_name: str
    from_version: str
    to_version: str
    after_nodegroups: bool


def plan_upgrade_path(
    cluster_name: str,
    current_version: str,
    target_version: str,
    cluster_versions: Iterable[Mapping[str, Any]],
    nodegroup_versions: Iterable[str] = (),
) -> UpgradePath:
    """
    The hops from the cluster's version to the target, or an UpgradePlanError saying why there are none.

    A hop is finished only when its node groups run its version too. When a managed node group is older than
    the control plane — typically a run that stopped after its control plane update — the plan starts with
    the hop that brought the control plane to its version, so that hop is finished (its control plane step
    finds the work done) before the next one starts.

    :param cluster_versions: ``clusterVersions`` of DescribeClusterVersions (``includeAll=True``).
    :param nodegroup_versions: the Kubernetes version of each managed node group.
    """
    try:
        target_minor = minor_of(target_version)
    except ValueError:
        raise UpgradePlanError(
            f"Cluster {cluster_name}: target version {target_version!r} is not a Kubernetes minor version; "
            "give it as 1.NN, e.g. 1.32."
        ) from None
    current_minor = minor_of(current_version)
    lagging = any(minor_of(version) < current_minor for version in nodegroup_versions)
    if target_minor < current_minor:
        raise UpgradePlanError(
            f"Cluster {cluster_name} runs {current_version}; {target_version} would be a downgrade. EKS can only "
            f"roll back one minor version within 7 days of an upgrade (UpdateClusterVersion to "
            f"{minor_version(current_minor - 1)}); this runbook only upgrades."
        )
    available = {
        entry["clusterVersion"]: entry for entry in cluster_versions if entry.get("versionStatus") != "UNSUPPORTED"
    }
    first = current_minor - 1 if lagging else current_minor
    hops = tuple(Hop(minor_version(minor), minor_version(minor + 1)) for minor in range(first, target_minor))
    missing = [hop.to_version for hop in hops if hop.to_version not in available]
    if missing:
        offered = ", ".join(sorted(available, key=minor_of)) or "none"
        raise UpgradePlanError(
            f"Cluster {cluster_name}: EKS does not offer Kubernetes {', '.join(missing)} in this region "
            f"(DescribeClusterVersions offers {offered}); choose a target among those."
        )
    return UpgradePath(cluster_name, current_version, target_version, hops)


def load_version_calendar(calendar_file: Path | None = None) -> list[dict[str, Any]]:
    """The Kubernetes version calendar kept in include/eks/kubernetes-versions.yaml (its ``versions``)."""
    import yaml

    return yaml.safe_load((calendar_file or include_path("eks", "kubernetes-versions.yaml")).read_text())["versions"]


def most_versions_supported_on_one_day(calendar: Iterable[Mapping[str, Any]]) -> int:
    """The most versions EKS supports (standard or extended) on any one day of the calendar.

    A version counts from its ``eks_release`` to the day before its ``end_of_extended_support``. The busiest
    day is always a release day, so only those are counted.
    """
    windows = [(entry["eks_release"], entry["end_of_extended_support"]) for entry in calendar]
    return max((sum(start <= day < end for start, end in windows) for day, _ in windows), default=0)


def hop_groups_needed(calendar: Iterable[Mapping[str, Any]]) -> int:
    """How many hops an upgrade runbook must be able to run, whatever the day it runs on.

    From the oldest to the newest version supported on the busiest day is one hop fewer than the versions
    supported then; a node group still one minor behind its control plane adds the hop that finishes it
    (``plan_upgrade_path``). Sized from the whole calendar, never from today: the DAG's shape must not change
    with the date it is parsed on.
    """
    oldest_to_newest = most_versions_supported_on_one_day(calendar) - 1
    return oldest_to_newest + 1  # the hop that finishes a lagging node group


def refuse_plan_longer_than(path: UpgradePath, max_hops: int) -> None:
    """UpgradePlanError when ``path`` has more hops than the runbook can run (before anything changes)."""
    if len(path.hops) <= max_hops:
        return
    lagging = bool(path.hops) and path.hops[0].from_version != path.current_version
    reachable = path.hops[max_hops - 1].to_version if max_hops > 0 else path.current_version
    raise UpgradePlanError(
        f"Cluster {path.cluster_name}: upgrading {path.current_version} → {path.target_version} takes "
        f"{len(path.hops)} hops (one minor version each"
        + ("; a node group behind the control plane adds one" if lagging else "")
        + f"), and this runbook runs at most {max_hops} in one run. Start a run with target_version {reachable} "
        f"first, then another to {path.target_version}."
    )


def plan_addon_steps(
    cluster_name: str,
    installed: Mapping[str, str],
    hop_version: str,
    addon_versions: Iterable[Mapping[str, Any]],
    rules: AddonRules,
    policy: AddonVersionPolicy = AddonVersionPolicy.DEFAULT,
) -> list[AddonStep]:
    """
    The UpdateAddon calls one hop needs, in the order to make them.

    :param installed: add-on name → installed version (DescribeAddon ``addonVersion``).
    :param hop_version: the Kubernetes version the control plane runs after this hop.
    :param addon_versions: ``addons`` of DescribeAddonVersions(kubernetesVersion=hop_version).
    :param rules: how add-ons must move (``load_addon_rules()``).
    """
    catalogue = {addon["addonName"]: addon for addon in addon_versions}
    steps: list[AddonStep] = []
    for name in sorted(installed, key=lambda addon: _addon_rank(addon, rules)):
        compatible = _compatible_versions(catalogue.get(name), hop_version)
        if not compatible:
            raise UpgradePlanError(
                f"Cluster {cluster_name}: no version of add-on {name} is compatible with Kubernetes {hop_version}; "
                f"remove the add-on or wait for EKS to publish one before upgrading."
            )
        target = _target_version(compatible, hop_version, policy)
        current = installed[name]
        if addon_version_key(current) >= addon_version_key(target):
            continue
        path = _one_minor_path(current, target, compatible) if name in rules.one_minor_at_a_time else [target]
        if path is None:
            raise UpgradePlanError(
                f"Cluster {cluster_name}: add-on {name} must move one minor version at a time from {current} to "
                f"{target}, but EKS offers no intermediate version for Kubernetes {hop_version}."
            )
        previous = current
        for version in path:
            steps.append(AddonStep(name, previous, version, after_nodegroups=name in rules.after_nodegroups))
            previous = version
    return steps


def plan_addon_steps_for_hops(
    cluster_name: str,
    installed: Mapping[str, str],
    hops: Iterable[Hop],
    addon_versions_by_hop: Mapping[str, Iterable[Mapping[str, Any]]],
    rules: AddonRules,
    policy: AddonVersionPolicy = AddonVersionPolicy.DEFAULT,
) -> dict[str, list[AddonStep]]:
    """
    The add-on steps of every hop, each hop starting from the versions the previous one leaves (the plan).

    :param addon_versions_by_hop: hop version → ``addons`` of DescribeAddonVersions for it.
    :return: hop version → its steps, in order.
    """
    versions = dict(installed)
    steps_by_hop: dict[str, list[AddonStep]] = {}
    for hop in hops:
        steps = plan_addon_steps(
            cluster_name, versions, hop.to_version, addon_versions_by_hop[hop.to_version], rules, policy
        )
        versions.update({step.addon_name: step.to_version for step in steps})
        steps_by_hop[hop.to_version] = steps
    return steps_by_hop


def _addon_rank(name: str, rules: AddonRules) -> tuple[int, str]:
    if name in rules.after_nodegroups:
        return len(rules.update_order) + 1, name
    order = rules.update_order
    return (order.index(name) if name in order else len(order)), name


def _compatible_versions(addon: Mapping[str, Any] | None, hop_version: str) -> dict[str, bool]:
    """Version → whether it is EKS's default, for every version compatible with ``hop_version``."""
    if addon is None:
        return {}
    return {
        entry["addonVersion"]: compatibility.get("defaultVersion", False)
        for entry in addon.get("addonVersions", [])
        for compatibility in entry.get("compatibilities", [])
        if compatibility.get("clusterVersion") == hop_version
    }


def _target_version(compatible: dict[str, bool], hop_version: str, policy: AddonVersionPolicy) -> str:
    newest = max(compatible, key=addon_version_key)
    if policy is AddonVersionPolicy.LATEST:
        return newest
    defaults = [version for version, is_default in compatible.items() if is_default]
    return max(defaults, key=addon_version_key) if defaults else newest


def _one_minor_path(current: str, target: str, compatible: dict[str, bool]) -> list[str] | None:
    """Versions to pass through, one minor at a time: the newest offered build of each intermediate minor."""
    _, current_minor, _, _ = addon_version_key(current)
    _, target_minor, _, _ = addon_version_key(target)
    path = []
    for minor in range(current_minor + 1, target_minor):
        candidates = [version for version in compatible if addon_version_key(version)[1] == minor]
        if not candidates:
            return None
        path.append(max(candidates, key=addon_version_key))
    return [*path, target]
