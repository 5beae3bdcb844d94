"""The scheduler: binds each pending pod to a node, or says why none fits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eks_sandbox.kube.controllers.objects import live_pods, serialise_pod_conditions, set_condition
from eks_sandbox.kube.controllers.volumes import node_zone, volume_zones
from eks_sandbox.kube.nodes import admits, is_ready
from eks_sandbox.kube.store import clone

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

DEFAULT_SCHEDULER = "default-scheduler"


def schedule_pods(cluster: KubeCluster) -> None:
    """Bind unscheduled pods to the least-loaded Ready node that admits them (nodeSelector, affinity, taints,
    pod capacity); a pod no node admits stays Pending with PodScheduled=False until one does."""
    store = cluster.store
    nodes = store.all("", "Node")
    load = {node["metadata"]["name"]: 0 for node in nodes}
    for pod in store.all("", "Pod"):
        if pod["spec"].get("nodeName") in load:
            load[pod["spec"]["nodeName"]] += 1
    now = store.now()
    for pod in live_pods(store):
        if pod["spec"].get("nodeName") or pod["spec"].get("schedulerName", DEFAULT_SCHEDULER) != DEFAULT_SCHEDULER:
            # Another scheduler's pod (spec.schedulerName) is left to it, as kube-scheduler does.
            continue
        # A pod whose volumes live in some zones runs only there (the VolumeBinding/VolumeZone filters).
        zones = volume_zones(store, pod)
        candidates = [
            node
            for node in nodes
            if zones is not None
            and (not zones or node_zone(node) in zones)
            and is_ready(node)
            and admits(node, pod["spec"])
            and load[node["metadata"]["name"]] < int(node["status"].get("allocatable", {}).get("pods", "110"))
        ]
        updated = clone(pod)
        status = updated.setdefault("status", {"phase": "Pending"})
        if candidates:
            chosen = min(candidates, key=lambda node: (load[node["metadata"]["name"]], node["metadata"]["name"]))
            load[chosen["metadata"]["name"]] += 1
            updated["spec"]["nodeName"] = chosen["metadata"]["name"]
            status["conditions"] = set_condition(status.get("conditions") or [], "PodScheduled", "True", "", "", now)
        else:
            message = f"0/{len(nodes)} nodes are available: no node matches the pod's scheduling requirements."
            status["conditions"] = set_condition(
                status.get("conditions") or [], "PodScheduled", "False", "Unschedulable", message, now
            )
        serialise_pod_conditions(status["conditions"])
        store.save("", "Pod", updated)


def run_other_schedulers(cluster: KubeCluster) -> None:
    """The cluster's other schedulers (``KubeCluster.schedulers``), each binding the pods that name it."""
    for scheduler in cluster.schedulers:
        scheduler(cluster)
