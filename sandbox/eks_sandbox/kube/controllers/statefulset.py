"""The StatefulSet controller: pods with stable names ``<name>-<ordinal>``, replaced on a new template."""

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
from eks_sandbox.kube.controllers.volumes import admit_claim
from eks_sandbox.kube.disruption import pod_is_ready
from eks_sandbox.kube.store import clone

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster


def sync_stateful_sets(cluster: KubeCluster) -> None:
    """StatefulSet → pods ``<name>-0 .. <name>-(n-1)``; pods of an older template revision are replaced."""
    store = cluster.store
    owned = index_by_owner(live_pods(store))
    for sts in store.all("apps", "StatefulSet"):
        namespace, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        revision = f"{name}-{template_hash(sts['spec']['template'])}"
        replicas = sts["spec"].get("replicas", 1)
        on_delete = (sts["spec"].get("updateStrategy") or {}).get("type") == "OnDelete"
        pods = {pod["metadata"]["name"]: pod for pod in owned.get(sts["metadata"]["uid"], [])}
        for pod_name in pods:
            ordinal = pod_name.rsplit("-", 1)[-1]
            if not ordinal.isdigit() or int(ordinal) >= replicas:
                store.remove("", "Pod", namespace, pod_name)
        if not on_delete:
            _replace_one_outdated(store, sts, revision, replicas)
        for ordinal in range(replicas):
            pod_name = f"{name}-{ordinal}"
            if store.get("", "Pod", namespace, pod_name) is None:
                pod = pod_from_template(
                    sts,
                    sts["spec"]["template"],
                    {
                        "controller-revision-hash": revision,
                        "statefulset.kubernetes.io/pod-name": pod_name,
                        "apps.kubernetes.io/pod-index": str(ordinal),
                    },
                )
                pod["metadata"]["name"] = pod_name
                _claim_volumes(cluster, sts, pod, ordinal)
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
        # The current revision stays the old one until every pod runs the update (stateful_set_control.go).
        previous = (sts.get("status") or {}).get("currentRevision") or revision
        current = revision if updated == replicas == len(pods_now) else previous
        status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods_now),
            "readyReplicas": ready,
            "currentReplicas": sum(
                1 for pod in pods_now if pod["metadata"]["labels"].get("controller-revision-hash") == current
            ),
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "currentRevision": current,
            "updateRevision": revision,
            "collisionCount": 0,
        }
        save_status(store, "apps", sts, without_zeroes(status, ("readyReplicas", "currentReplicas", "updatedReplicas")))


def _claim_volumes(cluster: KubeCluster, sts: dict[str, Any], pod: dict[str, Any], ordinal: int) -> None:
    """volumeClaimTemplates: claim ``<template>-<set>-<ordinal>`` is created once (and kept, as the default
    Retain retention policy does) and mounted by the pod of that ordinal under the template's name."""
    namespace, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
    volumes = pod["spec"].setdefault("volumes", [])
    for template in sts["spec"].get("volumeClaimTemplates") or []:
        template_name = template["metadata"]["name"]
        claim_name = f"{template_name}-{name}-{ordinal}"
        if cluster.store.get("", "PersistentVolumeClaim", namespace, claim_name) is None:
            labels = {**(template["metadata"].get("labels") or {}), **sts["spec"]["selector"].get("matchLabels", {})}
            claim = {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim_name, "namespace": namespace, "labels": labels},
                "spec": clone(template.get("spec") or {}),
            }
            admit_claim(cluster.store, claim)
            cluster.store.insert("", "PersistentVolumeClaim", claim)
        volumes[:] = [v for v in volumes if v.get("name") != template_name]
        volumes.append({"name": template_name, "persistentVolumeClaim": {"claimName": claim_name}})


def _replace_one_outdated(store: Any, sts: dict[str, Any], revision: str, replicas: int) -> None:
    """RollingUpdate: the highest-ordinal outdated pod at or above the partition goes, and only while every pod
    is there and Ready — one pod at a time, as the StatefulSet controller rolls."""
    namespace, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
    partition = ((sts["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
    pods = [store.get("", "Pod", namespace, f"{name}-{ordinal}") for ordinal in range(replicas)]
    if any(pod is None or not pod_is_ready(pod) for pod in pods):
        return
    for ordinal in reversed(range(partition, replicas)):
        pod = pods[ordinal]
        if pod["metadata"]["labels"].get("controller-revision-hash") != revision:
            store.remove("", "Pod", namespace, pod["metadata"]["name"])
            return
