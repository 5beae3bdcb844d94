"""The controllers of a simulated cluster, run synchronously to a fixed point after every write.

There are no background threads: each API write ends with ``reconcile``, which runs every controller until a
whole pass changes nothing. What takes time is a pod's start-up (``KubeCluster.pod_startup``): the kubelet
schedules a wake-up for when a pod turns Ready, and the wake-up (run by the sandbox's timeline before a request,
by a waiting watch, or by ``settle``) reconciles again, so a rollout moves one step per start-up.

One module per controller; ``objects`` holds how they all write owner references, pods and status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from eks_sandbox.kube.controllers.daemonset import sync_daemon_sets
from eks_sandbox.kube.controllers.deployment import sync_deployments
from eks_sandbox.kube.controllers.disruption_budgets import update_disruption_budgets
from eks_sandbox.kube.controllers.endpoint_slices import sync_endpoint_slices
from eks_sandbox.kube.controllers.garbage_collector import collect_garbage
from eks_sandbox.kube.controllers.kubelet import run_pods
from eks_sandbox.kube.controllers.namespaces import sync_namespaces
from eks_sandbox.kube.controllers.node_lifecycle import sync_unschedulable_taints
from eks_sandbox.kube.controllers.node_network import sync_node_network
from eks_sandbox.kube.controllers.pod_garbage_collector import remove_pods_of_missing_nodes
from eks_sandbox.kube.controllers.replicaset import sync_replica_sets
from eks_sandbox.kube.controllers.scheduler import run_other_schedulers, schedule_pods
from eks_sandbox.kube.controllers.statefulset import sync_stateful_sets
from eks_sandbox.kube.controllers.volumes import sync_volumes

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

MAX_PASSES = 200

#: One pass, in order: owners before what they own (Deployment → ReplicaSet → Pod), pods scheduled before the
#: kubelets start them, budgets last so they count the pods this pass settled.
CONTROLLERS: tuple[Callable[[KubeCluster], None], ...] = (
    collect_garbage,
    sync_namespaces,
    sync_unschedulable_taints,
    remove_pods_of_missing_nodes,
    sync_deployments,
    sync_replica_sets,
    sync_stateful_sets,
    sync_daemon_sets,
    sync_node_network,
    schedule_pods,
    run_other_schedulers,
    sync_volumes,
    run_pods,
    sync_endpoint_slices,
    update_disruption_budgets,
)


def reconcile(cluster: KubeCluster) -> None:
    """Run every controller until a full pass leaves the store's resourceVersion unchanged."""
    for _ in range(MAX_PASSES):
        before = cluster.store.resource_version
        for controller in CONTROLLERS:
            controller(cluster)
        if cluster.store.resource_version == before:
            return
    raise RuntimeError(f"controllers of cluster {cluster.name} did not settle after {MAX_PASSES} passes")


__all__ = ["CONTROLLERS", "MAX_PASSES", "reconcile"]
