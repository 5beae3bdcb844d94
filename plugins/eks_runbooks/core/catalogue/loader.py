"""Reading a check catalogue (include/checks/*.yaml) strictly, and holding it against its registered functions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from eks_runbooks.core.catalogue.results import Severity
from eks_runbooks.core.eks.names import CHECK_ID

#: Fields every catalogue entry has, whatever the runbook.
COMMON_FIELDS = ("id", "title", "severity", "rationale", "remediation", "source")


class CatalogueError(ValueError):
    """A catalogue entry is malformed, or the catalogue and the check functions do not match."""


def load_catalogue_entries(path: Path, extra_fields: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The entries of a catalogue file, checked: every field present, no unknown field, a known severity,
    UPPER-KEBAB ids listed once. Prose fields come back on one line; ``severity`` as a ``Severity``."""
    import yaml

    fields = COMMON_FIELDS + extra_fields
    entries = yaml.safe_load(path.read_text())["checks"]
    for number, entry in enumerate(entries, start=1):
        _check_entry(path, number, entry, fields)
    duplicates = sorted(check_id for check_id, count in Counter(entry["id"] for entry in entries).items() if count > 1)
    if duplicates:
        raise CatalogueError(f"{path}: check ids listed twice: {', '.join(duplicates)}")
    return [
        {
            **entry,
            "severity": Severity(entry["severity"]),
            **{field: " ".join(str(entry[field]).split()) for field in ("rationale", "remediation", "source")},
        }
        for entry in entries
    ]


def _check_entry(path: Path, number: int, entry: dict[str, Any], fields: tuple[str, ...]) -> None:
    label = f"{path}: check #{number} ({entry.get('id')})"
    missing = [field for field in fields if entry.get(field) in (None, "")]
    if missing:
        raise CatalogueError(f"{label} lacks {missing}")
    unknown = sorted(set(entry) - set(fields))
    if unknown:
        raise CatalogueError(f"{label} has unknown field(s) {unknown}; a catalogue entry has {', '.join(fields)}")
    if not CHECK_ID.match(entry["id"]):
        raise CatalogueError(f"{path}: check id {entry['id']!r} is not UPPER-KEBAB")
    if entry["severity"] not in Severity.__members__:
        raise CatalogueError(
            f"{path}: check {entry['id']} has severity {entry['severity']!r}, not one of {', '.join(Severity)}"
        )


def check_against_registry(listed: Iterable[str], registered: Collection[str]) -> None:
    """CatalogueError unless every catalogue entry has a check function and every function an entry."""
    listed = set(listed)
    problems = []
    if without_function := sorted(listed - set(registered)):
        problems.append(f"catalogue entries without a check function: {', '.join(without_function)}")
    if without_entry := sorted(set(registered) - listed):
        problems.append(f"check functions without a catalogue entry: {', '.join(without_entry)}")
    if problems:
        raise CatalogueError("; ".join(problems))
