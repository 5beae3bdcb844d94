"""Clock-bound transitions (crash-loop restarts, credential refreshes) repeat for ever: settling runs them only
while ordinary work is still pending after them, or once the clock reaches them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eks_sandbox.clock import SimClock
from eks_sandbox.eks.timeline import Timeline

START = datetime(2026, 1, 20, tzinfo=UTC)


def test_settling_runs_a_repeating_transition_only_up_to_the_last_ordinary_one():
    clock = SimClock(start=START)
    clock.pause()
    timeline = Timeline(clock)
    ran: list[str] = []

    def restart(at: datetime) -> None:
        ran.append(f"restart {int((at - START).total_seconds())}")
        timeline.at(at + timedelta(seconds=10), restart, clock_bound=True)

    timeline.at(START + timedelta(seconds=10), restart, clock_bound=True)
    timeline.at(START + timedelta(seconds=25), lambda at: ran.append("ordinary 25"))
    timeline.run_all()  # returns: the restarts would go on for ever

    assert ran == ["restart 10", "restart 20", "ordinary 25"]
    clock.skip(timedelta(seconds=30))
    timeline.run_due(clock.now())
    assert ran[3:] == ["restart 30"]
