"""The controllers of a simulated cluster, run synchronously to a fixed point after every write.

There are no background threads: each API write ends with ``reconcile``, which runs every controller until a
whole pass changes nothing. Pods start instantly (the simulator has no containers), so a rollout, a drain or a
node replacement has settled by the time the request that caused it returns; what runbooks observe is the
settled state a real cluster reaches a few seconds later.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eks_sandbox.kube.disruption import budget_numbers, pod_is_ready
from eks_sandbox.kube.nodes import UNSCHEDULABLE_TAINT_KEY, admits, is_ready, node_address
from eks_sandbox.kube.store import NAME_ALPHABET, ObjectStore, clone

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

MAX_PASSES = 50
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"

#: Tolerations the DaemonSet controller adds to its pods, so they run on cordoned and pressured nodes.
DAEMONSET_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": UNSCHEDULABLE_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"},
]

#: Placeholder CA bundle of the kube-root-ca.crt ConfigMap every namespace gets.
ROOT_CA_PEM = "-----BEGIN CERTIFICATE-----\nTUlJQ3NpbXVsYXRlZEVLU2NsdXN0ZXJDQQ==\n-----END CERTIFICATE-----\n"


def reconcile(cluster: KubeCluster) -> None:
    """Run every controller until a full pass leaves the store's resourceVersion unchanged."""
    for _ in range(MAX_PASSES):
        before = cluster.store.resource_version
        for controller in CONTROLLERS:
            controller(cluster)
        if cluster.store.resource_version == before:
            return
    raise RuntimeError(f"controllers of cluster {cluster.name} did not settle after {MAX_PASSES} passes")


# --- helpers shared by the controllers -------------------------------------------------------------------------


def controller_ref(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def template_hash(template: dict[str, Any]) -> str:
    """A stable short hash of a pod template, spelled like the pod-template-hash label."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(NAME_ALPHABET[byte % len(NAME_ALPHABET)] for byte in digest[:10])


def set_condition(
    conditions: list[dict[str, Any]],
    kind: str,
    status: str,
    reason: str,
    message: str,
    now: str,
    *,
    update_time: bool = False,
) -> list[dict[str, Any]]:
    """Conditions with ``kind`` set; timestamps move only when something changes, so reconcile can settle."""
    existing = next((c for c in conditions if c.get("type") == kind), None)
    if existing and (existing.get("status"), existing.get("reason", ""), existing.get("message", "")) == (
        status,
        reason,
        message,
    ):
        return conditions
    condition: dict[str, Any] = {"type": kind, "status": status}
    if update_time:
        condition["lastUpdateTime"] = now
    transition = existing["lastTransitionTime"] if existing and existing.get("status") == status else now
    condition.update({"lastTransitionTime": transition, "reason": reason, "message": message})
    return [condition if c.get("type") == kind else c for c in conditions] if existing else [*conditions, condition]


def _live_pods(store: ObjectStore, namespace: str | None = None) -> list[dict[str, Any]]:
    return [pod for pod in store.all("", "Pod", namespace) if "deletionTimestamp" not in pod["metadata"]]


def _save_status(store: ObjectStore, group: str, obj: dict[str, Any], status: dict[str, Any]) -> None:
    # A shallow copy is enough: only status and the metadata the store stamps change.
    updated = {**obj, "metadata": dict(obj["metadata"]), "status": status}
    store.save(group, obj["kind"], updated)


def _owned(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Objects by the uid of their controller, so each controller scans the pods once per pass."""
    index: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("controller"):
                index.setdefault(ref["uid"], []).append(obj)
    return index


def _without_zeroes(status: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    # These status fields are `omitempty` in the Go types: a real apiserver never serialises their zero.
    return {k: v for k, v in status.items() if not (k in keys and v == 0)}


def _pod_from_template(owner: dict[str, Any], template: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    template_metadata = template.get("metadata") or {}
    metadata: dict[str, Any] = {
        "namespace": owner["metadata"]["namespace"],
        "labels": {**(template_metadata.get("labels") or {}), **labels},
        "ownerReferences": [controller_ref(owner)],
    }
    if template_metadata.get("annotations"):
        metadata["annotations"] = dict(template_metadata["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": clone(template["spec"])}


# --- controllers, in the order one pass runs them --------------------------------------------------------------


def collect_garbage(cluster: KubeCluster) -> None:
    """Delete dependents whose every owner is gone (background cascading deletion)."""
    store = cluster.store
    uids = {obj["metadata"]["uid"] for group, kind in store.kinds() for obj in store.all(group, kind)}
    for group, kind in store.kinds():
        for obj in store.all(group, kind):
            owners = obj["metadata"].get("ownerReferences") or []
            if owners and not any(ref.get("uid") in uids for ref in owners):
                store.remove(group, kind, obj["metadata"].get("namespace"), obj["metadata"]["name"])


def sync_namespaces(cluster: KubeCluster) -> None:
    """Every namespace gets the ``default`` ServiceAccount and the ``kube-root-ca.crt`` ConfigMap."""
    store = cluster.store
    for namespace in store.all("", "Namespace"):
        name = namespace["metadata"]["name"]
        if store.get("", "ServiceAccount", name, "default") is None:
            store.insert(
                "",
                "ServiceAccount",
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}},
            )
        if store.get("", "ConfigMap", name, "kube-root-ca.crt") is None:
            store.insert(
                "",
                "ConfigMap",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": "kube-root-ca.crt",
                        "namespace": name,
                        "annotations": {
                            "kubernetes.io/description": "Contains a CA bundle that can be used "
                            "to verify the kube-apiserver when using internal endpoints such as "
                            "the internal service IP or kubernetes.default.svc."
                        },
                    },
                    "data": {"ca.crt": ROOT_CA_PEM},
                },
            )


def sync_unschedulable_taints(cluster: KubeCluster) -> None:
    """Keep the ``node.kubernetes.io/unschedulable`` taint in step with ``spec.unschedulable``."""
    store = cluster.store
    for node in store.all("", "Node"):
        spec = node.get("spec") or {}
        taints = spec.get("taints") or []
        has_taint = any(t.get("key") == UNSCHEDULABLE_TAINT_KEY for t in taints)
        if bool(spec.get("unschedulable")) == has_taint:
            continue
        updated = clone(node)
        if has_taint:
            updated["spec"]["taints"] = [t for t in taints if t.get("key") != UNSCHEDULABLE_TAINT_KEY]
            if not updated["spec"]["taints"]:
                del updated["spec"]["taints"]
        else:
            updated["spec"]["taints"] = [
                *taints,
                {"key": UNSCHEDULABLE_TAINT_KEY, "effect": "NoSchedule", "timeAdded": store.now()},
            ]
        store.save("", "Node", updated)


def remove_pods_of_missing_nodes(cluster: KubeCluster) -> None:
    """Pod garbage collection: pods bound to a node that no longer exists are deleted."""
    store = cluster.store
    nodes = {node["metadata"]["name"] for node in store.all("", "Node")}
    for pod in store.all("", "Pod"):
        node_name = pod["spec"].get("nodeName")
        if node_name and node_name not in nodes:
            store.remove("", "Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])


def sync_deployments(cluster: KubeCluster) -> None:
    """Deployment → ReplicaSets: one ReplicaSet per pod template, the current one scaled up, the rest to 0.

    A rollout completes in one step (old ReplicaSets go to zero as the new one reaches full size) because pods
    are ready at once; PDBs are not consulted, exactly as a real rolling update does not consult them.
    """
    store = cluster.store
    owned = _owned(store.all("apps", "ReplicaSet"))
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
    status = _without_zeroes(
        status, ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas")
    )
    store.save("apps", "Deployment", {**deployment, "metadata": metadata, "status": status})


def _round_down_budget(value: int | str, total: int) -> int:
    # maxUnavailable of a rolling update rounds down (deployment util ResolveFenceposts), unlike PDB budgets.
    if isinstance(value, str) and value.endswith("%"):
        return int(value[:-1]) * total // 100
    return int(value)


def sync_replica_sets(cluster: KubeCluster) -> None:
    """ReplicaSet → Pods: create or delete pods until ``spec.replicas`` of them exist; report status."""
    store = cluster.store
    owned = _owned(_live_pods(store))
    for rs in store.all("apps", "ReplicaSet"):
        namespace, name = rs["metadata"]["namespace"], rs["metadata"]["name"]
        pods = list(owned.get(rs["metadata"]["uid"], []))
        missing = rs["spec"].get("replicas", 1) - len(pods)
        for _ in range(missing):
            pod = _pod_from_template(rs, rs["spec"]["template"], {})
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
        _save_status(
            store, "apps", rs, _without_zeroes(status, ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"))
        )


def _negated_timestamp(timestamp: str) -> list[int]:
    return [-ord(char) for char in timestamp]


def sync_stateful_sets(cluster: KubeCluster) -> None:
    """StatefulSet → pods ``<name>-0 .. <name>-(n-1)``; pods of an older template revision are replaced."""
    store = cluster.store
    owned = _owned(_live_pods(store))
    for sts in store.all("apps", "StatefulSet"):
        namespace, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        revision = f"{name}-{template_hash(sts['spec']['template'])}"
        replicas = sts["spec"].get("replicas", 1)
        on_delete = (sts["spec"].get("updateStrategy") or {}).get("type") == "OnDelete"
        pods = {pod["metadata"]["name"]: pod for pod in owned.get(sts["metadata"]["uid"], [])}
        for pod_name, pod in pods.items():
            ordinal = pod_name.rsplit("-", 1)[-1]
            outdated = pod["metadata"]["labels"].get("controller-revision-hash") != revision and not on_delete
            if not ordinal.isdigit() or int(ordinal) >= replicas or outdated:
                store.remove("", "Pod", namespace, pod_name)
        for ordinal in range(replicas):
            pod_name = f"{name}-{ordinal}"
            if store.get("", "Pod", namespace, pod_name) is None:
                pod = _pod_from_template(
                    sts,
                    sts["spec"]["template"],
                    {
                        "controller-revision-hash": revision,
                        "statefulset.kubernetes.io/pod-name": pod_name,
                        "apps.kubernetes.io/pod-index": str(ordinal),
                    },
                )
                pod["metadata"]["name"] = pod_name
                pod["spec"]["hostname"] = pod_name
                if sts["spec"].get("serviceName"):
                    pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
                cluster.create_pod(pod)
        pods_now = [
            pod
            for ordinal in range(replicas)
            if (pod := store.get("", "Pod", namespace, f"{name}-{ordinal}")) is not None
        ]
        ready = sum(1 for pod in pods_now if pod_is_ready(pod))
        updated = sum(1 for pod in pods_now if pod["metadata"]["labels"].get("controller-revision-hash") == revision)
        status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods_now),
            "readyReplicas": ready,
            "currentReplicas": updated,
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "currentRevision": revision,
            "updateRevision": revision,
            "collisionCount": 0,
        }
        _save_status(
            store, "apps", sts, _without_zeroes(status, ("readyReplicas", "currentReplicas", "updatedReplicas"))
        )


def sync_daemon_sets(cluster: KubeCluster) -> None:
    """DaemonSet → one pod on every node it may run on (cordoned nodes included, as upstream)."""
    store = cluster.store
    nodes = store.all("", "Node")
    owned = _owned(_live_pods(store))
    for ds in store.all("apps", "DaemonSet"):
        namespace, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
        revision = template_hash(ds["spec"]["template"])
        pod_spec = clone(ds["spec"]["template"]["spec"])
        tolerations = pod_spec.setdefault("tolerations", [])
        tolerations.extend(t for t in DAEMONSET_TOLERATIONS if t not in tolerations)
        eligible = {node["metadata"]["name"] for node in nodes if admits(node, pod_spec)}
        pods = []
        covered = set()
        for pod in owned.get(ds["metadata"]["uid"], []):
            node_name = pod["spec"].get("nodeName")
            outdated = pod["metadata"]["labels"].get("controller-revision-hash") != revision
            if node_name not in eligible or node_name in covered or outdated:
                store.remove("", "Pod", namespace, pod["metadata"]["name"])
            else:
                covered.add(node_name)
                pods.append(pod)
        for node_name in sorted(eligible - covered):
            pod = _pod_from_template(
                ds,
                {**ds["spec"]["template"], "spec": pod_spec},
                {
                    "controller-revision-hash": revision,
                    "pod-template-generation": str(ds["metadata"].get("generation", 1)),
                },
            )
            pod["metadata"]["generateName"] = f"{name}-"
            pod["spec"]["nodeName"] = node_name
            pod["spec"]["affinity"] = {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
                        ]
                    }
                }
            }
            created = cluster.create_pod(pod)
            if created is not None:
                pods.append(created)
        ready = sum(1 for pod in pods if pod_is_ready(pod))
        status = {
            "currentNumberScheduled": len(pods),
            "desiredNumberScheduled": len(eligible),
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
            "updatedNumberScheduled": len(pods),
            "numberUnavailable": max(0, len(eligible) - ready),
            "observedGeneration": ds["metadata"].get("generation", 1),
        }
        _save_status(
            store,
            "apps",
            ds,
            _without_zeroes(status, ("numberAvailable", "updatedNumberScheduled", "numberUnavailable")),
        )


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
    for pod in _live_pods(store):
        if pod["spec"].get("nodeName"):
            continue
        candidates = [
            node
            for node in nodes
            if is_ready(node)
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
        for condition in status["conditions"]:
            condition.setdefault("lastProbeTime", None)
            if not condition.get("reason"):
                condition.pop("reason", None)
                condition.pop("message", None)
        store.save("", "Pod", updated)


def run_pods(cluster: KubeCluster) -> None:
    """The kubelets: a bound pod starts at once and is Ready (readiness probes pass: there is no container)."""
    store = cluster.store
    for pod in _live_pods(store):
        node = store.get("", "Node", None, pod["spec"].get("nodeName") or "")
        if node is None:
            continue
        status = pod.get("status") or {}
        containers = pod["spec"].get("containers") or []
        reported = [(c.get("name"), c.get("image")) for c in status.get("containerStatuses") or []]
        if status.get("phase") == "Running" and reported == [(c["name"], c["image"]) for c in containers]:
            continue
        if status.get("phase") not in (None, "Pending", "Running"):
            continue
        _start_pod(store, pod, node)


def _start_pod(store: ObjectStore, pod: dict[str, Any], node: dict[str, Any]) -> None:
    now = store.now()
    updated = clone(pod)
    status = updated.setdefault("status", {})
    previous = {c["name"]: c for c in status.get("containerStatuses") or []}
    conditions = status.get("conditions") or []
    for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"):
        conditions = set_condition(conditions, kind, "True", "", "", now)
    for condition in conditions:
        condition.setdefault("lastProbeTime", None)
        if not condition.get("reason"):
            condition.pop("reason", None)
            condition.pop("message", None)
    host_ip = node_address(node)
    if "podIP" not in status:
        prefix = ".".join((host_ip or "10.0.0.0").split(".")[:2])
        status["podIP"] = f"{prefix}.{store.random.randrange(0, 256)}.{store.random.randrange(2, 255)}"
    container_statuses = []
    for container in pod["spec"].get("containers") or []:
        old = previous.get(container["name"])
        restarted = old is not None and old.get("image") != container["image"]
        started_at = now if old is None or restarted else old["state"]["running"]["startedAt"]
        container_statuses.append(
            {
                "name": container["name"],
                "image": container["image"],
                "imageID": f"{container['image'].split(':')[0]}@sha256:"
                f"{hashlib.sha256(container['image'].encode()).hexdigest()}",
                "containerID": "containerd://"
                + hashlib.sha256(f"{pod['metadata']['uid']}/{container['name']}/{started_at}".encode()).hexdigest(),
                "ready": True,
                "started": True,
                "restartCount": (old.get("restartCount", 0) + (1 if restarted else 0)) if old else 0,
                "state": {"running": {"startedAt": started_at}},
                "lastState": {},
            }
        )
    status.update(
        {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIPs": [{"ip": status["podIP"]}],
            "startTime": status.get("startTime", now),
            "containerStatuses": container_statuses,
        }
    )
    if pod["spec"].get("initContainers"):
        status["initContainerStatuses"] = [
            {
                "name": container["name"],
                "image": container["image"],
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "started": False,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}},
            }
            for container in pod["spec"]["initContainers"]
        ]
    store.save("", "Pod", updated)


def update_disruption_budgets(cluster: KubeCluster) -> None:
    """The disruption controller: expected/healthy/desired pods and how many may be disrupted now."""
    store = cluster.store
    pods = _live_pods(store)
    now = store.now()
    for pdb in store.all("policy", "PodDisruptionBudget"):
        numbers = budget_numbers(pdb, pods)
        generation = pdb["metadata"].get("generation", 1)
        allowed = numbers["disruptionsAllowed"] > 0
        conditions = set_condition(
            list((pdb.get("status") or {}).get("conditions") or []),
            "DisruptionAllowed",
            "True" if allowed else "False",
            "SufficientPods" if allowed else "InsufficientPods",
            "",
            now,
        )
        for condition in conditions:
            condition["observedGeneration"] = generation
        _save_status(store, "policy", pdb, {"observedGeneration": generation, **numbers, "conditions": conditions})


CONTROLLERS: tuple[Callable[[KubeCluster], None], ...] = (
    collect_garbage,
    sync_namespaces,
    sync_unschedulable_taints,
    remove_pods_of_missing_nodes,
    sync_deployments,
    sync_replica_sets,
    sync_stateful_sets,
    sync_daemon_sets,
    schedule_pods,
    run_pods,
    update_disruption_budgets,
)
