"""Pre-flight of a cluster bootstrap: where the bootstrap decides not to start, before anything is created.

The gates are a catalogue (include/checks/bootstrap-preflight.yaml: id, title, severity, blocking, rationale,
remediation, source) and one small function per entry (``core.bootstrap.checks``, ``@check("ID")``), in the one
check framework of ``core.catalogue``. Every check reports what it looked at — PASS when fine — so the report
shows the evidence, not only the failures; a failure's detail names the input (subnet id, ARN, version) and the fix.

The inputs are the request and what AWS answered (``readers.bootstrap.gather_bootstrap_preflight``); this module
never calls AWS. A cluster of the requested name that this runbook started (``BOOTSTRAPPED_BY_TAG`` and
``CLUSTER_TAG``) is resumed, not refused: the run picks up what exists.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from eks_runbooks.core.bootstrap.calls import TAG_BOOTSTRAPPED_BY, TAG_CLUSTER, TAG_COMPLETED
from eks_runbooks.core.bootstrap.request import BootstrapRequest, NodegroupSpec
from eks_runbooks.core.catalogue import (
    CheckRegistry,
    Outcome,
    Status,
    check_against_registry,
)
from eks_runbooks.core.catalogue.gates import GateFinding, GateSpec, gate_finding, load_gate_catalogue
from eks_runbooks.core.eks.rules import max_pods_rules
from eks_runbooks.core.eks.versions import addon_version_key, minor_of
from eks_runbooks.core.include import include_path

# The run that started a cluster, and the cluster's own name (a copied tag set on another cluster does not make
# that cluster resumable); a finished bootstrap also carries TAG_COMPLETED.
BOOTSTRAPPED_BY_TAG = TAG_BOOTSTRAPPED_BY
CLUSTER_TAG = TAG_CLUSTER


class QuotaSource(StrEnum):
    """Where the clusters-per-Region quota the pre-flight compared against came from."""

    APPLIED = "Service Quotas (the account's applied value)"
    DEFAULT_NOT_APPLIED = "EKS's default (Service Quotas holds no applied value for the account)"
    DEFAULT_DENIED = "EKS's default (Service Quotas GetServiceQuota was denied to the runbook's role)"


@dataclass(frozen=True)
class PreflightInputs:
    """Everything the bootstrap's pre-flight looks at, as plain data (AWS responses as dicts).

    :param request: the validated request.
    :param today: the runbooks' clock (``core.clock.utc_today``): support end dates are compared with it.
    :param account_id: the account the runbook acts in (GetCallerIdentity): the cluster's account.
    :param subnets: DescribeSubnets ``Subnets`` of the requested subnets that exist.
    :param route_tables: DescribeRouteTables ``RouteTables`` of the VPCs of those subnets.
    :param instance_types: DescribeInstanceTypes ``InstanceTypes`` of the requested types the region offers.
    :param existing_cluster: DescribeCluster ``cluster`` of the requested name; None when there is none.
    :param cluster_count: clusters in the region (ListClusters).
    :param cluster_quota: the clusters-per-Region quota, and ``quota_source`` where it came from.
    :param kms_key: DescribeKey ``KeyMetadata`` of ``kms_key_arn``; None when not given or not found.
    :param roles: role ARN → GetRole ``Role`` (trust policy decoded) of the given cluster and node roles; None when
        the role does not exist (roles of another account are not looked up).
    :param role_policies: role ARN → the ARNs of its attached managed policies (ListAttachedRolePolicies).
    :param principals: admin principal ARN → whether it exists (GetRole/GetUser); None when not looked up
        (another account).
    :param cluster_versions: DescribeClusterVersions ``clusterVersions`` (includeAll).
    :param addon_versions: DescribeAddonVersions ``addons`` for the planned Kubernetes version (``planned_version``).
    """

    request: BootstrapRequest
    today: date
    account_id: str
    subnets: Sequence[Mapping[str, Any]] = ()
    route_tables: Sequence[Mapping[str, Any]] = ()
    instance_types: Sequence[Mapping[str, Any]] = ()
    existing_cluster: Mapping[str, Any] | None = None
    cluster_count: int = 0
    cluster_quota: int = 100
    quota_source: QuotaSource = QuotaSource.DEFAULT_NOT_APPLIED
    kms_key: Mapping[str, Any] | None = None
    roles: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    role_policies: Mapping[str, Sequence[str]] = field(default_factory=dict)
    principals: Mapping[str, bool | None] = field(default_factory=dict)
    cluster_versions: Sequence[Mapping[str, Any]] = ()
    addon_versions: Sequence[Mapping[str, Any]] = ()

    @property
    def cluster_name(self) -> str:
        return self.request.cluster_name

    @property
    def resuming_run(self) -> str | None:
        """The run that started the existing cluster of this name, when this runbook started it (else None)."""
        return resumed_run(self.existing_cluster, self.request.cluster_name)

    @property
    def planned_version(self) -> str | None:
        """The Kubernetes version the cluster is (to be) created at (see ``planned_kubernetes_version``)."""
        return planned_kubernetes_version(self.request, self.cluster_versions, self.existing_cluster, self.today)


CheckFunction = Callable[[PreflightInputs], list[Outcome]]
#: check id → function; filled by the ``@check`` decorators of ``core.bootstrap.checks``.
BOOTSTRAP_PREFLIGHT_CHECKS: CheckRegistry[CheckFunction] = CheckRegistry("bootstrap pre-flight")
check = BOOTSTRAP_PREFLIGHT_CHECKS.check


@cache
def load_bootstrap_preflight_catalogue(path: Path | None = None) -> tuple[GateSpec, ...]:
    """The checks of include/checks/bootstrap-preflight.yaml in catalogue order, held against their functions."""
    from eks_runbooks.core.bootstrap import checks  # noqa: F401  (registers the check functions)

    specs = load_gate_catalogue(path or include_path("checks", "bootstrap-preflight.yaml"))
    check_against_registry((spec.id for spec in specs), BOOTSTRAP_PREFLIGHT_CHECKS)
    return specs


def run_preflight(inputs: PreflightInputs) -> list[GateFinding]:
    """Every check of the catalogue on ``inputs``, in catalogue order, each outcome joined with its entry."""
    return [
        gate_finding(spec, outcome)
        for spec in load_bootstrap_preflight_catalogue()
        for outcome in _outcomes(BOOTSTRAP_PREFLIGHT_CHECKS[spec.id], spec, inputs)
    ]


def blocking_failures(findings: Sequence[GateFinding]) -> list[GateFinding]:
    """The findings that stop the bootstrap before anything is created."""
    return [finding for finding in findings if finding.blocking]


def _outcomes(function: CheckFunction, spec: GateSpec, inputs: PreflightInputs) -> list[Outcome]:
    # A check that cannot read its inputs (an AWS field it did not expect) must not pass silently.
    try:
        return function(inputs)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return [
            Outcome(
                Status.FAIL,
                f"Cluster {inputs.cluster_name}: check {spec.id} could not run: {type(error).__name__}: {error}",
            )
        ]


def resumed_run(existing_cluster: Mapping[str, Any] | None, cluster_name: str) -> str | None:
    """The run recorded on a cluster this runbook started under ``cluster_name`` and has not finished; None for any
    other cluster (a finished bootstrap is not resumed: a second run would change a cluster in use)."""
    tags = (existing_cluster or {}).get("tags") or {}
    if tags.get(CLUSTER_TAG) != cluster_name or tags.get(TAG_COMPLETED):
        return None
    return tags.get(BOOTSTRAPPED_BY_TAG) or None


def as_date(value: date | datetime | str | None) -> date | None:
    """A date from DescribeClusterVersions' dates (boto3: datetime; JSON: ISO text or epoch seconds)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).date()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()


def in_standard_support(entry: Mapping[str, Any], today: date) -> bool:
    """EKS says STANDARD_SUPPORT and its end date is not behind the runbooks' clock."""
    end = as_date(entry.get("endOfStandardSupportDate"))
    return entry.get("versionStatus") == "STANDARD_SUPPORT" and (end is None or end >= today)


def newest_in_standard_support(cluster_versions: Sequence[Mapping[str, Any]], today: date) -> str | None:
    """The default version: the newest EKS offers in standard support on ``today``."""
    supported = [entry["clusterVersion"] for entry in cluster_versions if in_standard_support(entry, today)]
    return max(supported, key=minor_of, default=None)


def planned_kubernetes_version(
    request: BootstrapRequest,
    cluster_versions: Sequence[Mapping[str, Any]],
    existing_cluster: Mapping[str, Any] | None,
    today: date,
) -> str | None:
    """The version the cluster is created at: a resumed cluster's own, else the requested one, else the newest in
    standard support (None when EKS offers none)."""
    if existing_cluster is not None and resumed_run(existing_cluster, request.cluster_name):
        return existing_cluster.get("version") or request.kubernetes_version
    return request.kubernetes_version or newest_in_standard_support(cluster_versions, today)


def addon_version_for(addon: Mapping[str, Any], kubernetes_version: str) -> str | None:
    """The version to install: EKS's default for ``kubernetes_version``, else the newest compatible one."""
    compatible = []
    for entry in addon.get("addonVersions") or []:
        matching = [c for c in entry.get("compatibilities") or [] if c.get("clusterVersion") == kubernetes_version]
        if matching:
            compatible.append((entry["addonVersion"], any(c.get("defaultVersion") for c in matching)))
    defaults = [version for version, is_default in compatible if is_default]
    candidates = defaults or [version for version, _ in compatible]
    return max(candidates, key=addon_version_key, default=None)


def resolve_versions(inputs: PreflightInputs) -> tuple[str | None, dict[str, str]]:
    """The Kubernetes version and, for each requested add-on that has one, the add-on version to install."""
    version = inputs.planned_version
    if version is None:
        return None, {}
    published = {addon["addonName"]: addon for addon in inputs.addon_versions}
    chosen = {name: addon_version_for(published[name], version) for name in inputs.request.addons if name in published}
    return version, {name: addon_version for name, addon_version in chosen.items() if addon_version}


def max_pods(instance_type: Mapping[str, Any]) -> int:
    """Pods a node of this type runs with the VPC CNI (secondary IPs, capped as EKS recommends)."""
    network = instance_type["NetworkInfo"]
    return max_pods_rules().max_pods(
        network["MaximumNetworkInterfaces"],
        network["Ipv4AddressesPerInterface"],
        instance_type["VCpuInfo"]["DefaultVCpus"],
    )


def nodegroup_pod_ips_per_subnet(
    nodegroup: NodegroupSpec, instance_types: Mapping[str, Mapping[str, Any]], subnet_count: int
) -> tuple[int, int, int] | None:
    """(nodes in one subnet, pods per node, IPs) for a node group at its max size spread evenly over the subnets;
    the instance type with the most pods counts. None when none of its instance types is known."""
    pods = [max_pods(instance_types[name]) for name in nodegroup.instance_types if name in instance_types]
    if not pods or subnet_count == 0:
        return None
    nodes = math.ceil(nodegroup.max / subnet_count)
    return nodes, max(pods), nodes * max(pods)
