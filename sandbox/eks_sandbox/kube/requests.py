"""What a pod asks the scheduler for: its effective CPU and memory requests, as kube-scheduler counts them.

The effective request of a pod is the larger of the sum over its containers and its largest init container
(kubernetes.io/docs/concepts/workloads/pods/init-containers "Resource sharing within containers"); a container
with a limit and no request requests its limit (kubernetes.io/docs/concepts/configuration/manage-resources-
containers). Quantities follow Kubernetes' resource.Quantity notation (``250m``, ``2``, ``512Mi``, ``1G``).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTPE]i?)?$")
_MEMORY_UNITS = {
    None: 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def millicores(quantity: Any) -> int:
    """``250m`` → 250, ``2`` → 2000; 0 for what is not a CPU quantity."""
    match = _CPU.match(str(quantity).strip())
    if not match:
        return 0
    value = Decimal(match.group(1))
    return math.ceil(value if match.group(2) else value * 1000)


def memory_bytes(quantity: Any) -> int:
    """``512Mi`` → 536870912, ``1G`` → 10**9; 0 for what is not a memory quantity."""
    match = _MEMORY.match(str(quantity).strip())
    if not match:
        return 0
    return math.ceil(Decimal(match.group(1)) * _MEMORY_UNITS.get(match.group(2), 1))


def _request(container: dict[str, Any], resource: str) -> Any:
    resources = container.get("resources") or {}
    return (resources.get("requests") or {}).get(resource) or (resources.get("limits") or {}).get(resource) or 0


def pod_requests(pod_spec: dict[str, Any]) -> tuple[int, int]:
    """The pod's effective (millicores, bytes) requests."""
    containers = pod_spec.get("containers") or []
    inits = pod_spec.get("initContainers") or []
    cpu = max(
        sum(millicores(_request(c, "cpu")) for c in containers),
        max((millicores(_request(c, "cpu")) for c in inits), default=0),
    )
    memory = max(
        sum(memory_bytes(_request(c, "memory")) for c in containers),
        max((memory_bytes(_request(c, "memory")) for c in inits), default=0),
    )
    return cpu, memory
