"""The DaemonSet controller: one pod on every node it may run on, cordoned or pressured nodes included."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eks_sandbox.kube.controllers.objects import (
    index_by_owner,
    live_pods,
    pod_from_template,
    save_status,
    template_hash,
    without_zeroes,
)
from eks_sandbox.kube.disruption import pod_is_ready
from eks_sandbox.kube.nodes import UNSCHEDULABLE_TAINT_KEY, admits
from eks_sandbox.kube.store import clone

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

#: Tolerations the DaemonSet controller adds to its pods, so they run on cordoned and pressured nodes.
DAEMONSET_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": UNSCHEDULABLE_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"},
]


def sync_daemon_sets(cluster: KubeCluster) -> None:
    """DaemonSet → one pod on every node it may run on (cordoned nodes included, as upstream)."""
    store = cluster.store
    nodes = store.all("", "Node")
    owned = index_by_owner(live_pods(store))
    for ds in store.all("apps", "DaemonSet"):
        namespace, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
        revision = template_hash(ds["spec"]["template"])
        pod_spec = clone(ds["spec"]["template"]["spec"])
        tolerations = pod_spec.setdefault("tolerations", [])
        tolerations.extend(t for t in DAEMONSET_TOLERATIONS if t not in tolerations)
        eligible = {node["metadata"]["name"] for node in nodes if admits(node, pod_spec)}
        pods = []
        covered = set()
        outdated = []
        for pod in owned.get(ds["metadata"]["uid"], []):
            node_name = pod["spec"].get("nodeName")
            if node_name not in eligible or node_name in covered:
                store.remove("", "Pod", namespace, pod["metadata"]["name"])
                continue
            covered.add(node_name)
            pods.append(pod)
            if pod["metadata"]["labels"].get("controller-revision-hash") != revision:
                outdated.append(pod)
        for pod in _replaceable(ds, outdated, pods, len(eligible)):
            store.remove("", "Pod", namespace, pod["metadata"]["name"])
            covered.discard(pod["spec"].get("nodeName"))
            pods.remove(pod)
        for node_name in sorted(eligible - covered):
            pod = pod_from_template(
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
            "updatedNumberScheduled": sum(
                1 for pod in pods if pod["metadata"]["labels"].get("controller-revision-hash") == revision
            ),
            "numberUnavailable": max(0, len(eligible) - ready),
            "observedGeneration": ds["metadata"].get("generation", 1),
        }
        save_status(
            store,
            "apps",
            ds,
            without_zeroes(status, ("numberAvailable", "updatedNumberScheduled", "numberUnavailable")),
        )


def _replaceable(
    ds: dict[str, Any], outdated: list[dict[str, Any]], pods: list[dict[str, Any]], desired: int
) -> list[dict[str, Any]]:
    """The outdated pods a RollingUpdate may delete now: unready ones at once, ready ones while fewer than
    maxUnavailable pods are unavailable (daemon/update.go rollingUpdate; maxSurge is approximated by the same
    budget, old pod first). OnDelete replaces none."""
    strategy = ds["spec"].get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return []
    rolling = strategy.get("rollingUpdate") or {}
    budget = max(
        _resolve_up(rolling.get("maxUnavailable", 1), desired), _resolve_up(rolling.get("maxSurge", 0), desired), 1
    )
    unavailable = sum(1 for pod in pods if not pod_is_ready(pod)) + max(0, desired - len(pods))
    chosen = [pod for pod in outdated if not pod_is_ready(pod)]
    for pod in sorted((p for p in outdated if pod_is_ready(p)), key=lambda p: p["spec"].get("nodeName") or ""):
        if unavailable >= budget:
            break
        chosen.append(pod)
        unavailable += 1
    return chosen


def _resolve_up(value: int | str, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return -(-int(value[:-1]) * total // 100)
    return int(value)
