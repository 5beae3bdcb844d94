"""Lazy, clock-driven transitions: nothing runs in the background.

A transition scheduled for simulated time T runs on the first ``run_due(now)`` with ``now >= T`` (the start
of the first request at or after T), in time order. Each transition receives its own due time ``at`` as the
logical time it happens, so chains (drain → retry → fail after 15 minutes) come out identical whether they are
run by requests arriving late or all at once by ``run_all()``. While it runs, the clock's ``acting_now()`` is that
due time too, so what the transition sets going in a cluster (a replacement pod's start-up) is timed from it.

Some transitions repeat for as long as the world runs (a crash-looping container's restarts, an SDK refreshing
its credentials): they are *clock-bound*. ``run_all()`` runs one only while it is due by the clock or while
ordinary work is still pending at or after it, so settling finishes what is in flight without running forever.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime

from eks_sandbox.clock import SimClock

Transition = Callable[[datetime], None]


class Timeline:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._heap: list[tuple[datetime, int, bool, Transition]] = []
        self._seq = itertools.count()

    def at(self, due: datetime, transition: Transition, *, clock_bound: bool = False) -> None:
        """Run ``transition(due)`` once simulated time reaches ``due``; a ``clock_bound`` one is never run ahead
        of the clock by ``run_all`` once no ordinary transition is left at or after it."""
        heapq.heappush(self._heap, (due, next(self._seq), clock_bound, transition))

    def run_due(self, now: datetime) -> None:
        while self._heap and self._heap[0][0] <= now:
            self._run_next()

    def run_all(self) -> None:
        """Run every transition in flight, including those they schedule, in time order (clock-bound ones only
        while due by the clock or followed by ordinary work)."""
        while self._heap:
            due, _, clock_bound, _ = self._heap[0]
            if clock_bound and due > self.clock.now() and not self._ordinary_pending_after(due):
                return
            self._run_next()

    def _ordinary_pending_after(self, due: datetime) -> bool:
        return any(not bound and at >= due for at, _, bound, _ in self._heap)

    def _run_next(self) -> None:
        due, _, _, transition = heapq.heappop(self._heap)
        with self.clock.acting_at(due):
            transition(due)
