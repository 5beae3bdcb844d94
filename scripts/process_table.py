"""The machine's processes as ``ps`` lists them, and a free loopback port: what the demo, its benchmarks and the
end-to-end tests use to find the processes of a process group (a Celery worker's task processes lead groups of
their own) and to give each service a port."""

from __future__ import annotations

import socket
import subprocess


def process_table(*columns: str) -> list[list[str]]:
    """One row per process with the values of ``ps -o`` ``columns`` (e.g. ``"pgid", "pid", "args"``); the last
    column is kept whole, so ``args`` keeps its spaces."""
    listing = subprocess.run(
        ["ps", "-e", "-o", ",".join(f"{column}=" for column in columns)], capture_output=True, text=True, check=True
    ).stdout
    return [line.split(None, len(columns) - 1) for line in listing.splitlines()]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
