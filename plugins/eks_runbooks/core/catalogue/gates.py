"""Gate catalogues: checks that may stop a runbook before it changes anything (an upgrade hop's pre-flight, a
bootstrap's pre-flight). Each entry says whether it ``blocks``; a finding joins a check's outcome with its entry."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eks_runbooks.core.catalogue.loader import load_catalogue_entries
from eks_runbooks.core.catalogue.results import Outcome, Severity, Status


@dataclass(frozen=True)
class GateSpec:
    """One entry of a gate catalogue."""

    id: str
    title: str
    severity: Severity
    blocking: bool
    rationale: str
    remediation: str
    source: str


@dataclass(frozen=True)
class GateFinding:
    """One result of one check, joined with its catalogue entry; ``blocking`` is whether it stops the run."""

    check_id: str
    title: str
    severity: Severity
    status: Status
    blocking: bool
    detail: str
    objects: tuple[str, ...] = ()
    remediation: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "severity": str(self.severity), "status": str(self.status), "objects": [*self.objects]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateFinding:
        """The inverse of ``as_dict`` (findings travel between tasks as XCom JSON)."""
        return cls(
            **{
                **data,
                "severity": Severity(data["severity"]),
                "status": Status(data["status"]),
                "objects": tuple(data.get("objects", ())),
            }
        )


def load_gate_catalogue(path: Path) -> tuple[GateSpec, ...]:
    """The entries of a gate catalogue file, in its order (checked by ``load_catalogue_entries``)."""
    entries = load_catalogue_entries(path, ("blocking",))
    return tuple(GateSpec(**{**entry, "blocking": bool(entry["blocking"])}) for entry in entries)


def gate_finding(spec: GateSpec, outcome: Outcome, *, ignored: bool = False) -> GateFinding:
    """``outcome`` joined with its entry: the catalogue, not the function, decides what blocks (a failure of a
    check that does not block is a warning), and an ignored failure blocks nothing."""
    status = outcome.status
    if status is Status.FAIL and not spec.blocking:
        status = Status.WARN
    if status is Status.FAIL and ignored:
        status = Status.IGNORED
    return GateFinding(
        check_id=spec.id,
        title=spec.title,
        severity=spec.severity,
        status=status,
        blocking=status is Status.FAIL,
        detail=outcome.detail,
        objects=outcome.objects,
        remediation=spec.remediation,
    )
