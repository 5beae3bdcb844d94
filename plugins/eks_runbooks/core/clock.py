"""The runbooks' one clock: every "now" and "today" the library uses that AWS does not answer itself.

Where AWS gives the answer — a version's support status and dates (DescribeClusterVersions), upgrade
insights — the runbooks use AWS's answer, never their own date arithmetic. What remains (days left until a
date AWS reported, waiver expiry, AMI age, report timestamps) reads the time here.

``EKS_RUNBOOKS_AS_OF=YYYY-MM-DD`` in the environment of every Airflow component makes the runbooks act as if
today were that day (the time of day stays the wall clock's): a rehearsal on a sandbox whose world date is
not today sets it to the sandbox's date, so "days left" and waiver expiry agree with what the sandbox says.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

AS_OF_VARIABLE = "EKS_RUNBOOKS_AS_OF"


def utc_now() -> datetime:
    """The current time (timezone-aware, UTC), on the day ``EKS_RUNBOOKS_AS_OF`` names when it is set."""
    now = datetime.now(UTC)
    as_of = _as_of()
    return now if as_of is None else datetime.combine(as_of, now.timetz())


def utc_today() -> date:
    """Today's date in UTC (``EKS_RUNBOOKS_AS_OF`` when it is set)."""
    return utc_now().date()


def _as_of() -> date | None:
    value = os.environ.get(AS_OF_VARIABLE, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{AS_OF_VARIABLE} must be a date YYYY-MM-DD (or unset for today), got {value!r}") from None
