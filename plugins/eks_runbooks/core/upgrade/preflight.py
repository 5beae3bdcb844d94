"""Pre-flight of one upgrade hop: where the upgrade decides to stop before the control plane is touched.

The gates are a catalogue (include/checks/upgrade-preflight.yaml: id, title, severity, blocking, rationale,
remediation, source) and one small function per entry (eks_runbooks/core/checks/, ``@check("ID")``). Every
check reports what it looked at — PASS when fine — so the report shows what was checked, not only what failed.

A FAIL of a blocking check stops the hop. ``ignore_checks`` (a run parameter) downgrades a check's FAILs to
IGNORED: still in the report, never dropped, no longer blocking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from eks_runbooks.core.catalogue import (
    CatalogueError,
    Outcome,
    Severity,
    Status,
    check_against_registry,
)
from eks_runbooks.core.catalogue.gates import GateFinding, GateSpec, gate_finding, load_gate_catalogue
from eks_runbooks.core.include import include_path
from eks_runbooks.core.upgrade.checks.registry import PREFLIGHT_CHECKS, CheckFunction, PreflightInputs, check

__all__ = [
    "PREFLIGHT_CHECKS",
    "CatalogueError",
    "GateFinding",
    "GateSpec",
    "PreflightInputs",
    "PreflightResult",
    "Severity",
    "Status",
    "check",
    "load_preflight_catalogue",
    "project_to_hop_start",
    "render_preflight_markdown",
    "run_preflight",
]


def load_preflight_catalogue(path: Path | None = None) -> tuple[GateSpec, ...]:
    """The pre-flight checks of include/checks/upgrade-preflight.yaml, in the catalogue's order."""
    return load_gate_catalogue(path or include_path("checks", "upgrade-preflight.yaml"))


@dataclass(frozen=True)
class PreflightResult:
    """Every finding of one hop's pre-flight, in catalogue order."""

    cluster_name: str
    hop_from: str
    hop_to: str
    findings: tuple[GateFinding, ...]

    @property
    def blocking(self) -> tuple[GateFinding, ...]:
        return tuple(finding for finding in self.findings if finding.blocking)

    @property
    def ignored(self) -> tuple[GateFinding, ...]:
        return self._with(Status.IGNORED)

    @property
    def warnings(self) -> tuple[GateFinding, ...]:
        return self._with(Status.WARN)

    @property
    def follow_ups(self) -> tuple[GateFinding, ...]:
        return self._with(Status.INFO)

    @property
    def passes(self) -> tuple[GateFinding, ...]:
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

    def _with(self, status: Status) -> tuple[GateFinding, ...]:
        return tuple(finding for finding in self.findings if finding.status is status)


def run_preflight(
    inputs: PreflightInputs, catalogue: Sequence[GateSpec], ignore_checks: Iterable[str] = ()
) -> PreflightResult:
    """
    Run every check of the catalogue against one hop's inputs.

    :param catalogue: ``load_preflight_catalogue()``; must name exactly the registered check functions.
    :param ignore_checks: check ids whose FAILs become IGNORED (recorded, not blocking); unknown ids are refused.
    """
    check_against_registry((spec.id for spec in catalogue), PREFLIGHT_CHECKS)
    ignore = set(ignore_checks)
    unknown = sorted(ignore - {spec.id for spec in catalogue})
    if unknown:
        raise ValueError(
            f"Cluster {inputs.cluster_name}: ignore_checks names unknown check(s) {', '.join(unknown)}; "
            f"known checks: {', '.join(spec.id for spec in catalogue)}"
        )
    findings = [
        gate_finding(spec, outcome, ignored=spec.id in ignore)
        for spec in catalogue
        for outcome in _outcomes(PREFLIGHT_CHECKS[spec.id], spec, inputs)
    ]
    return PreflightResult(inputs.cluster_name, inputs.hop_from, inputs.hop_to, tuple(findings))


def _outcomes(function: CheckFunction, spec: GateSpec, inputs: PreflightInputs) -> list[Outcome]:
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


_SECTIONS = (
    (Status.FAIL, "Blocking — fix before the control plane is touched"),
    (Status.IGNORED, "Ignored (ignore_checks) — would have blocked"),
    (Status.WARN, "Warnings"),
    (Status.INFO, "Follow-ups"),
)


def render_preflight_markdown(result: PreflightResult, *, with_passes: bool = True) -> str:
    """The pre-flight part of the run report: blocking first, then ignored, warnings, follow-ups and passes.

    :param with_passes: list the checks that passed (a report of several hops lists them once, apart).
    """
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
    if with_passes and result.passes:
        lines += ["### Passed", ""]
        lines += [f"- **{finding.check_id}** {finding.title}: {finding.detail}" for finding in result.passes]
        lines.append("")
    return "\n".join(lines)


def preflight_result_of(document: Mapping[str, Any]) -> PreflightResult:
    """A PreflightResult back from its ``as_dict()`` (as the report reads it from XCom)."""
    findings = tuple(GateFinding.from_dict(finding) for finding in document["findings"])
    return PreflightResult(document["cluster_name"], document["hop_from"], document["hop_to"], findings)


def project_to_hop_start(inputs: PreflightInputs, addon_versions: Mapping[str, str]) -> PreflightInputs:
    """The cluster as the plan's earlier hops leave it, for a later hop judged in plan mode: control plane and
    managed node groups at ``inputs.hop_from``, each add-on at the version the plan moves it to.

    Nodes outside managed node groups keep their kubelet: the runbook does not move them.

    :param addon_versions: add-on name → its version after the earlier hops (add-ons they leave alone absent).
    """
    return replace(
        inputs,
        cluster={**inputs.cluster, "version": inputs.hop_from},
        nodegroups=[{**nodegroup, "version": inputs.hop_from} for nodegroup in inputs.nodegroups],
        addons=[
            {**addon, "addonVersion": addon_versions.get(addon["addonName"], addon["addonVersion"])}
            for addon in inputs.addons
        ],
    )
