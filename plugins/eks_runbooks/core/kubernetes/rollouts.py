"""Whether a rollout has finished, by the rules ``kubectl rollout status`` applies (kubectl
``pkg/polymorphichelpers/rollout_status.go``), on objects as the Kubernetes API serves them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def _deployment(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str | None:
    wanted, updated = spec.get("replicas", 1), status.get("updatedReplicas") or 0
    if updated < wanted:
        return f"{updated} of {wanted} replicas updated"
    if (status.get("replicas") or 0) > updated:
        return f"{(status.get('replicas') or 0) - updated} old replicas pending termination"
    if (status.get("availableReplicas") or 0) < updated:
        return f"{status.get('availableReplicas') or 0} of {updated} updated replicas available"
    return None


def _stateful_set(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str | None:
    wanted = spec.get("replicas", 1)
    if (status.get("readyReplicas") or 0) < wanted:
        return f"{status.get('readyReplicas') or 0} of {wanted} pods ready"
    if status.get("updateRevision") != status.get("currentRevision"):
        return f"{status.get('updatedReplicas') or 0} of {wanted} pods updated"
    return None


def _daemon_set(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str | None:
    wanted = status.get("desiredNumberScheduled") or 0
    if (status.get("updatedNumberScheduled") or 0) < wanted:
        return f"{status.get('updatedNumberScheduled') or 0} of {wanted} daemon pods updated"
    if (status.get("numberAvailable") or 0) < wanted:
        return f"{status.get('numberAvailable') or 0} of {wanted} updated daemon pods available"
    return None


_RULES: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], str | None]] = {
    "Deployment": _deployment,
    "StatefulSet": _stateful_set,
    "DaemonSet": _daemon_set,
}


def rollout_waiting_for(kind: str, obj: Mapping[str, Any]) -> str | None:
    """What the rollout of a Deployment, StatefulSet or DaemonSet still waits for; None when it is complete."""
    if kind not in _RULES:
        raise ValueError(f"{kind} has no rollout to wait for")
    status = obj.get("status") or {}
    if (status.get("observedGeneration") or 0) < (obj.get("metadata") or {}).get("generation", 0):
        return "the controller has not seen the latest spec yet"
    return _RULES[kind](obj.get("spec") or {}, status)
