"""The ReplicaSet controller: as many pods as ``spec.replicas``, the least useful removed first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eks_sandbox.kube.controllers.objects import (
    index_by_owner,
    live_pods,
    pod_from_template,
    save_status,
    without_zeroes,
)
from eks_sandbox.kube.disruption import pod_is_ready

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster


def sync_replica_sets(cluster: KubeCluster) -> None:
    """ReplicaSet → Pods: create or delete pods until ``spec.replicas`` of them exist; report status."""
    store = cluster.store
    owned = index_by_owner(live_pods(store))
    for rs in store.all("apps", "ReplicaSet"):
        namespace, name = rs["metadata"]["namespace"], rs["metadata"]["name"]
        pods = list(owned.get(rs["metadata"]["uid"], []))
        missing = rs["spec"].get("replicas", 1) - len(pods)
        for _ in range(missing):
            pod = pod_from_template(rs, rs["spec"]["template"], {})
            pod["metadata"]["generateName"] = f"{name}-"
            created = cluster.create_pod(pod)
            if created is not None:
                pods.append(created)
        if missing < 0:
            # Scale down the least useful pods first: unscheduled, then unready, then the newest.
            pods.sort(
                key=lambda p: (
                    bool(p["spec"].get("nodeName")),
                    pod_is_ready(p),
                    _negated_timestamp(p["metadata"]["creationTimestamp"]),
                )
            )
            for pod in pods[:-missing]:
                store.remove("", "Pod", namespace, pod["metadata"]["name"])
            pods = pods[-missing:]
        ready = sum(1 for pod in pods if pod_is_ready(pod))
        status = {
            "replicas": len(pods),
            "fullyLabeledReplicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        save_status(
            store, "apps", rs, without_zeroes(status, ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"))
        )


def _negated_timestamp(timestamp: str) -> list[int]:
    return [-ord(char) for char in timestamp]
