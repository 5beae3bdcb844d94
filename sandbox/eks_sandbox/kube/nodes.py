"""What a node looks like and which pods may run on it (readiness, taints and tolerations, nodeSelector).

Nodes are registered by the simulated managed node groups; their shape follows what the kubelet of an EKS
AL2023 node reports, so that runbooks read kubelet versions, provider ids and conditions where they really are.
"""

from __future__ import annotations

import hashlib
from typing import Any

#: The taint the node lifecycle controller keeps in step with ``spec.unschedulable`` (kubectl cordon).
UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"


def build_node(
    name: str,
    *,
    labels: dict[str, str],
    kubelet_version: str,
    capacity: dict[str, str],
    provider_id: str,
    taints: list[dict[str, Any]] | None,
    internal_ip: str,
    now: str,
) -> dict[str, Any]:
    """A Ready, schedulable Node as the kubelet registers it."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    architecture = labels.get("kubernetes.io/arch", "amd64")
    operating_system = labels.get(OS_LABEL, "linux")
    node_labels = {
        "kubernetes.io/hostname": name,
        OS_LABEL: operating_system,
        "kubernetes.io/arch": architecture,
        "beta.kubernetes.io/os": operating_system,
        "beta.kubernetes.io/arch": architecture,
        **labels,
    }
    spec: dict[str, Any] = {"providerID": provider_id}
    if taints:
        spec["taints"] = [dict(taint) for taint in taints]
    conditions = [
        _condition(
            "MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", now
        ),
        _condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now),
        _condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", now),
        _condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now),
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": node_labels,
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": spec,
        "status": {
            "capacity": dict(capacity),
            "allocatable": dict(capacity),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": internal_ip},
                {"type": "InternalDNS", "address": name},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": digest[:32],
                "systemUUID": f"ec2{digest[3:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}",
                "bootID": f"{digest[32:40]}-{digest[40:44]}-{digest[44:48]}-{digest[48:52]}-{digest[52:64]}",
                **_os_info(operating_system, labels),
                "containerRuntimeVersion": "containerd://1.7.27",
                "kubeletVersion": kubelet_version,
                "kubeProxyVersion": kubelet_version,
                "operatingSystem": operating_system,
                "architecture": architecture,
            },
            "images": [],
        },
    }


#: The taint the node lifecycle controller puts on a node whose Ready condition is not True (TaintNodesByCondition).
NOT_READY_TAINT_KEY = "node.kubernetes.io/not-ready"
#: What the kubelet reports while the container runtime says its network plugin is not ready (kubelet
#: pkg/kubelet/nodestatus ReadyCondition over containerd's CRI NetworkReady; the EKS troubleshooting page
#: "Nodes fail to join cluster" quotes it).
NETWORK_NOT_READY_MESSAGE = (
    "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin "
    "returns error: cni plugin not initialized"
)


def set_network_not_ready(node: dict[str, Any], now: str) -> None:
    """Make ``node`` (being registered) NotReady as its kubelet reports a missing CNI, with the not-ready taint."""
    conditions = node["status"]["conditions"]
    conditions[:] = [c for c in conditions if c["type"] != "Ready"]
    conditions.append(_condition("Ready", "False", "KubeletNotReady", NETWORK_NOT_READY_MESSAGE, now))
    taints = node["spec"].setdefault("taints", [])
    taints.append({"key": NOT_READY_TAINT_KEY, "effect": "NoSchedule", "timeAdded": now})


def waits_for_network(node: dict[str, Any]) -> bool:
    """Whether ``node`` is NotReady only because its container network is not ready yet."""
    return any(
        c.get("type") == "Ready" and c.get("status") != "True" and "NetworkPluginNotReady" in (c.get("message") or "")
        for c in node.get("status", {}).get("conditions") or []
    )


def set_network_ready(node: dict[str, Any], now: str) -> None:
    """The CNI is up: the kubelet reports Ready and the node lifecycle controller lifts the not-ready taint."""
    conditions = node["status"]["conditions"]
    conditions[:] = [c for c in conditions if c["type"] != "Ready"]
    conditions.append(_condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now))
    taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != NOT_READY_TAINT_KEY]
    if taints:
        node["spec"]["taints"] = taints
    else:
        node["spec"].pop("taints", None)


def _os_info(operating_system: str, labels: dict[str, str]) -> dict[str, str]:
    """nodeInfo's kernel and OS image: an AL2023 node's, or a Windows Server node's (its build is the kernel
    version the kubelet reports, ``10.0.17763.<revision>`` on Windows Server 2019)."""
    if operating_system == "windows":
        build = labels.get("node.kubernetes.io/windows-build", "10.0.17763")
        return {"kernelVersion": f"{build}.6893", "osImage": "Windows Server Datacenter"}
    return {"kernelVersion": "6.1.132-147.221.amzn2023.x86_64", "osImage": "Amazon Linux 2023.7.20250428"}


def _condition(kind: str, status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def internal_ip_from_name(name: str) -> str | None:
    """EC2 private DNS names carry the address: ``ip-10-0-1-23.ec2.internal`` → ``10.0.1.23``."""
    head = name.split(".")[0]
    parts = head.split("-")
    if len(parts) == 5 and parts[0] == "ip" and all(part.isdigit() for part in parts[1:]):
        return ".".join(parts[1:])
    return None


def is_ready(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in node.get("status", {}).get("conditions") or []
    )


def node_address(node: dict[str, Any]) -> str:
    addresses = node.get("status", {}).get("addresses") or []
    return next((a["address"] for a in addresses if a.get("type") == "InternalIP"), "")


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    """Whether one of ``tolerations`` tolerates ``taint`` (k8s.io/api core/v1 Toleration.ToleratesTaint)."""
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and (toleration.get("value") or "") == (
            taint.get("value") or ""
        ):
            return True
    return False


#: The label EKS puts on Fargate (and Auto Mode, hybrid) nodes [UG fargate-pod-configuration].
COMPUTE_TYPE_LABEL = "eks.amazonaws.com/compute-type"
OS_LABEL = "kubernetes.io/os"


def selects_windows(pod_spec: dict[str, Any]) -> bool:
    """Whether a pod asks for a Windows node: ``spec.os.name``, a nodeSelector or a required node affinity."""
    if (pod_spec.get("os") or {}).get("name") == "windows":
        return True
    if (pod_spec.get("nodeSelector") or {}).get(OS_LABEL) == "windows":
        return True
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    return any(
        e.get("key") == OS_LABEL and e.get("operator") == "In" and "windows" in (e.get("values") or [])
        for term in required.get("nodeSelectorTerms") or []
        for e in term.get("matchExpressions") or []
    )


def admits(node: dict[str, Any], pod_spec: dict[str, Any]) -> bool:
    """Whether the scheduler (or the DaemonSet controller) may place a pod with ``pod_spec`` on ``node``:
    nodeSelector, required node affinity and NoSchedule taints.

    Two simplifications, both documented in docs/sandbox.md: a Fargate node takes no pod this way (the Fargate
    scheduler binds its one pod itself; DaemonSets do not run on Fargate [UG fargate]), and a Windows node only
    takes pods that select Windows — on EKS a Linux pod without an OS selector can be bound there and then fails
    to pull its image, which is why EKS asks Linux workloads to select ``kubernetes.io/os: linux``
    [UG windows-support]."""
    labels = node["metadata"].get("labels") or {}
    if labels.get(COMPUTE_TYPE_LABEL) == "fargate":
        return False
    if labels.get(OS_LABEL) == "windows" and not selects_windows(pod_spec):
        return False
    if any(labels.get(key) != value for key, value in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    if not _required_affinity_admits(node, pod_spec):
        return False
    tolerations = pod_spec.get("tolerations") or []
    taints = list(node.get("spec", {}).get("taints") or [])
    if node.get("spec", {}).get("unschedulable") and not any(t.get("key") == UNSCHEDULABLE_TAINT_KEY for t in taints):
        taints.append({"key": UNSCHEDULABLE_TAINT_KEY, "effect": "NoSchedule"})
    return all(
        taint.get("effect") not in ("NoSchedule", "NoExecute") or tolerates(tolerations, taint) for taint in taints
    )


def _required_affinity_admits(node: dict[str, Any], pod_spec: dict[str, Any]) -> bool:
    """requiredDuringSchedulingIgnoredDuringExecution: any term matches when all of its expressions do."""
    node_affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return True
    labels = node["metadata"].get("labels") or {}
    fields = {"metadata.name": node["metadata"]["name"]}
    return any(
        all(_expression_matches(e, labels) for e in term.get("matchExpressions") or [])
        and all(_expression_matches(e, fields) for e in term.get("matchFields") or [])
        for term in required.get("nodeSelectorTerms") or []
    )


def _expression_matches(expression: dict[str, Any], values: dict[str, str]) -> bool:
    key, operator, wanted = expression["key"], expression["operator"], expression.get("values") or []
    if operator == "In":
        return values.get(key) in wanted
    if operator == "NotIn":
        return values.get(key) not in wanted
    if operator == "Exists":
        return key in values
    if operator == "DoesNotExist":
        return key not in values
    if operator in ("Gt", "Lt") and values.get(key, "").lstrip("-").isdigit():
        actual, bound = int(values[key]), int(wanted[0])
        return actual > bound if operator == "Gt" else actual < bound
    return False
