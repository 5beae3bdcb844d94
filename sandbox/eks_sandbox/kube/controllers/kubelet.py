"""The kubelets: bound pods run and report container status (there are no containers to wait for)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from eks_sandbox.kube.controllers.objects import live_pods, serialise_pod_conditions, set_condition
from eks_sandbox.kube.disruption import pod_is_ready
from eks_sandbox.kube.nodes import node_address
from eks_sandbox.kube.store import ObjectStore, clone

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster


def run_pods(cluster: KubeCluster) -> None:
    """The kubelets: a bound pod starts at once and turns Ready ``cluster.pod_startup`` later (there is no
    container: the delay stands for the image pull, the start and the first readiness probe)."""
    store = cluster.store
    for pod in live_pods(store):
        node = store.get("", "Node", None, pod["spec"].get("nodeName") or "")
        if node is None:
            continue
        status = pod.get("status") or {}
        if status.get("phase") not in (None, "Pending", "Running"):
            continue
        if not _volumes_bound(store, pod):
            continue  # the kubelet waits to mount the pod's claims (ContainerCreating)
        ready = _ready_yet(cluster, pod)
        containers = pod["spec"].get("containers") or []
        reported = [(c.get("name"), c.get("image")) for c in status.get("containerStatuses") or []]
        current = reported == [(c["name"], c["image"]) for c in containers]
        if status.get("phase") == "Running" and current and pod_is_ready(pod) == ready:
            continue
        _start_pod(store, pod, node, ready)


def _ready_yet(cluster: KubeCluster, pod: dict[str, Any]) -> bool:
    """Whether the pod has finished starting; the first time a pod is seen, its start-up is scheduled."""
    if pod_is_ready(pod) or not cluster.pod_startup:
        # Ready stays Ready (``settle`` may have run a pod's start-up ahead of the clock).
        return True
    uid = pod["metadata"]["uid"]
    ready_at = cluster.pod_ready_at.get(uid)
    if ready_at is None:
        # Whole simulated seconds: pods started by one request share one wake-up.
        ready_at = (cluster.now() + cluster.pod_startup + timedelta(seconds=1)).replace(microsecond=0)
        cluster.pod_ready_at[uid] = ready_at
        cluster.wake_at(ready_at)
    if ready_at > cluster.now():
        return False
    del cluster.pod_ready_at[uid]
    return True


def _volumes_bound(store: ObjectStore, pod: dict[str, Any]) -> bool:
    for volume in pod["spec"].get("volumes") or []:
        claim_name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim_name is None:
            continue
        claim = store.get("", "PersistentVolumeClaim", pod["metadata"]["namespace"], claim_name)
        if claim is None or (claim.get("status") or {}).get("phase") != "Bound":
            return False
    return True


def _start_pod(store: ObjectStore, pod: dict[str, Any], node: dict[str, Any], ready: bool) -> None:
    now = store.now()
    updated = clone(pod)
    status = updated.setdefault("status", {})
    previous = {c["name"]: c for c in status.get("containerStatuses") or []}
    conditions = status.get("conditions") or []
    for kind in ("PodReadyToStartContainers", "Initialized", "PodScheduled"):
        conditions = set_condition(conditions, kind, "True", "", "", now)
    names = " ".join(c["name"] for c in pod["spec"].get("containers") or [])
    for kind in ("Ready", "ContainersReady"):
        if ready:
            conditions = set_condition(conditions, kind, "True", "", "", now)
        else:
            # What the kubelet reports until the readiness probes pass (status.generateContainersReadyCondition).
            conditions = set_condition(
                conditions, kind, "False", "ContainersNotReady", f"containers with unready status: [{names}]", now
            )
    serialise_pod_conditions(conditions)
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
                "ready": ready,
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
