"""The Deployment controller: one ReplicaSet per pod template, revisions, history and rollout conditions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eks_sandbox.kube.controllers.objects import (
    controller_ref,
    index_by_owner,
    set_condition,
    template_hash,
    without_zeroes,
)
from eks_sandbox.kube.store import ObjectStore, clone

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


def sync_deployments(cluster: KubeCluster) -> None:
    """Deployment → ReplicaSets: one ReplicaSet per pod template, the current one scaled up, the rest to 0.

    A rollout completes in one step (old ReplicaSets go to zero as the new one reaches full size) because pods
    are ready at once; PDBs are not consulted, exactly as a real rolling update does not consult them.
    """
    store = cluster.store
    owned = index_by_owner(store.all("apps", "ReplicaSet"))
    for deployment in store.all("apps", "Deployment"):
        namespace, name = deployment["metadata"]["namespace"], deployment["metadata"]["name"]
        spec = deployment["spec"]
        replica_sets = list(owned.get(deployment["metadata"]["uid"], []))
        pod_hash = template_hash(spec["template"])
        current = next(
            (rs for rs in replica_sets if rs["metadata"].get("labels", {}).get("pod-template-hash") == pod_hash), None
        )
        revisions = [int(rs["metadata"].get("annotations", {}).get(REVISION_ANNOTATION, "0")) for rs in replica_sets]
        if current is None and not spec.get("paused"):
            current = _create_replica_set(store, deployment, pod_hash, max(revisions, default=0) + 1)
            replica_sets.append(current)
        elif current is not None and int(current["metadata"]["annotations"][REVISION_ANNOTATION]) < max(revisions):
            # Rolling back to an earlier template reuses its ReplicaSet under a new revision number.
            updated = clone(current)
            updated["metadata"]["annotations"][REVISION_ANNOTATION] = str(max(revisions) + 1)
            store.save("apps", "ReplicaSet", updated)
        for rs in replica_sets if current is not None else []:
            wanted = spec["replicas"] if rs["metadata"]["name"] == current["metadata"]["name"] else 0
            live = store.get("apps", "ReplicaSet", namespace, rs["metadata"]["name"])
            if live is not None and live["spec"]["replicas"] != wanted:
                updated = clone(live)
                updated["spec"]["replicas"] = wanted
                updated["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/desired-replicas"] = str(
                    spec["replicas"]
                )
                store.save("apps", "ReplicaSet", updated)
        live_sets = [
            live
            for rs in replica_sets
            if (live := store.get("apps", "ReplicaSet", namespace, rs["metadata"]["name"])) is not None
        ]
        live_sets = _prune_history(store, deployment, live_sets, current)
        _update_deployment_status(
            store, store.get("apps", "Deployment", namespace, name) or deployment, live_sets, pod_hash
        )


def _create_replica_set(store: ObjectStore, deployment: dict[str, Any], pod_hash: str, revision: int) -> dict:
    template = clone(deployment["spec"]["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
    selector = clone(deployment["spec"]["selector"])
    selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
    replicas = deployment["spec"]["replicas"]
    return store.insert(
        "apps",
        "ReplicaSet",
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{deployment['metadata']['name']}-{pod_hash}",
                "namespace": deployment["metadata"]["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    REVISION_ANNOTATION: str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                    "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                },
                "ownerReferences": [controller_ref(deployment)],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template, "minReadySeconds": 0},
            "status": {"replicas": 0},
        },
    )


def _prune_history(
    store: ObjectStore, deployment: dict[str, Any], replica_sets: list[dict[str, Any]], current: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Keep at most revisionHistoryLimit scaled-down ReplicaSets, dropping the oldest revisions."""
    limit = deployment["spec"].get("revisionHistoryLimit", 10)
    old = [
        rs
        for rs in replica_sets
        if (current is None or rs["metadata"]["name"] != current["metadata"]["name"])
        and rs["spec"]["replicas"] == 0
        and not rs.get("status", {}).get("replicas")
    ]
    old.sort(key=lambda rs: int(rs["metadata"].get("annotations", {}).get(REVISION_ANNOTATION, "0")))
    pruned = {rs["metadata"]["name"] for rs in old[: max(0, len(old) - limit)]}
    for rs_name in pruned:
        store.remove("apps", "ReplicaSet", deployment["metadata"]["namespace"], rs_name)
    return [rs for rs in replica_sets if rs["metadata"]["name"] not in pruned]


def _update_deployment_status(
    store: ObjectStore, deployment: dict[str, Any], replica_sets: list[dict[str, Any]], pod_hash: str
) -> None:
    current = next((rs for rs in replica_sets if rs["metadata"]["labels"].get("pod-template-hash") == pod_hash), None)
    desired = deployment["spec"]["replicas"]

    def total(field: str) -> int:
        return sum(rs.get("status", {}).get(field, 0) for rs in replica_sets)

    available = total("availableReplicas")
    updated_replicas = current.get("status", {}).get("replicas", 0) if current else 0
    strategy = deployment["spec"].get("strategy") or {}
    max_unavailable = 0
    if strategy.get("type") == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        max_unavailable = _round_down_budget(rolling.get("maxUnavailable", "25%"), desired)
    now = store.now()
    conditions = list(deployment.get("status", {}).get("conditions") or [])
    if available >= desired - max_unavailable:
        conditions = set_condition(
            conditions,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
            update_time=True,
        )
    else:
        conditions = set_condition(
            conditions,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
            update_time=True,
        )
    if current is not None:
        complete = (
            updated_replicas == desired
            and total("replicas") == desired
            and current.get("status", {}).get("availableReplicas", 0) == desired
        )
        rs_name = current["metadata"]["name"]
        if complete:
            conditions = set_condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                now,
                update_time=True,
            )
        else:
            conditions = set_condition(
                conditions,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
                now,
                update_time=True,
            )
    status = {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": total("replicas"),
        "updatedReplicas": updated_replicas,
        "readyReplicas": total("readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(0, desired - available),
        "conditions": conditions,
    }
    metadata = dict(deployment["metadata"])
    if current is not None:
        metadata["annotations"] = {
            **(metadata.get("annotations") or {}),
            REVISION_ANNOTATION: current["metadata"]["annotations"][REVISION_ANNOTATION],
        }
    status = without_zeroes(
        status, ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas")
    )
    store.save("apps", "Deployment", {**deployment, "metadata": metadata, "status": status})


def _round_down_budget(value: int | str, total: int) -> int:
    # maxUnavailable of a rolling update rounds down (deployment util ResolveFenceposts), unlike PDB budgets.
    if isinstance(value, str) and value.endswith("%"):
        return int(value[:-1]) * total // 100
    return int(value)
