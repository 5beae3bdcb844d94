"""What a check answers: a status, one line a person can act on, and the objects it names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    PASS = "PASS"  # checked, nothing to report
    WARN = "WARN"  # reported, never stops anything
    FAIL = "FAIL"  # the check's finding; a blocking pre-flight check stops the hop
    INFO = "INFO"  # a follow-up or a fact worth knowing
    SKIP = "SKIP"  # the check does not apply (nothing to look at, or not configured)
    ERROR = "ERROR"  # the facts the check needs could not be read
    IGNORED = "IGNORED"  # a pre-flight FAIL downgraded because the run's ignore_checks names the check
    WAIVED = "WAIVED"  # an audit FAIL covered by an unexpired waiver


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    INFO = "INFO"


@dataclass(frozen=True)
class Outcome:
    """One thing a check found."""

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


def skipped(detail: str) -> Outcome:
    return Outcome(Status.SKIP, detail)


def listed(items: Sequence[str], limit: int = 5) -> str:
    """``a, b, c and 4 more``: keeps a finding's detail to one line however many objects it names."""
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown
