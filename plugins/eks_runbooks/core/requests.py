"""Run requests, validated before anything touches AWS: every key checked, every problem named at once.

Runs start from the UI form, the REST API (a ticketing system) or a retry. Airflow's Params check types and
patterns, but accept unknown keys silently — and a typo such as ``dryrun: false`` silently falling back to
the default is exactly what must never happen on a production cluster. Each runbook's request module lists its
keys, the required ones and a check per key; ``parse_request_fields`` applies them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from enum import Enum
from typing import Any, TypeVar

E = TypeVar("E", bound=Enum)
FieldCheck = Callable[[Any], Any]


class InvalidRequest(ValueError):
    """One or more inputs are wrong; ``problems`` maps each key to what is wrong with it."""

    #: What kind of request, in the message ("upgrade request").
    what = "request"

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        listed = "; ".join(f"{key}: {problem}" for key, problem in problems.items())
        super().__init__(f"Invalid {self.what} — {listed}")


def parse_request_fields(
    conf: Mapping[str, Any],
    *,
    known: Collection[str],
    required: Collection[str],
    checks: Mapping[str, FieldCheck],
    error: type[InvalidRequest] = InvalidRequest,
) -> dict[str, Any]:
    """The checked values of ``conf`` (None values left to the defaults), or ``error`` listing every problem:
    unknown keys, missing required keys, values their check refuses."""
    problems: dict[str, str] = {}
    for key in sorted(set(conf) - set(known)):
        problems[key] = f"unknown key (expected one of: {', '.join(sorted(known))})"
    for key in required:
        if conf.get(key) in (None, ""):
            problems[key] = "required"
    values: dict[str, Any] = {}
    for key, check in checks.items():
        if key in conf and conf[key] is not None and key not in problems:
            try:
                values[key] = check(conf[key])
            except ValueError as refusal:
                problems[key] = str(refusal)
    if problems:
        raise error(problems)
    return values


def pattern_field(regex: re.Pattern[str], what: str) -> FieldCheck:
    """A string matching ``regex``; ``what`` names the expected form in the refusal."""

    def check(value: Any) -> str:
        if not isinstance(value, str) or not regex.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def boolean_field(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def whole_number_field(lowest: int, highest: int) -> FieldCheck:
    """A whole number from ``lowest`` to ``highest`` (a boolean is not one)."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            raise ValueError(f"{value!r} is not a whole number from {lowest} to {highest}")
        return value

    return check


def enum_field(kind: type[E]) -> Callable[[Any], E]:
    """A value of the enum ``kind``."""

    def check(value: Any) -> E:
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"{value!r} is not one of {', '.join(member.value for member in kind)}") from None

    return check


def list_field(item: FieldCheck, example: str) -> FieldCheck:
    """A list whose every item passes ``item``, duplicates dropped in order; ``example`` shows the form."""

    def check(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{value!r} is not a list such as {example}")
        checked = []
        for entry in value:
            try:
                checked.append(item(entry))
            except ValueError as refusal:
                raise ValueError(f"{refusal} (in a list such as {example})") from None
        return tuple(dict.fromkeys(checked))

    return check
