"""The kubelets: bound pods run and report container status (there are no containers to wait for)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eks_sandbox.kube.controllers.objects import live_pods, serialise_pod_conditions, set_condition
from eks_sandbox.kube.credentials import ContainerRun, Credentials, back_off, go_duration
from eks_sandbox.kube.disruption import pod_is_ready
from eks_sandbox.kube.nodes import node_address
from eks_sandbox.kube.pod_addresses import PodAddresses
from eks_sandbox.kube.store import ObjectStore, clone

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster


def run_pods(cluster: KubeCluster) -> None:
    """The kubelets: a bound pod starts at once and turns Ready ``cluster.pod_startup`` later (there is no
    container: the delay stands for the image pull, the start and the first readiness probe). A container whose
    AWS SDK would get no credentials crash-loops instead (``eks_sandbox.kube.credentials``)."""
    store = cluster.store
    addresses = PodAddresses(cluster)
    live: set[str] = set()
    for pod in live_pods(store):
        live.add(pod["metadata"]["uid"])
        node = store.get("", "Node", None, pod["spec"].get("nodeName") or "")
        if node is None:
            continue
        status = pod.get("status") or {}
        if status.get("phase") not in (None, "Pending", "Running"):
            continue
        if not _volumes_bound(store, pod):
            continue  # the kubelet waits to mount the pod's claims (ContainerCreating)
        statuses = [_container_status(cluster, pod, container) for container in pod["spec"].get("containers") or []]
        ready = _ready_yet(cluster, pod) if all("running" in s["state"] for s in statuses) else _not_ready(cluster, pod)
        for container_status in statuses:
            container_status["ready"] = ready and "running" in container_status["state"]
        if (
            status.get("phase") == "Running"
            and status.get("containerStatuses") == statuses
            and pod_is_ready(pod) == ready
        ):
            continue
        pod_ip = status.get("podIP") or addresses.for_pod(pod, node)
        if pod_ip is None:
            continue  # no address left in the node's subnet: the CNI cannot set the pod up (ContainerCreating)
        _start_pod(store, pod, node, pod_ip, ready, statuses)
    for key in [key for key in cluster.container_runs if key[0] not in live]:
        del cluster.container_runs[key]


def _not_ready(cluster: KubeCluster, pod: dict[str, Any]) -> bool:
    """A pod with a container down: not Ready, and its start-up counts again from the next successful start."""
    cluster.pod_ready_at.pop(pod["metadata"]["uid"], None)
    return False


def _container_status(cluster: KubeCluster, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """What the container reports now: started (or restarted) when new, due to restart, or due to refresh its
    credentials; otherwise what it reported before."""
    uid = pod["metadata"]["uid"]
    run = cluster.container_runs.setdefault((uid, container["name"]), ContainerRun())
    old = next(
        (c for c in (pod.get("status") or {}).get("containerStatuses") or [] if c["name"] == container["name"]), None
    )
    now = cluster.now()
    if old is None or old.get("image") != container["image"]:
        # a new container, or a new image: (re)started [an image change restarts the container in place]
        count = old.get("restartCount", 0) + 1 if old else 0
        return _start(cluster, pod, container, run, count, {})
    state = old["state"]
    if "waiting" in state and run.restart_at is not None and now >= run.restart_at:
        return _start(cluster, pod, container, run, old["restartCount"] + 1, old.get("lastState") or {})
    if "running" in state and run.refresh_at is not None and now >= run.refresh_at:
        return _refresh(cluster, pod, container, run, old)
    return clone(old)


def _start(
    cluster: KubeCluster,
    pod: dict[str, Any],
    container: dict[str, Any],
    run: ContainerRun,
    restart_count: int,
    last_state: dict[str, Any],
) -> dict[str, Any]:
    now = cluster.store.now()
    credentials = _credentials(cluster, pod, container)
    base = _base_status(pod, container, now, restart_count)
    if credentials is not None and not credentials.granted:
        return _crashed(cluster, pod, run, base, credentials, started_at=now)
    run.failures, run.restart_at = 0, None
    run.log = []
    if credentials is not None:
        run.log = [
            f"{now} container {container['name']} of pod {pod['metadata']['name']} started",
            f"{now} {credentials.log}",
        ]
        _schedule_refresh(cluster, run, credentials)
    return {**base, "ready": False, "started": True, "state": {"running": {"startedAt": now}}, "lastState": last_state}


def _refresh(
    cluster: KubeCluster, pod: dict[str, Any], container: dict[str, Any], run: ContainerRun, old: dict[str, Any]
) -> dict[str, Any]:
    """The SDK of a running container fetches credentials again: the same rules decide, and a refusal kills it."""
    credentials = _credentials(cluster, pod, container)
    if credentials is None or credentials.granted:
        if credentials is not None:
            _schedule_refresh(cluster, run, credentials)
        return clone(old)
    base = {key: old[key] for key in ("name", "image", "imageID", "containerID", "restartCount")}
    return _crashed(cluster, pod, run, base, credentials, started_at=old["state"]["running"]["startedAt"])


def _schedule_refresh(cluster: KubeCluster, run: ContainerRun, credentials: Credentials) -> None:
    if credentials.refresh_after is None:
        run.refresh_at = None
        return
    run.refresh_at = _whole_second(cluster.now() + credentials.refresh_after)
    cluster.wake_at(run.refresh_at, clock_bound=True)


def _crashed(
    cluster: KubeCluster,
    pod: dict[str, Any],
    run: ContainerRun,
    base: dict[str, Any],
    credentials: Credentials,
    started_at: str,
) -> dict[str, Any]:
    """The container exited 1 on AccessDenied; it waits out its back-off (restartPolicy Never: it stays down)."""
    now = cluster.store.now()
    terminated = {
        "exitCode": 1,
        "reason": "Error",
        "startedAt": started_at,
        "finishedAt": now,
        "containerID": base["containerID"],
    }
    run.failures += 1
    run.refresh_at = None
    run.log = [
        f"{started_at} container {base['name']} of pod {pod['metadata']['name']} started",
        f"{now} {credentials.log}",
    ]
    if pod["spec"].get("restartPolicy") == "Never":
        run.restart_at = None
        return {**base, "ready": False, "started": False, "state": {"terminated": terminated}, "lastState": {}}
    delay = back_off(run.failures)
    run.restart_at = _whole_second(cluster.now() + delay)
    cluster.wake_at(run.restart_at, clock_bound=True)
    metadata = pod["metadata"]
    message = (
        f"back-off {go_duration(delay)} restarting failed container={base['name']} "
        f"pod={metadata['name']}_{metadata['namespace']}({metadata['uid']})"
    )
    return {
        **base,
        "ready": False,
        "started": False,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": message}},
        "lastState": {"terminated": terminated},
    }


def _credentials(cluster: KubeCluster, pod: dict[str, Any], container: dict[str, Any]) -> Credentials | None:
    check = cluster.container_credentials
    return check(cluster, pod, container) if check is not None else None


def _base_status(pod: dict[str, Any], container: dict[str, Any], started_at: str, restart_count: int) -> dict[str, Any]:
    image = container["image"]
    return {
        "name": container["name"],
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
        "containerID": "containerd://"
        + hashlib.sha256(
            f"{pod['metadata']['uid']}/{container['name']}/{started_at}/{restart_count}".encode()
        ).hexdigest(),
        "restartCount": restart_count,
    }


def _whole_second(at: datetime) -> datetime:
    # Whole simulated seconds: containers failing together share one wake-up.
    return at if not at.microsecond else at.replace(microsecond=0) + timedelta(seconds=1)


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


def _start_pod(
    store: ObjectStore,
    pod: dict[str, Any],
    node: dict[str, Any],
    pod_ip: str,
    ready: bool,
    container_statuses: list[dict[str, Any]],
) -> None:
    now = store.now()
    updated = clone(pod)
    status = updated.setdefault("status", {})
    conditions = status.get("conditions") or []
    for kind in ("PodReadyToStartContainers", "Initialized", "PodScheduled"):
        conditions = set_condition(conditions, kind, "True", "", "", now)
    names = " ".join(c["name"] for c in container_statuses if not c["ready"])
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
    # restartPolicy Never: a container that exited on an error fails the pod
    failed = any("terminated" in c["state"] for c in container_statuses)
    status.update(
        {
            "phase": "Failed" if failed else "Running",
            "conditions": conditions,
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
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
