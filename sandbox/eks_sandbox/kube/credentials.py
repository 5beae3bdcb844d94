"""What the kubelets need to know of the AWS credentials a container's SDK gets (the rules live on the EKS side).

A container that gets none fails as an application does on AccessDenied: it exits 1, the kubelet restarts it with
a back-off of 10 s doubling up to 5 minutes, reset once it runs [kubernetes.io/docs/concepts/workloads/pods/
pod-lifecycle/#container-restarts: "exponential backoff delay (10s, 20s, 40s, …), that is capped at 300 seconds"].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: [kubernetes.io pod-lifecycle#container-restarts]
FIRST_BACK_OFF = timedelta(seconds=10)
MAX_BACK_OFF = timedelta(minutes=5)


@dataclass(frozen=True)
class Credentials:
    """The answer for one container: whether its SDK got credentials, what it logs, and when it asks again."""

    granted: bool
    #: the line the container logs (the credential source it used, or the AccessDenied it hit)
    log: str
    #: a running SDK fetches credentials again after this long (None: never)
    refresh_after: timedelta | None = None


@dataclass
class ContainerRun:
    """What a kubelet remembers of one container beyond its status."""

    #: failed starts in a row (the back-off doubles with each)
    failures: int = 0
    #: crash-looping: when the back-off ends and the kubelet starts it again
    restart_at: datetime | None = None
    #: running: when its SDK fetches credentials again
    refresh_at: datetime | None = None
    #: what ``kubectl logs`` shows
    log: list[str] = field(default_factory=list)


def back_off(failures: int) -> timedelta:
    """The wait before the restart that follows the ``failures``-th failure in a row."""
    return min(FIRST_BACK_OFF * 2 ** min(max(failures - 1, 0), 10), MAX_BACK_OFF)


def go_duration(duration: timedelta) -> str:
    """A duration as the kubelet prints it (Go's time.Duration: ``10s``, ``1m20s``, ``5m0s``)."""
    seconds = int(duration.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    return f"{seconds // 60}m{seconds % 60}s"
