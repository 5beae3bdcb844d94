"""The only Kubernetes writes a runbook makes: a rollout restart, and a service account's IRSA annotation.

They sit beside the readers because the Kubernetes client (``readers.kube_client``) does: one place holds every
use of it. Each write is a merge patch of what ``kubectl rollout restart`` or ``kubectl annotate`` would change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

#: The annotation ``kubectl rollout restart`` sets on the pod template.
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_APPS = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}


def restart_workload(api_client: Any, ref: str, marks: dict[str, str]) -> None:
    """``kubectl rollout restart`` of ``Kind/namespace/name``, plus ``marks`` on the pod template."""
    from kubernetes.client import AppsV1Api

    kind, namespace, name = ref.split("/", 2)
    annotations = {RESTARTED_AT: datetime.now(UTC).isoformat(timespec="seconds"), **marks}
    patch = {"spec": {"template": {"metadata": {"annotations": annotations}}}}
    getattr(AppsV1Api(api_client), f"patch_namespaced_{_APPS[kind]}")(name, namespace, patch)


def set_service_account_annotation(api_client: Any, namespace: str, name: str, key: str, value: str | None) -> bool:
    """Set (or, with None, remove) one annotation of a service account; False when it already was so."""
    from kubernetes.client import CoreV1Api

    core = CoreV1Api(api_client)
    current = (core.read_namespaced_service_account(name, namespace).metadata.annotations or {}).get(key)
    if current == value:
        return False
    core.patch_namespaced_service_account(name, namespace, {"metadata": {"annotations": {key: value}}})
    return True
