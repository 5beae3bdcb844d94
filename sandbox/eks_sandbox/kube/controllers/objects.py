"""How the controllers read and write the objects they manage: owner references, pod templates, status.

Shared by every controller so that the objects they create and the status they report have one shape.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from eks_sandbox.kube.store import NAME_ALPHABET, ObjectStore, clone


def controller_ref(owner: dict[str, Any]) -> dict[str, Any]:
    """The ownerReference a controller puts on the objects it creates for ``owner``."""
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


def serialise_pod_conditions(conditions: list[dict[str, Any]]) -> None:
    """Shape pod conditions, in place, as a PodCondition is served: lastProbeTime is always there (null), while
    an empty reason and message are `omitempty`."""
    for condition in conditions:
        condition.setdefault("lastProbeTime", None)
        if not condition.get("reason"):
            condition.pop("reason", None)
            condition.pop("message", None)


def live_pods(store: ObjectStore, namespace: str | None = None) -> list[dict[str, Any]]:
    """Pods not marked for deletion."""
    return [pod for pod in store.all("", "Pod", namespace) if "deletionTimestamp" not in pod["metadata"]]


def save_status(store: ObjectStore, group: str, obj: dict[str, Any], status: dict[str, Any]) -> None:
    """Store ``obj`` with ``status`` as its new status."""
    # A shallow copy is enough: only status and the metadata the store stamps change.
    updated = {**obj, "metadata": dict(obj["metadata"]), "status": status}
    store.save(group, obj["kind"], updated)


def index_by_owner(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Objects by the uid of their controller, so each controller scans the pods once per pass."""
    index: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("controller"):
                index.setdefault(ref["uid"], []).append(obj)
    return index


def without_zeroes(status: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """``status`` without the ``keys`` whose value is 0."""
    # These status fields are `omitempty` in the Go types: a real apiserver never serialises their zero.
    return {k: v for k, v in status.items() if not (k in keys and v == 0)}


def pod_from_template(owner: dict[str, Any], template: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """A new pod of ``owner`` from its pod ``template``, with ``labels`` added to the template's."""
    template_metadata = template.get("metadata") or {}
    metadata: dict[str, Any] = {
        "namespace": owner["metadata"]["namespace"],
        "labels": {**(template_metadata.get("labels") or {}), **labels},
        "ownerReferences": [controller_ref(owner)],
    }
    if template_metadata.get("annotations"):
        metadata["annotations"] = dict(template_metadata["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": clone(template["spec"])}
