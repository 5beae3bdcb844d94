"""Server-side printing: the ``meta.k8s.io/v1`` Table that ``kubectl get`` asks for (``Accept: ...;as=Table``).

kubectl no longer knows how to print built-in kinds itself; the apiserver sends the columns. The columns here
are those of pkg/printers/internalversion for the kinds runbooks and operators look at, and NAME/AGE for
the rest; the storage, PriorityClass, CertificateSigningRequest and EndpointSlice columns follow that file as
of Kubernetes 1.32/1.33, less the columns the cluster's minor did not print yet (``_SINCE``). Ages are measured
on the simulated clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

Row = list[Any]
Columns = list[tuple[str, str, int]]  # (name, type, priority); priority 1 columns show with -o wide


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def build_table(
    kind: str,
    objects: list[dict[str, Any]],
    now: datetime,
    resource_version: str,
    include_object: str = "Metadata",
    minor: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """A Table of ``objects``, as a cluster at ``minor`` prints them (None: the newest columns); each row carries
    the object (or its metadata) so kubectl can add NAMESPACE."""
    all_columns, cells_of = PRINTERS.get(kind, (_NAME_AGE, _name_age_cells))
    since = _SINCE.get(kind, {})
    shown = [i for i, (name, _, _) in enumerate(all_columns) if minor is None or since.get(name, (0, 0)) <= minor]
    columns = [all_columns[i] for i in shown]
    rows = []
    for obj in objects:
        cells = cells_of(obj, now)
        row: dict[str, Any] = {"cells": [cells[i] for i in shown]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": kind_,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": priority,
            }
            for name, kind_, priority in columns
        ],
        "rows": rows,
    }


_MINUTE, _HOUR, _DAY, _YEAR = 60, 60 * 60, 24 * 60 * 60, 365 * 24 * 60 * 60

#: (ages below, main unit, finer unit or None): HumanDuration's tiers. Below a tier's bound the age prints in
#: the main unit, followed by the finer unit's remainder where that tier has one and it is not zero.
_DURATION_TIERS: tuple[tuple[float, tuple[int, str], tuple[int, str] | None], ...] = (
    (2 * _MINUTE, (1, "s"), None),
    (10 * _MINUTE, (_MINUTE, "m"), (1, "s")),
    (3 * _HOUR, (_MINUTE, "m"), None),
    (8 * _HOUR, (_HOUR, "h"), (_MINUTE, "m")),
    (2 * _DAY, (_HOUR, "h"), None),
    (8 * _DAY, (_DAY, "d"), (_HOUR, "h")),
    (2 * _YEAR, (_DAY, "d"), None),
    (8 * _YEAR, (_YEAR, "y"), (_DAY, "d")),
    (math.inf, (_YEAR, "y"), None),
)


def human_duration(seconds: float) -> str:
    """Ages as kubectl prints them (k8s.io/apimachinery/pkg/util/duration.HumanDuration)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    _, (size, unit), finer = next(tier for tier in _DURATION_TIERS if s < tier[0])
    whole, rest = divmod(s, size)
    if finer is None or rest < finer[0]:
        return f"{whole}{unit}"
    finer_size, finer_unit = finer
    return f"{whole}{unit}{rest // finer_size}{finer_unit}"


def _age(obj: dict[str, Any], now: datetime) -> str:
    created = obj["metadata"].get("creationTimestamp")
    if not created:
        return "<unknown>"
    return human_duration((now - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds())


_NAME_AGE: Columns = [("Name", "string", 0), ("Age", "string", 0)]


def _name_age_cells(obj: dict[str, Any], now: datetime) -> Row:
    return [obj["metadata"]["name"], _age(obj, now)]


_NODE: Columns = [
    ("Name", "string", 0),
    ("Status", "string", 0),
    ("Roles", "string", 0),
    ("Age", "string", 0),
    ("Version", "string", 0),
    ("Internal-IP", "string", 1),
    ("External-IP", "string", 1),
    ("OS-Image", "string", 1),
    ("Kernel-Version", "string", 1),
    ("Container-Runtime", "string", 1),
]


def _node_cells(node: dict[str, Any], now: datetime) -> Row:
    status = node.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    state = "Ready" if ready else "NotReady"
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    roles = sorted(key[len(prefix) :] for key in node["metadata"].get("labels") or {} if key.startswith(prefix))
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        node["metadata"]["name"],
        state,
        ",".join(roles) or "<none>",
        _age(node, now),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP", "<none>"),
        addresses.get("ExternalIP", "<none>"),
        info.get("osImage", ""),
        info.get("kernelVersion", ""),
        info.get("containerRuntimeVersion", ""),
    ]


_POD: Columns = [
    ("Name", "string", 0),
    ("Ready", "string", 0),
    ("Status", "string", 0),
    ("Restarts", "string", 0),
    ("Age", "string", 0),
    ("IP", "string", 1),
    ("Node", "string", 1),
    ("Nominated Node", "string", 1),
    ("Readiness Gates", "string", 1),
]


def _pod_cells(pod: dict[str, Any], now: datetime) -> Row:
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    total = len((pod.get("spec") or {}).get("containers") or [])
    phase = (
        "Terminating"
        if pod["metadata"].get("deletionTimestamp")
        else status.get("reason") or status.get("phase", "Pending")
    )
    restarts = sum(c.get("restartCount", 0) for c in containers)
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        phase,
        str(restarts),
        _age(pod, now),
        status.get("podIP", "<none>"),
        (pod.get("spec") or {}).get("nodeName", "<none>"),
        "<none>",
        "<none>",
    ]


_DEPLOYMENT: Columns = [
    ("Name", "string", 0),
    ("Ready", "string", 0),
    ("Up-to-date", "string", 0),
    ("Available", "string", 0),
    ("Age", "string", 0),
    ("Containers", "string", 1),
    ("Images", "string", 1),
]


def _deployment_cells(deployment: dict[str, Any], now: datetime) -> Row:
    status = deployment.get("status") or {}
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    return [
        deployment["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{deployment['spec'].get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(deployment, now),
        ",".join(c["name"] for c in containers),
        ",".join(c["image"] for c in containers),
    ]


_DAEMONSET: Columns = [
    ("Name", "string", 0),
    ("Desired", "integer", 0),
    ("Current", "integer", 0),
    ("Ready", "integer", 0),
    ("Up-to-date", "integer", 0),
    ("Available", "integer", 0),
    ("Node Selector", "string", 0),
    ("Age", "string", 0),
]


def _daemonset_cells(ds: dict[str, Any], now: datetime) -> Row:
    status = ds.get("status") or {}
    selector = ds["spec"]["template"]["spec"].get("nodeSelector") or {}
    return [
        ds["metadata"]["name"],
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in selector.items()) or "<none>",
        _age(ds, now),
    ]


_NAMESPACE: Columns = [("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)]


def _namespace_cells(namespace: dict[str, Any], now: datetime) -> Row:
    return [namespace["metadata"]["name"], (namespace.get("status") or {}).get("phase", "Active"), _age(namespace, now)]


_REPLICASET: Columns = [
    ("Name", "string", 0),
    ("Desired", "integer", 0),
    ("Current", "integer", 0),
    ("Ready", "integer", 0),
    ("Age", "string", 0),
]


def _replicaset_cells(rs: dict[str, Any], now: datetime) -> Row:
    status = rs.get("status") or {}
    return [
        rs["metadata"]["name"],
        rs["spec"].get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(rs, now),
    ]


_STATEFULSET: Columns = [("Name", "string", 0), ("Ready", "string", 0), ("Age", "string", 0)]


def _statefulset_cells(sts: dict[str, Any], now: datetime) -> Row:
    ready = (sts.get("status") or {}).get("readyReplicas", 0)
    return [sts["metadata"]["name"], f"{ready}/{sts['spec'].get('replicas', 1)}", _age(sts, now)]


_SERVICE: Columns = [
    ("Name", "string", 0),
    ("Type", "string", 0),
    ("Cluster-IP", "string", 0),
    ("External-IP", "string", 0),
    ("Port(s)", "string", 0),
    ("Age", "string", 0),
]


def _service_cells(service: dict[str, Any], now: datetime) -> Row:
    spec = service.get("spec") or {}
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("hostname") or i.get("ip", "") for i in ingress) or (
        "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    )
    ports = (
        ",".join(
            f"{p['port']}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
            for p in spec.get("ports") or []
        )
        or "<none>"
    )
    return [
        service["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP", "<none>"),
        external,
        ports,
        _age(service, now),
    ]


_PDB: Columns = [
    ("Name", "string", 0),
    ("Min Available", "string", 0),
    ("Max Unavailable", "string", 0),
    ("Allowed Disruptions", "integer", 0),
    ("Age", "string", 0),
]


def _pdb_cells(pdb: dict[str, Any], now: datetime) -> Row:
    spec = pdb.get("spec") or {}
    return [
        pdb["metadata"]["name"],
        str(spec.get("minAvailable", "N/A")),
        str(spec.get("maxUnavailable", "N/A")),
        (pdb.get("status") or {}).get("disruptionsAllowed", 0),
        _age(pdb, now),
    ]


#: The PersistentVolume access modes in the order and short forms kubectl prints them
#: (pkg/apis/core/helper GetAccessModesAsString).
_ACCESS_MODES = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)
#: The annotation that named a volume's or claim's class before ``storageClassName``; it still wins.
_BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def _access_modes(modes: list[str] | None) -> str:
    return ",".join(short for mode, short in _ACCESS_MODES if mode in (modes or []))


def _storage_class(obj: dict[str, Any]) -> str:
    annotations = obj["metadata"].get("annotations") or {}
    return annotations.get(_BETA_CLASS_ANNOTATION) or (obj.get("spec") or {}).get("storageClassName") or ""


def _phase(obj: dict[str, Any]) -> str:
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    return (obj.get("status") or {}).get("phase", "")


_PV: Columns = [
    ("Name", "string", 0),
    ("Capacity", "string", 0),
    ("Access Modes", "string", 0),
    ("Reclaim Policy", "string", 0),
    ("Status", "string", 0),
    ("Claim", "string", 0),
    ("StorageClass", "string", 0),
    ("VolumeAttributesClass", "string", 0),
    ("Reason", "string", 0),
    ("Age", "string", 0),
    ("VolumeMode", "string", 1),
]


def _pv_cells(volume: dict[str, Any], now: datetime) -> Row:
    spec = volume.get("spec") or {}
    claim = spec.get("claimRef")
    return [
        volume["metadata"]["name"],
        (spec.get("capacity") or {}).get("storage", "0"),
        _access_modes(spec.get("accessModes")),
        spec.get("persistentVolumeReclaimPolicy", ""),
        _phase(volume),
        f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else "",
        _storage_class(volume),
        spec.get("volumeAttributesClassName") or "<unset>",
        (volume.get("status") or {}).get("reason", ""),
        _age(volume, now),
        spec.get("volumeMode") or "<unset>",
    ]


_PVC: Columns = [
    ("Name", "string", 0),
    ("Status", "string", 0),
    ("Volume", "string", 0),
    ("Capacity", "string", 0),
    ("Access Modes", "string", 0),
    ("StorageClass", "string", 0),
    ("VolumeAttributesClass", "string", 0),
    ("Age", "string", 0),
    ("VolumeMode", "string", 1),
]


def _pvc_cells(claim: dict[str, Any], now: datetime) -> Row:
    spec, status = claim.get("spec") or {}, claim.get("status") or {}
    bound = bool(spec.get("volumeName"))
    # Capacity and modes are the bound volume's (the claim's status); an unbound claim shows neither.
    return [
        claim["metadata"]["name"],
        _phase(claim),
        spec.get("volumeName", ""),
        (status.get("capacity") or {}).get("storage", "0") if bound else "",
        _access_modes(status.get("accessModes")) if bound else "",
        _storage_class(claim),
        spec.get("volumeAttributesClassName") or "<unset>",
        _age(claim, now),
        spec.get("volumeMode") or "<unset>",
    ]


_PRIORITY_CLASS: Columns = [
    ("Name", "string", 0),
    ("Value", "integer", 0),
    ("Global-Default", "boolean", 0),
    ("Age", "string", 0),
    ("PreemptionPolicy", "string", 0),
]


def _priority_class_cells(priority_class: dict[str, Any], now: datetime) -> Row:
    return [
        priority_class["metadata"]["name"],
        priority_class.get("value", 0),
        bool(priority_class.get("globalDefault")),
        _age(priority_class, now),
        priority_class.get("preemptionPolicy", ""),
    ]


_CSR: Columns = [
    ("Name", "string", 0),
    ("Age", "string", 0),
    ("SignerName", "string", 0),
    ("Requestor", "string", 0),
    ("RequestedDuration", "string", 0),
    ("Condition", "string", 0),
]


def _csr_cells(csr: dict[str, Any], now: datetime) -> Row:
    spec = csr.get("spec") or {}
    seconds = spec.get("expirationSeconds")
    return [
        csr["metadata"]["name"],
        _age(csr, now),
        spec.get("signerName") or "<none>",
        spec.get("username", ""),
        human_duration(seconds) if seconds is not None else "<none>",
        _csr_condition(csr.get("status") or {}),
    ]


def _csr_condition(status: dict[str, Any]) -> str:
    """Denied over Approved over Pending, then Failed and Issued (printers.go extractCSRStatus: condition types
    only, whatever their status)."""
    types = {condition.get("type") for condition in status.get("conditions") or []}
    condition = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        condition += ",Failed"
    if status.get("certificate"):
        condition += ",Issued"
    return condition


_ENDPOINT_SLICE: Columns = [
    ("Name", "string", 0),
    ("AddressType", "string", 0),
    ("Ports", "string", 0),
    ("Endpoints", "string", 0),
    ("Age", "string", 0),
]


def _endpoint_slice_cells(endpoint_slice: dict[str, Any], now: datetime) -> Row:
    ports = [
        str(port["port"]) if port.get("port") is not None else port.get("name") or "*"
        for port in endpoint_slice.get("ports") or []
    ]
    addresses = [address for e in endpoint_slice.get("endpoints") or [] for address in e.get("addresses") or []]
    return [
        endpoint_slice["metadata"]["name"],
        endpoint_slice.get("addressType", ""),
        _first_three(ports),
        _first_three(addresses),
        _age(endpoint_slice, now),
    ]


def _first_three(items: list[str]) -> str:
    """At most three items, then how many more (printers.go listWithMoreString); ``<unset>`` for none."""
    if len(items) > 3:
        return f"{','.join(items[:3])} + {len(items) - 3} more..."
    return ",".join(items) or "<unset>"


#: Columns a kind gained in a later minor: a cluster below it does not print them. VolumeAttributesClass came
#: with the API of that name (KEP-3751, alpha in 1.29; the column's release is UNCONFIRMED); PreemptionPolicy
#: with kubernetes/kubernetes#126529 (merged August 2024, released in 1.32).
_SINCE: dict[str, dict[str, tuple[int, int]]] = {
    "PersistentVolume": {"VolumeAttributesClass": (1, 29)},
    "PersistentVolumeClaim": {"VolumeAttributesClass": (1, 29)},
    "PriorityClass": {"PreemptionPolicy": (1, 32)},
}


PRINTERS: dict[str, tuple[Columns, Callable[[dict[str, Any], datetime], Row]]] = {
    "Node": (_NODE, _node_cells),
    "Pod": (_POD, _pod_cells),
    "Deployment": (_DEPLOYMENT, _deployment_cells),
    "DaemonSet": (_DAEMONSET, _daemonset_cells),
    "Namespace": (_NAMESPACE, _namespace_cells),
    "ReplicaSet": (_REPLICASET, _replicaset_cells),
    "StatefulSet": (_STATEFULSET, _statefulset_cells),
    "Service": (_SERVICE, _service_cells),
    "PodDisruptionBudget": (_PDB, _pdb_cells),
    "PersistentVolume": (_PV, _pv_cells),
    "PersistentVolumeClaim": (_PVC, _pvc_cells),
    "PriorityClass": (_PRIORITY_CLASS, _priority_class_cells),
    "CertificateSigningRequest": (_CSR, _csr_cells),
    "EndpointSlice": (_ENDPOINT_SLICE, _endpoint_slice_cells),
}
