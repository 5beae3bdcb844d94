"""Simulated time: runs faster than wall time so that realistic EKS durations fit in a test.

``time_scale`` multiplies every simulated duration: with ``time_scale=0.01`` a control-plane update that
takes ten simulated minutes completes in six wall-clock seconds. Simulated timestamps (``createdAt``,
update times) advance at ``1 / time_scale`` so that they stay consistent with those durations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta


class SimClock:
    """A clock whose simulated time runs ``1 / time_scale`` times faster than wall time."""

    def __init__(self, time_scale: float = 1.0, start: datetime | None = None) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.time_scale = time_scale
        self._start = start or datetime.now(UTC)
        self._wall_start = time.monotonic()
        self._skipped = timedelta()
        self._paused_at: float | None = None
        self._lock = threading.Lock()
        self._acting = threading.local()

    def now(self) -> datetime:
        """The current simulated time (timezone-aware, UTC)."""
        with self._lock:
            wall = self._paused_at if self._paused_at is not None else time.monotonic()
            return self._start + timedelta(seconds=(wall - self._wall_start) / self.time_scale) + self._skipped

    def acting_now(self) -> datetime:
        """The instant simulated work acts at: the due time of the transition this thread is running (see
        ``acting_at``), else ``now()``. What a transition starts (a pod's start-up, a retry) is timed from it, so
        a chain comes out the same whether its steps run on time or all at once by a request that came late."""
        due = getattr(self._acting, "due", None)
        return due if due is not None else self.now()

    @contextmanager
    def acting_at(self, due: datetime) -> Iterator[None]:
        """Run the enclosed transition as happening at ``due`` (for this thread only)."""
        outer = getattr(self._acting, "due", None)
        self._acting.due = due
        try:
            yield
        finally:
            self._acting.due = outer

    @property
    def paused(self) -> bool:
        with self._lock:
            return self._paused_at is not None

    def pause(self) -> None:
        """Stop simulated time: everything in flight stays where it is until ``resume`` (or a skip/settle)."""
        with self._lock:
            if self._paused_at is None:
                self._paused_at = time.monotonic()

    def resume(self) -> None:
        """Let simulated time run again from where it was paused."""
        with self._lock:
            if self._paused_at is not None:
                self._wall_start += time.monotonic() - self._paused_at
                self._paused_at = None

    def after(self, duration: timedelta) -> datetime:
        """The simulated time at which something lasting ``duration`` (simulated) and starting now ends."""
        return self.now() + duration

    def skip(self, duration: timedelta) -> None:
        """Jump simulated time forward, as if ``duration`` had passed (for tests and rehearsals)."""
        with self._lock:
            self._skipped += duration

    def wall_seconds(self, duration: timedelta) -> float:
        """How many wall-clock seconds a simulated ``duration`` lasts."""
        return duration.total_seconds() * self.time_scale
