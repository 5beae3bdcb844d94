"""What a pod requests of a node, counted as the scheduler counts it when it decides whether the pod fits.

kubernetes/component-helpers ``resource.PodRequests``: the containers' requests summed; each init container
runs alone (plus the sidecars started before it), so the pod needs the larger of the two; sidecars (init
containers with ``restartPolicy: Always``, KEP-753) keep running beside the containers and add to them;
pod-level ``spec.resources.requests`` (KEP-2837) replace the sum for the resources they name; the RuntimeClass
``overhead`` comes on top. A container with limits but no requests requests its limits (the API server's
defaulting, pkg/apis/core/v1/defaults.go).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eks_runbooks.core.kubernetes.quantities import cpu_millicores, memory_mebibytes

#: (millicores, MiB)
Requests = tuple[int, int]


def pod_requests(spec: Mapping[str, Any]) -> Requests:
    """The CPU (millicores) and memory (MiB) the scheduler reserves for a pod of this spec."""
    cpu, memory = _sum(_container_requests(c) for c in spec.get("containers") or [])
    sidecars = init_peak = (0, 0)
    for init in spec.get("initContainers") or []:
        requests = _container_requests(init)
        if init.get("restartPolicy") == "Always":
            cpu, memory = cpu + requests[0], memory + requests[1]
            sidecars = _sum((sidecars, requests))
            requests = sidecars
        else:
            requests = _sum((requests, sidecars))
        init_peak = (max(init_peak[0], requests[0]), max(init_peak[1], requests[1]))
    cpu, memory = max(cpu, init_peak[0]), max(memory, init_peak[1])
    pod_level = (spec.get("resources") or {}).get("requests") or {}
    cpu = cpu_millicores(pod_level["cpu"]) if "cpu" in pod_level else cpu
    memory = memory_mebibytes(pod_level["memory"]) if "memory" in pod_level else memory
    return _sum(((cpu, memory), _quantities(spec.get("overhead") or {})))


def _container_requests(container: Mapping[str, Any]) -> Requests:
    resources = container.get("resources") or {}
    return _quantities({**(resources.get("limits") or {}), **(resources.get("requests") or {})})


def _quantities(values: Mapping[str, Any]) -> Requests:
    return (
        cpu_millicores(values["cpu"]) if "cpu" in values else 0,
        memory_mebibytes(values["memory"]) if "memory" in values else 0,
    )


def _sum(parts: Any) -> Requests:
    cpu = memory = 0
    for part_cpu, part_memory in parts:
        cpu, memory = cpu + part_cpu, memory + part_memory
    return cpu, memory
