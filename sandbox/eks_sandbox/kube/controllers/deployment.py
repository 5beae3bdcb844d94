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

    A RollingUpdate moves one maxSurge/maxUnavailable step at a time, each as far as the pods the last one
    started have turned available (``KubeCluster.pod_startup``); PDBs are not consulted, exactly as a real
    rolling update does not consult them.
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
        if current is not None and not spec.get("paused"):
            live = [
                rs for r in replica_sets if (rs := store.get("apps", "ReplicaSet", namespace, r["metadata"]["name"]))
            ]
            for rs_name, wanted in _replica_targets(deployment, current["metadata"]["name"], live).items():
                _scale(store, deployment, store.get("apps", "ReplicaSet", namespace, rs_name), wanted)
        live_sets = [
            live
            for rs in replica_sets
            if (live := store.get("apps", "ReplicaSet", namespace, rs["metadata"]["name"])) is not None
        ]
        live_sets = _prune_history(store, deployment, live_sets, current)
        _update_deployment_status(
            store, store.get("apps", "Deployment", namespace, name) or deployment, live_sets, pod_hash
        )


def rolling_budgets(deployment: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts: surge rounds up, unavailability down, and both zero means an
    unavailability of one (deployment util ResolveFenceposts)."""
    desired = deployment["spec"]["replicas"]
    rolling = (deployment["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = _resolve(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = _resolve(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    return surge, (1 if surge == 0 and unavailable == 0 else unavailable)


def _replica_targets(deployment: dict[str, Any], current_name: str, replica_sets: list[dict[str, Any]]) -> dict:
    """spec.replicas for each ReplicaSet after one step of the rollout (rolling.go rolloutRolling)."""
    desired = deployment["spec"]["replicas"]
    new = next(rs for rs in replica_sets if rs["metadata"]["name"] == current_name)
    old = sorted(
        (rs for rs in replica_sets if rs is not new and rs["spec"]["replicas"] > 0),
        key=lambda rs: int(rs["metadata"].get("annotations", {}).get(REVISION_ANNOTATION, "0")),
    )
    recreate = (deployment["spec"].get("strategy") or {}).get("type") == "Recreate"
    if not old or recreate:
        return {rs["metadata"]["name"]: (desired if rs is new else 0) for rs in replica_sets}
    surge, unavailable = rolling_budgets(deployment)
    targets = {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in replica_sets}
    all_pods = sum(targets.values())
    targets[current_name] += max(0, min(desired + surge - all_pods, desired - new["spec"]["replicas"]))
    available = {rs["metadata"]["name"]: (rs.get("status") or {}).get("availableReplicas", 0) for rs in replica_sets}
    min_available = desired - unavailable
    new_unavailable = new["spec"]["replicas"] - available[current_name]
    # First the old pods that are not available anyway, then available ones down to minAvailable.
    budget = all_pods - min_available - new_unavailable
    for rs in old:
        name = rs["metadata"]["name"]
        cut = max(0, min(targets[name] - available[name], budget))
        targets[name] -= cut
        budget -= cut
    budget = sum(available.values()) - min_available
    for rs in old:
        name = rs["metadata"]["name"]
        cut = max(0, min(targets[name], available[name], budget))
        targets[name] -= cut
        budget -= cut
    return targets


def _scale(store: ObjectStore, deployment: dict[str, Any], rs: dict[str, Any] | None, wanted: int) -> None:
    if rs is None or rs["spec"]["replicas"] == wanted:
        return
    surge, _ = rolling_budgets(deployment)
    updated = clone(rs)
    updated["spec"]["replicas"] = wanted
    annotations = updated["metadata"].setdefault("annotations", {})
    annotations["deployment.kubernetes.io/desired-replicas"] = str(deployment["spec"]["replicas"])
    annotations["deployment.kubernetes.io/max-replicas"] = str(deployment["spec"]["replicas"] + surge)
    store.save("apps", "ReplicaSet", updated)


def _create_replica_set(store: ObjectStore, deployment: dict[str, Any], pod_hash: str, revision: int) -> dict:
    template = clone(deployment["spec"]["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
    selector = clone(deployment["spec"]["selector"])
    selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
    # Created empty: the rollout's first step sizes it (all at once when there is nothing to replace).
    replicas = 0
    desired = deployment["spec"]["replicas"]
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
                    "deployment.kubernetes.io/desired-replicas": str(desired),
                    "deployment.kubernetes.io/max-replicas": str(desired + rolling_budgets(deployment)[0]),
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
    return _resolve(value, total, round_up=False)


def _resolve(value: int | str, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * total
        return -(-scaled // 100) if round_up else scaled // 100
    return int(value)
