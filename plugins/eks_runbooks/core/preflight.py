"""Pre-flight of one upgrade hop: where the upgrade decides to stop before the control plane is touched.

The gates are a catalogue (include/checks/upgrade-preflight.yaml: id, title, severity, blocking, rationale,
remediation, source) and one small function per entry (eks_runbooks/core/checks/, ``@check("ID")``). Every
check reports what it looked at — PASS when fine — so the report shows what was checked, not only what failed.

A FAIL of a blocking check stops the hop. ``ignore_checks`` (a run parameter) downgrades a check's FAILs to
IGNORED: still in the report, never dropped, no longer blocking.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from eks_runbooks.core.checks.registry import (
    PREFLIGHT_CHECKS,
    CheckFunction,
    Outcome,
    PreflightInputs,
    Status,
    check,
)
from eks_runbooks.core.include import include_path
from eks_runbooks.core.upgrade_request import CHECK_ID

__all__ = [
    "PREFLIGHT_CHECKS",
    "CheckSpec",
    "Finding",
    "PreflightCatalogueError",
    "PreflightInputs",
    "PreflightResult",
    "Severity",
    "Status",
    "check",
    "load_preflight_catalogue",
    "render_preflight_markdown",
    "run_preflight",
]


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    INFO = "INFO"


class PreflightCatalogueError(ValueError):
    """The check catalogue and the check functions do not match, or an entry is malformed."""


@dataclass(frozen=True)
class CheckSpec:
    """One entry of the pre-flight catalogue."""

    id: str
    title: str
    severity: Severity
    blocking: bool
    rationale: str
    remediation: str
    source: str


_SPEC_FIELDS = ("id", "title", "severity", "blocking", "rationale", "remediation", "source")


def load_preflight_catalogue(path: Path | None = None) -> tuple[CheckSpec, ...]:
    """The pre-flight checks of include/checks/upgrade-preflight.yaml, in the catalogue's order."""
    import yaml

    catalogue_file = path or include_path("checks", "upgrade-preflight.yaml")
    entries = yaml.safe_load(catalogue_file.read_text())["checks"]
    specs = []
    for number, entry in enumerate(entries, start=1):
        missing = [field for field in _SPEC_FIELDS if entry.get(field) in (None, "")]
        if missing:
            raise PreflightCatalogueError(f"{catalogue_file}: check #{number} ({entry.get('id')}) lacks {missing}")
        if not CHECK_ID.match(entry["id"]):
            raise PreflightCatalogueError(f"{catalogue_file}: check id {entry['id']!r} is not UPPER-KEBAB")
        try:
            severity = Severity(entry["severity"])
        except ValueError:
            raise PreflightCatalogueError(
                f"{catalogue_file}: check {entry['id']} has severity {entry['severity']!r}, "
                f"not one of {', '.join(Severity)}"
            ) from None
        specs.append(
            CheckSpec(
                id=entry["id"],
                title=entry["title"],
                severity=severity,
                blocking=bool(entry["blocking"]),
                rationale=" ".join(entry["rationale"].split()),
                remediation=" ".join(entry["remediation"].split()),
                source=" ".join(entry["source"].split()),
            )
        )
    duplicates = sorted(check_id for check_id, count in Counter(spec.id for spec in specs).items() if count > 1)
    if duplicates:
        raise PreflightCatalogueError(f"{catalogue_file}: check ids listed twice: {', '.join(duplicates)}")
    return tuple(specs)


@dataclass(frozen=True)
class Finding:
    """One result of one check, joined with its catalogue entry; ``blocking`` is whether it stops the hop."""

    check_id: str
    title: str
    severity: Severity
    status: Status
    blocking: bool
    detail: str
    objects: tuple[str, ...] = ()
    remediation: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "severity": str(self.severity),
            "status": str(self.status),
            "objects": list(self.objects),
        }


@dataclass(frozen=True)
class PreflightResult:
    """Every finding of one hop's pre-flight, in catalogue order."""

    cluster_name: str
    hop_from: str
    hop_to: str
    findings: tuple[Finding, ...]

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.blocking)

    @property
    def ignored(self) -> tuple[Finding, ...]:
        return self._with(Status.IGNORED)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return self._with(Status.WARN)

    @property
    def follow_ups(self) -> tuple[Finding, ...]:
        return self._with(Status.INFO)

    @property
    def passes(self) -> tuple[Finding, ...]:
        return self._with(Status.PASS)

    @property
    def passed(self) -> bool:
        return not self.blocking

    @property
    def summary(self) -> str:
        """One line, e.g. for the DagRun note: the verdict and the ids to look up in the report."""
        verdict = (
            "passed"
            if self.passed
            else "BLOCKED by " + ", ".join(dict.fromkeys(finding.check_id for finding in self.blocking))
        )
        counts = f"{len(self.warnings)} warning(s), {len(self.ignored)} ignored, {len(self.follow_ups)} follow-up(s)"
        return f"{self.cluster_name} {self.hop_from} → {self.hop_to} pre-flight {verdict}; {counts}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster_name": self.cluster_name,
            "hop_from": self.hop_from,
            "hop_to": self.hop_to,
            "passed": self.passed,
            "summary": self.summary,
            "findings": [finding.as_dict() for finding in self.findings],
        }

    def _with(self, status: Status) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.status is status)


def run_preflight(
    inputs: PreflightInputs, catalogue: Sequence[CheckSpec], ignore_checks: Iterable[str] = ()
) -> PreflightResult:
    """
    Run every check of the catalogue against one hop's inputs.

    :param catalogue: ``load_preflight_catalogue()``; must name exactly the registered check functions.
    :param ignore_checks: check ids whose FAILs become IGNORED (recorded, not blocking); unknown ids are refused.
    """
    _require_one_function_per_entry(catalogue)
    ignore = set(ignore_checks)
    unknown = sorted(ignore - {spec.id for spec in catalogue})
    if unknown:
        raise ValueError(
            f"Cluster {inputs.cluster_name}: ignore_checks names unknown check(s) {', '.join(unknown)}; "
            f"known checks: {', '.join(spec.id for spec in catalogue)}"
        )
    findings = [
        _finding(spec, outcome, ignored=spec.id in ignore)
        for spec in catalogue
        for outcome in _outcomes(PREFLIGHT_CHECKS[spec.id], spec, inputs)
    ]
    return PreflightResult(inputs.cluster_name, inputs.hop_from, inputs.hop_to, tuple(findings))


def _require_one_function_per_entry(catalogue: Sequence[CheckSpec]) -> None:
    listed_ids = {spec.id for spec in catalogue}
    without_function = sorted(listed_ids - set(PREFLIGHT_CHECKS))
    without_entry = sorted(set(PREFLIGHT_CHECKS) - listed_ids)
    problems = []
    if without_function:
        problems.append(f"catalogue entries without a check function: {', '.join(without_function)}")
    if without_entry:
        problems.append(f"check functions without a catalogue entry: {', '.join(without_entry)}")
    if problems:
        raise PreflightCatalogueError("; ".join(problems))


def _outcomes(function: CheckFunction, spec: CheckSpec, inputs: PreflightInputs) -> list[Outcome]:
    # A check that cannot read its inputs (an AWS field it did not expect) must not pass silently: it fails,
    # naming itself, and blocks if the check blocks — ignore_checks is the way past it.
    try:
        return function(inputs)
    except Exception as error:
        return [
            Outcome(
                Status.FAIL,
                f"Cluster {inputs.cluster_name}: check {spec.id} could not run: {type(error).__name__}: {error}",
            )
        ]


def _finding(spec: CheckSpec, outcome: Outcome, *, ignored: bool) -> Finding:
    status = outcome.status
    if status is Status.FAIL and not spec.blocking:
        status = Status.WARN  # the catalogue, not the function, decides what blocks
    if status is Status.FAIL and ignored:
        status = Status.IGNORED
    return Finding(
        check_id=spec.id,
        title=spec.title,
        severity=spec.severity,
        status=status,
        blocking=status is Status.FAIL,
        detail=outcome.detail,
        objects=outcome.objects,
        remediation=spec.remediation,
    )


_SECTIONS = (
    (Status.FAIL, "Blocking — fix before the control plane is touched"),
    (Status.IGNORED, "Ignored (ignore_checks) — would have blocked"),
    (Status.WARN, "Warnings"),
    (Status.INFO, "Follow-ups"),
)


def render_preflight_markdown(result: PreflightResult) -> str:
    """The pre-flight part of the run report: blocking first, then ignored, warnings, follow-ups and passes."""
    verdict = (
        "**PASSED** — the hop may start."
        if result.passed
        else f"**BLOCKED** — {len(result.blocking)} blocking finding(s); the hop stops before its control plane."
    )
    lines = [f"## Pre-flight: {result.cluster_name} {result.hop_from} → {result.hop_to}", "", verdict, ""]
    for status, heading in _SECTIONS:
        findings = [finding for finding in result.findings if finding.status is status]
        if not findings:
            continue
        lines += [f"### {heading}", ""]
        for finding in findings:
            lines.append(f"- **{finding.check_id}** ({finding.severity}) {finding.title}: {finding.detail}")
            if finding.objects:
                lines.append(f"  - Objects: {', '.join(f'`{obj}`' for obj in finding.objects)}")
            lines.append(f"  - Fix: {finding.remediation}")
        lines.append("")
    if result.passes:
        lines += ["### Passed", ""]
        lines += [f"- **{finding.check_id}** {finding.title}: {finding.detail}" for finding in result.passes]
        lines.append("")
    return "\n".join(lines)
