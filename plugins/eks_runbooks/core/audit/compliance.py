"""The nightly compliance audit: a catalogue of checks run against each cluster's facts, waivers, and trends.

The catalogue (include/checks/compliance.yaml: id, title, severity, needs, rationale, remediation, source) and
one small function per entry (eks_runbooks/core/audit_checks/, ``@audit_check("ID")``), in the one check
framework of ``eks_runbooks.core.catalogue``. A check sees plain
data (``ClusterFacts``) and answers PASS, FAIL, WARN or SKIP with evidence. When reading a fact it needs
failed, the check is ERROR naming the failure; a waiver turns a FAIL into WAIVED until it expires.
Findings are findings: none of this fails a run.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from eks_runbooks.core.catalogue import (
    CatalogueError,
    CheckRegistry,
    Outcome,
    Severity,
    Status,
    check_against_registry,
    load_catalogue_entries,
)
from eks_runbooks.core.include import include_path

#: Fact sources a check may need (see ``ClusterFacts``).
SOURCES = (
    "cluster",
    "cluster_versions",
    "nodegroups",
    "launch_templates",
    "network",
    "addons",
    "addon_versions",
    "insights",
    "kubernetes",
)


@dataclass
class ClusterFacts:
    """Everything the audit looks at for one cluster, as the AWS and Kubernetes APIs serve it.

    :param cluster: DescribeCluster ``cluster``.
    :param cluster_versions: DescribeClusterVersions ``clusterVersions``.
    :param nodegroups: DescribeNodegroup ``nodegroup`` of each managed node group.
    :param launch_templates: launch template id → ``LaunchTemplateData`` of the version a node group uses.
    :param subnets_routed_to_igw: ids of the node groups' subnets whose route table sends 0.0.0.0/0 to an
        internet gateway.
    :param addons: DescribeAddon ``addon`` of each add-on; ``addon_versions``: DescribeAddonVersions ``addons``
        for the cluster's version.
    :param insights: ListInsights summaries (``insightStatus.status``).
    :param kubernetes: kind → objects (Namespace, NetworkPolicy, ClusterRoleBinding, RoleBinding, Pod,
        ServiceAccount, ConfigMap in kube-system), camelCase as the API serves them.
    :param required_tags: tag keys every cluster must carry (Variable ``eks_required_tags``).
    :param errors: source → why it could not be read.
    """

    cluster_name: str
    region: str
    account: str
    now: datetime
    cluster: dict[str, Any] = field(default_factory=dict)
    cluster_versions: list[dict[str, Any]] = field(default_factory=list)
    nodegroups: list[dict[str, Any]] = field(default_factory=list)
    launch_templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    subnets_routed_to_igw: set[str] = field(default_factory=set)
    addons: list[dict[str, Any]] = field(default_factory=list)
    addon_versions: list[dict[str, Any]] = field(default_factory=list)
    insights: list[dict[str, Any]] = field(default_factory=list)
    kubernetes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    required_tags: tuple[str, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)


AuditCheck = Callable[[ClusterFacts], Outcome]
#: check id → function; filled by the ``@audit_check`` decorators of eks_runbooks.core.audit.checks.
AUDIT_CHECKS: CheckRegistry[AuditCheck] = CheckRegistry("audit")
audit_check = AUDIT_CHECKS.check


@dataclass(frozen=True)
class AuditCheckSpec:
    """One entry of the compliance catalogue; ``needs`` are the fact sources (``SOURCES``) the check reads."""

    id: str
    title: str
    severity: Severity
    needs: tuple[str, ...]
    rationale: str
    remediation: str
    source: str


def load_audit_catalogue(path: Path | None = None) -> tuple[AuditCheckSpec, ...]:
    """The audit checks of include/checks/compliance.yaml, each with its registered function."""
    import eks_runbooks.core.audit.checks  # noqa: F401  (registers the check functions)

    catalogue_file = path or include_path("checks", "compliance.yaml")
    catalogue = tuple(
        AuditCheckSpec(**{**entry, "needs": tuple(entry["needs"])})
        for entry in load_catalogue_entries(catalogue_file, ("needs",))
    )
    unknown = sorted({source for spec in catalogue for source in spec.needs} - set(SOURCES))
    if unknown:
        raise CatalogueError(f"{catalogue_file}: unknown needs {unknown}; fact sources are {', '.join(SOURCES)}")
    check_against_registry((spec.id for spec in catalogue), AUDIT_CHECKS)
    return catalogue


@dataclass(frozen=True)
class CheckResult:
    id: str
    status: Status
    severity: str
    detail: str
    objects: tuple[str, ...] = ()
    waiver: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "status": str(self.status),
            "severity": str(self.severity),
            "objects": list(self.objects),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """The inverse of ``as_dict`` (results travel between tasks as XCom JSON)."""
        return cls(**{**data, "status": Status(data["status"]), "objects": tuple(data.get("objects") or ())})


def audit_cluster(
    facts: ClusterFacts, catalogue: Sequence[AuditCheckSpec], only: Iterable[str] | None = None
) -> list[CheckResult]:
    """Run the catalogue (or the ``only`` ids) against one cluster's facts, in catalogue order."""
    wanted = set(only) if only else None
    results = []
    for spec in catalogue:
        if wanted is not None and spec.id not in wanted:
            continue
        missing = [source for source in spec.needs if source in facts.errors]
        if missing:
            outcome = Outcome(Status.ERROR, "; ".join(f"{source}: {facts.errors[source]}" for source in missing))
        else:
            try:
                outcome = AUDIT_CHECKS[spec.id](facts)
            except Exception as error:  # a check that cannot read its facts must not pass silently
                outcome = Outcome(Status.ERROR, f"check could not run: {type(error).__name__}: {error}")
        results.append(CheckResult(spec.id, outcome.status, spec.severity, outcome.detail, outcome.objects))
    return results


@dataclass(frozen=True)
class Waiver:
    """A FAIL accepted until ``expires`` (inclusive) for clusters matching ``cluster`` (a glob)."""

    check: str
    cluster: str
    reason: str
    expires: date

    def covers(self, check_id: str, cluster_name: str, today: date) -> bool:
        return self.check == check_id and fnmatch.fnmatchcase(cluster_name, self.cluster) and today <= self.expires


def parse_waivers(entries: Iterable[Mapping[str, Any]]) -> list[Waiver]:
    """Waivers from the Variable ``eks_compliance_waivers`` (a JSON list); a malformed entry is refused by index."""
    waivers = []
    for index, entry in enumerate(entries):
        try:
            waivers.append(
                Waiver(
                    check=str(entry["check"]),
                    cluster=str(entry.get("cluster", "*")),
                    reason=str(entry["reason"]),
                    expires=date.fromisoformat(str(entry["expires"])),
                )
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"eks_compliance_waivers[{index}] is not a waiver ({type(error).__name__}: {error}); each needs "
                '{"check": "EKS-ENDPOINT-PUBLIC", "cluster": "edge-*", "reason": "...", "expires": "2027-01-31"}'
            ) from None
    return waivers


def apply_waivers(
    cluster_name: str, results: Iterable[CheckResult], waivers: Sequence[Waiver], today: date
) -> list[CheckResult]:
    """FAILs covered by an unexpired waiver become WAIVED, with the waiver's reason and expiry."""
    out = []
    for result in results:
        waiver = next((w for w in waivers if w.covers(result.id, cluster_name, today)), None)
        if result.status is Status.FAIL and waiver is not None:
            result = CheckResult(
                result.id,
                Status.WAIVED,
                result.severity,
                result.detail,
                result.objects,
                f"{waiver.reason} (until {waiver.expires.isoformat()})",
            )
        out.append(result)
    return out


def summarise_audit(clusters: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts per status, over the fleet and per check."""
    statuses = [check["status"] for cluster in clusters for check in cluster["checks"]]
    per_check: dict[str, dict[str, int]] = {}
    for cluster in clusters:
        for check in cluster["checks"]:
            counts = per_check.setdefault(check["id"], {})
            counts[check["status"]] = counts.get(check["status"], 0) + 1
    return {
        "clusters": len(clusters),
        "by_status": {status.value: statuses.count(status.value) for status in Status},
        "by_check": per_check,
    }


def audit_trend(previous: Mapping[str, Any] | None, clusters: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """New failures and resolved ones since the previous report, over the (cluster, check) pairs both evaluated.

    A pair is evaluated when the run has a result for it that is not ERROR: a cluster that was not audited (not
    listed, filtered out, unreachable, its task failed) or a check that could not read its facts says nothing
    about the finding, so it is neither new nor resolved. A failure is a FAIL; WAIVED, WARN, SKIP and PASS are not.
    """
    now = _evaluated(clusters)
    before = _evaluated(previous["clusters"]) if previous else {}
    compared = now.keys() & before.keys()

    def listed(keys: Iterable[tuple[str, str, str, str]]) -> list[dict[str, str]]:
        return [
            {"account": account, "region": region, "cluster": cluster, "check": check, "severity": now[key][1]}
            for key in sorted(keys)
            for account, region, cluster, check in [key]
        ]

    failing_now = {key for key in compared if now[key][0] == Status.FAIL}
    failing_before = {key for key in compared if before[key][0] == Status.FAIL}
    return {
        "previous_run_id": previous.get("run_id") if previous else None,
        "compared": len(compared),
        "new_failures": listed(failing_now - failing_before),
        "resolved": listed(failing_before - failing_now),
    }


def _evaluated(report_clusters: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str, str], tuple[str, str]]:
    """(account, region, cluster, check) → (status, severity) of every result that is not ERROR."""
    return {
        (cluster["account"], cluster["region"], cluster["cluster"], check["id"]): (check["status"], check["severity"])
        for cluster in report_clusters
        for check in cluster["checks"]
        if check["status"] != Status.ERROR
    }
