"""The simulated fleet: one lock, one clock, the EKS backend and a Kubernetes API per cluster.

Every request (AWS or Kubernetes) is handled under ``Sandbox.lock`` after ``Sandbox.advance()`` has applied
every state transition that is due by the simulated clock, so in-process use and server use behave the same.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from eks_sandbox import moto_compat
from eks_sandbox.clock import SimClock
from eks_sandbox.endpoints import KubeEndpoints
from eks_sandbox.faults import FaultInjector
from eks_sandbox.tls import CertificateAuthority

if TYPE_CHECKING:
    from eks_sandbox.eks.backend import EksBackend

#: include/ at the root of a source checkout; overridable for installed copies (EKS_SANDBOX_INCLUDE).
DEFAULT_INCLUDE_DIR = Path(__file__).resolve().parents[2] / "include"


class Sandbox:
    """State of one simulated fleet: every account, region, cluster and Kubernetes API in it."""

    def __init__(
        self,
        time_scale: float = 1.0,
        start: date | datetime | None = None,
        include_dir: Path | None = None,
    ) -> None:
        """:param start: when the simulated world begins — a date starts it at 00:00 UTC that day (the world
        date of ``eks-sandbox serve --date`` and of a fleet's ``as_of``); default: now. Every answer that
        depends on the date (the version calendar, what CreateCluster accepts, the end-of-support upgrades
        EKS makes itself, AMI releases) follows this clock; TLS certificates and tokens use the real one.
        """
        from eks_sandbox.eks.backend import EksBackend

        self.lock = threading.RLock()
        self.clock = SimClock(time_scale=time_scale, start=world_start(start) if start is not None else None)
        self.include_dir = include_dir or include_dir_from_env()
        moto_compat.set_instance_generations(previous_generation_families(self.include_dir))
        self.faults = FaultInjector()
        #: Kubernetes API of each cluster, by the opaque id EKS gives the cluster; each is served on a port of
        #: its own once a server runs (``kube_endpoint``).
        self.kube_clusters = KubeEndpoints()
        #: Base URL of the AWS APIs (``http://127.0.0.1:5055``); set by the server before use.
        self.base_url = "http://127.0.0.1:5055"
        #: The CA that signs the server's certificate: DescribeCluster's ``certificateAuthority.data``.
        self.tls = CertificateAuthority.generate()
        #: AWS calls served, by (service, operation): what a runbook really calls (IAM policies, benchmarks).
        self.api_calls: Counter[tuple[str, str]] = Counter()
        #: False while ``eks-sandbox serve`` is still building its fleet (health reports it).
        self.fleet_loaded = True
        self.eks: EksBackend = EksBackend(self)

    def kube_endpoint(self, cluster_id: str) -> str:
        """The Kubernetes API endpoint that DescribeCluster reports for a cluster: HTTPS, its own port, no path."""
        return self.kube_clusters.endpoint(cluster_id)

    def advance(self) -> None:
        """Apply every simulated transition that is due at the current simulated time."""
        with self.lock:
            self.eks.advance(self.clock.now())

    def settle(self) -> None:
        """Finish every transition in flight at once (fleet loading and tests that skip the waiting)."""
        with self.lock:
            self.eks.settle()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the sandbox lock with every due transition applied: the frame of one API request."""
        with self.lock:
            self.eks.advance(self.clock.now())
            yield


def world_start(start: date | datetime) -> datetime:
    """The simulated instant a world begins: a date means 00:00 UTC that day."""
    if isinstance(start, datetime):
        return start
    return datetime.combine(start, time(0, 0), tzinfo=UTC)


def previous_generation_families(include_dir: Path) -> set[str]:
    """The EC2 families DescribeInstanceTypes calls previous generation (include/sandbox/instance-generations.yaml)."""
    import yaml

    document = yaml.safe_load((include_dir / "sandbox" / "instance-generations.yaml").read_text())
    return set(document["previous_generation_families"])


def include_dir_from_env() -> Path:
    import os

    return Path(os.environ.get("EKS_SANDBOX_INCLUDE", DEFAULT_INCLUDE_DIR))
