from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from eks_sandbox.clock import SimClock

START = datetime(2026, 11, 21, tzinfo=UTC)


def test_simulated_time_runs_faster_by_the_inverse_of_the_time_scale():
    wall_before = time.monotonic()
    clock = SimClock(time_scale=0.001, start=START)
    time.sleep(0.05)
    elapsed = clock.now() - START
    wall_elapsed = time.monotonic() - wall_before
    # Upper bound from the wall time actually measured around the clock, so a scheduler stall on a loaded
    # machine (a sleep that lasts much longer than asked) cannot fail it; 1 s of slack for rounding.
    assert timedelta(seconds=49) <= elapsed <= timedelta(seconds=wall_elapsed / 0.001 + 1)
    assert clock.wall_seconds(timedelta(minutes=10)) == pytest.approx(0.6)


def test_a_paused_clock_stands_still_and_resumes_where_it_stopped():
    clock = SimClock(time_scale=0.001, start=START)
    clock.pause()
    frozen = clock.now()
    time.sleep(0.05)
    assert clock.now() == frozen
    clock.resume()
    assert clock.now() - frozen < timedelta(seconds=30)


def test_skip_jumps_forward_even_while_paused():
    clock = SimClock(time_scale=1, start=START)
    clock.pause()
    clock.skip(timedelta(days=8))
    assert timedelta(days=8) <= clock.now() - START < timedelta(days=8, seconds=1)


def test_time_scale_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        SimClock(time_scale=0)
