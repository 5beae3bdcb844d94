"""How workload rollouts stand: complete, still progressing, or failing (a new pod crash-looping)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from eks_runbooks.core.kubernetes.rollouts import rollout_waiting_for
from eks_runbooks.core.pod_identity.estate import PodView, pod_view

if TYPE_CHECKING:
    from eks_runbooks.readers.cluster import KubernetesReader

COMPLETE = "complete"
FAILING = "failing"
WAITING = "waiting"
_API_VERSIONS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1"}


def workload_pods(kube: KubernetesReader, kind: str, namespace: str, name: str) -> list[PodView] | None:
    """The live pods of a workload (by its selector); None when the workload does not exist."""
    obj = _get(kube, kind, namespace, name)
    if obj is None:
        return None
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    nodes = {node["metadata"]["name"]: node for node in kube.list("v1", "Node")}
    # One list of every pod per reader, matched here: a wave looks at many workloads at once.
    return [
        pod_view(pod, nodes)
        for pod in kube.list("v1", "Pod")
        if pod["metadata"]["namespace"] == namespace
        and not pod["metadata"].get("deletionTimestamp")
        and all((pod["metadata"].get("labels") or {}).get(key) == value for key, value in labels.items())
    ]


def _get(kube: KubernetesReader, kind: str, namespace: str, name: str) -> dict | None:
    return next(
        (
            item
            for item in kube.list(_API_VERSIONS[kind], kind)
            if (item["metadata"]["namespace"], item["metadata"]["name"]) == (namespace, name)
        ),
        None,
    )


def rollout_states(kube: KubernetesReader, refs: Iterable[str]) -> dict[str, str]:
    """``Kind/namespace/name`` → ``complete``, ``failing: <what>`` or ``waiting: <what>``."""
    states = {}
    for ref in refs:
        kind, namespace, name = ref.split("/", 2)
        obj = _get(kube, kind, namespace, name)
        if obj is None:
            states[ref] = f"{WAITING}: {kind} {namespace}/{name} does not exist yet"
            continue
        pods = workload_pods(kube, kind, namespace, name) or []
        failing = [f"{pod.name} ({', '.join(pod.failing)})" for pod in pods if pod.failing]
        waiting = rollout_waiting_for(kind, obj)
        if failing and waiting:
            states[ref] = f"{FAILING}: crash-looping {', '.join(failing)}"
        elif waiting:
            states[ref] = f"{WAITING}: {waiting}"
        else:
            states[ref] = COMPLETE
    return states


def settled(state: str) -> bool:
    """A rollout that needs no more waiting: complete, or failing."""
    return state == COMPLETE or state.startswith(FAILING)
