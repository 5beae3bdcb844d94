"""Imported by every Python process of the year-ahead tier (scripts/test puts this folder on PYTHONPATH).

The tier runs the tests under Debian's faketime (libfaketime 0.9.10) with the wall clock a year ahead and the
monotonic clock left alone (FAKETIME_DONT_FAKE_MONOTONIC=1). That libfaketime answers EINVAL to
clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), which is how CPython's ``time.sleep`` sleeps; faking the
monotonic clock too would instead hang every timed lock wait. Timed lock waits work either way, so sleep on one.
Condition-variable waits on CLOCK_MONOTONIC (how CPython waits for the GIL) need FAKETIME_FORCE_MONOTONIC_FIX=0,
which scripts/test sets: with the fix libfaketime turns on for this glibc they time out at once, and a thread
waiting for the GIL spins.
"""

import threading
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


time.sleep = _sleep
