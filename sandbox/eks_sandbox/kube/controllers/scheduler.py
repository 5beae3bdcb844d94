"""The scheduler: binds each pending pod to a node, or says why none fits."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from eks_sandbox.kube.controllers.objects import live_pods, serialise_pod_conditions, set_condition
from eks_sandbox.kube.controllers.volumes import node_zone, volume_zones
from eks_sandbox.kube.nodes import admits, is_ready
from eks_sandbox.kube.requests import memory_bytes, millicores, pod_requests
from eks_sandbox.kube.store import clone

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

DEFAULT_SCHEDULER = "default-scheduler"
#: kube-scheduler's words for a node that lacks room (NodeResourcesFit; "Too many pods" for the pod count).
_REASONS = {"pods": "Too many pods", "cpu": "Insufficient cpu", "memory": "Insufficient memory"}


class _NodeLoad:
    """What the pods bound to one node take of its allocatable: pod count, CPU (millicores), memory (bytes)."""

    def __init__(self, node: dict[str, Any]) -> None:
        # A Node a kubelet has created but whose status it has not reported yet has no allocatable (nor Ready).
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        self.free = {
            "pods": int(allocatable.get("pods", "110")),
            "cpu": millicores(allocatable["cpu"]) if "cpu" in allocatable else None,
            "memory": memory_bytes(allocatable["memory"]) if "memory" in allocatable else None,
        }
        self.pods = 0

    def take(self, pod_spec: dict[str, Any]) -> None:
        cpu, memory = pod_requests(pod_spec)
        self.pods += 1
        self.free["pods"] -= 1
        for resource, amount in (("cpu", cpu), ("memory", memory)):
            if self.free[resource] is not None:
                self.free[resource] -= amount

    def insufficient(self, pod_spec: dict[str, Any]) -> list[str]:
        """The resources this node lacks for the pod (kube-scheduler's NodeResourcesFit filter)."""
        cpu, memory = pod_requests(pod_spec)
        wanted = {"pods": 1, "cpu": cpu, "memory": memory}
        return [r for r, amount in wanted.items() if self.free[r] is not None and amount > self.free[r]]


def _unschedulable_message(nodes: int, lacking: list[str]) -> str:
    # kube-scheduler sums the filters' reasons: "0/3 nodes are available: 3 Insufficient cpu."
    reasons = sorted(Counter(lacking).items())
    if not reasons:
        return f"0/{nodes} nodes are available: no node matches the pod's scheduling requirements."
    return f"0/{nodes} nodes are available: " + ", ".join(f"{count} {reason}" for reason, count in reasons) + "."


def schedule_pods(cluster: KubeCluster) -> None:
    """Bind unscheduled pods to the least-loaded Ready node that admits them (nodeSelector, affinity, taints)
    and has room for them (pod count, CPU and memory requests against allocatable); a pod no node takes stays
    Pending with PodScheduled=False until one does."""
    store = cluster.store
    nodes = store.all("", "Node")
    load = {node["metadata"]["name"]: _NodeLoad(node) for node in nodes}
    for pod in store.all("", "Pod"):
        if pod["spec"].get("nodeName") in load:
            load[pod["spec"]["nodeName"]].take(pod["spec"])
    now = store.now()
    for pod in live_pods(store):
        if pod["spec"].get("nodeName") or pod["spec"].get("schedulerName", DEFAULT_SCHEDULER) != DEFAULT_SCHEDULER:
            # Another scheduler's pod (spec.schedulerName) is left to it, as kube-scheduler does.
            continue
        # A pod whose volumes live in some zones runs only there (the VolumeBinding/VolumeZone filters).
        zones = volume_zones(store, pod)
        admitting = [
            node
            for node in nodes
            if zones is not None
            and (not zones or node_zone(node) in zones)
            and is_ready(node)
            and admits(node, pod["spec"])
        ]
        lacking = {
            node["metadata"]["name"]: load[node["metadata"]["name"]].insufficient(pod["spec"]) for node in admitting
        }
        candidates = [name for name, short in lacking.items() if not short]
        updated = clone(pod)
        status = updated.setdefault("status", {"phase": "Pending"})
        if candidates:
            chosen = min(candidates, key=lambda name: (load[name].pods, name))
            load[chosen].take(pod["spec"])
            updated["spec"]["nodeName"] = chosen
            status["conditions"] = set_condition(status.get("conditions") or [], "PodScheduled", "True", "", "", now)
        else:
            message = _unschedulable_message(
                len(nodes), [_REASONS[resource] for short in lacking.values() for resource in short]
            )
            status["conditions"] = set_condition(
                status.get("conditions") or [], "PodScheduled", "False", "Unschedulable", message, now
            )
        serialise_pod_conditions(status["conditions"])
        store.save("", "Pod", updated)


def run_other_schedulers(cluster: KubeCluster) -> None:
    """The cluster's other schedulers (``KubeCluster.schedulers``), each binding the pods that name it."""
    for scheduler in cluster.schedulers:
        scheduler(cluster)
