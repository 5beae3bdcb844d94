"""Lazy, clock-driven transitions: nothing runs in the background.

A transition scheduled for simulated time T runs on the first ``run_due(now)`` with ``now >= T`` (the start
of the first request at or after T), in time order. Each transition receives its own due time ``at`` as the
logical time it happens, so chains (drain → retry → fail after 15 minutes) come out identical whether they are
run by requests arriving late or all at once by ``run_all()``. While it runs, the clock's ``acting_now()`` is that
due time too, so what the transition sets going in a cluster (a replacement pod's start-up) is timed from it.
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
        self._heap: list[tuple[datetime, int, Transition]] = []
        self._seq = itertools.count()

    def at(self, due: datetime, transition: Transition) -> None:
        """Run ``transition(due)`` once simulated time reaches ``due``."""
        heapq.heappush(self._heap, (due, next(self._seq), transition))

    def run_due(self, now: datetime) -> None:
        while self._heap and self._heap[0][0] <= now:
            self._run_next()

    def run_all(self) -> None:
        """Run every transition in flight, including those they schedule, in time order."""
        while self._heap:
            self._run_next()

    def _run_next(self) -> None:
        due, _, transition = heapq.heappop(self._heap)
        with self.clock.acting_at(due):
            transition(due)
