"""The runbooks' one clock: today is the wall clock's, or the day EKS_RUNBOOKS_AS_OF names for a rehearsal."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from eks_runbooks.core.clock import AS_OF_VARIABLE, utc_now, utc_today


def test_as_of_moves_today_and_keeps_the_time_of_day(monkeypatch):
    monkeypatch.setenv(AS_OF_VARIABLE, "2027-03-01")
    now, wall = utc_now(), datetime.now(UTC)
    assert now.date() == utc_today() == date(2027, 3, 1)
    assert now.tzinfo is UTC
    seconds_apart = abs((now - datetime.combine(now.date(), wall.timetz())).total_seconds())
    assert min(seconds_apart, 86400 - seconds_apart) < 5


def test_without_as_of_today_is_the_wall_clocks(monkeypatch):
    monkeypatch.delenv(AS_OF_VARIABLE, raising=False)
    assert abs((utc_now() - datetime.now(UTC)).total_seconds()) < 5


def test_a_malformed_as_of_names_the_setting(monkeypatch):
    monkeypatch.setenv(AS_OF_VARIABLE, "next monday")
    with pytest.raises(ValueError, match="EKS_RUNBOOKS_AS_OF must be a date YYYY-MM-DD"):
        utc_today()
