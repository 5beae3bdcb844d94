"""Persistent volumes as the EBS CSI driver and the PV controller make them on EKS.

A claim of a StorageClass whose provisioner is EBS (``ebs.csi.aws.com``, or the in-tree ``kubernetes.io/aws-ebs``
that CSI migration hands to the same driver) gets a real EBS volume in moto (CreateVolume in the zone of the node
its first pod runs on, for WaitForFirstConsumer classes; tags as the driver writes them) and a PersistentVolume
bound to it. Nothing is provisioned while the driver's controller (the aws-ebs-csi-driver add-on's
``ebs-csi-controller`` Deployment) is not running: the claim stays Pending, as on a cluster without the add-on.
Released volumes follow the reclaim policy: Delete removes the EBS volume and the PV, Retain keeps both.
Sources: kubernetes-sigs/aws-ebs-csi-driver pkg/driver/controller.go (tags, default type gp3, topology key),
kubernetes-csi/external-provisioner (PV annotations and finalizers), pkg/controller/volume/persistentvolume.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from eks_sandbox.kube.requests import memory_bytes
from eks_sandbox.kube.store import ObjectStore, clone

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

EBS_CSI_DRIVER = "ebs.csi.aws.com"
IN_TREE_EBS = "kubernetes.io/aws-ebs"
ZONE_LABEL = "topology.kubernetes.io/zone"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def default_storage_class(store: ObjectStore) -> str | None:
    """The DefaultStorageClass admission plugin's choice: the newest class annotated default (1.26+ rule)."""
    defaults = [
        sc
        for sc in store.all("storage.k8s.io", "StorageClass")
        if (sc["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
    ]
    defaults.sort(key=lambda sc: (sc["metadata"]["creationTimestamp"], int(sc["metadata"]["resourceVersion"])))
    return defaults[-1]["metadata"]["name"] if defaults else None


def admit_claim(store: ObjectStore, claim: dict[str, Any]) -> None:
    """PVC admission: the default class when none is named, the pvc-protection finalizer, Pending status."""
    spec = claim.setdefault("spec", {})
    if "storageClassName" not in spec:
        default = default_storage_class(store)
        if default is not None:
            spec["storageClassName"] = default
    spec.setdefault("volumeMode", "Filesystem")
    finalizers = claim["metadata"].setdefault("finalizers", [])
    if "kubernetes.io/pvc-protection" not in finalizers:
        finalizers.append("kubernetes.io/pvc-protection")
    claim["status"] = {"phase": "Pending"}


def gibibytes(quantity: str) -> int:
    """A storage request as whole GiB, rounded up (the EBS CSI driver's RoundUpGiB)."""
    return max(1, math.ceil(memory_bytes(quantity) / 2**30))


def sync_volumes(cluster: KubeCluster) -> None:
    """Provision and bind pending EBS claims; reclaim volumes whose claim is gone."""
    store = cluster.store
    if _driver_running(store):
        for claim in store.all("", "PersistentVolumeClaim"):
            if (claim.get("status") or {}).get("phase") == "Pending" and not claim["spec"].get("volumeName"):
                _provision(cluster, claim)
    _reclaim(cluster)


def _driver_running(store: ObjectStore) -> bool:
    controller = store.get("apps", "Deployment", "kube-system", "ebs-csi-controller")
    return controller is not None and (controller.get("status") or {}).get("availableReplicas", 0) > 0


def _provision(cluster: KubeCluster, claim: dict[str, Any]) -> None:
    store = cluster.store
    storage_class = store.get("storage.k8s.io", "StorageClass", None, claim["spec"].get("storageClassName") or "")
    if storage_class is None or storage_class.get("provisioner") not in (EBS_CSI_DRIVER, IN_TREE_EBS):
        return
    node = _consumer_node(store, claim)
    if node is None and storage_class.get("volumeBindingMode") == "WaitForFirstConsumer":
        return
    zone = node_zone(node) if node is not None else None
    zone = zone or next(filter(None, map(node_zone, store.all("", "Node"))), None) or f"{cluster.link.region}a"
    pv_name = f"pvc-{claim['metadata']['uid']}"
    size = gibibytes(((claim["spec"].get("resources") or {}).get("requests") or {}).get("storage", "1Gi"))
    parameters = storage_class.get("parameters") or {}
    default_type = "gp2" if storage_class["provisioner"] == IN_TREE_EBS else "gp3"
    volume_id = _create_volume(cluster, claim, pv_name, size, zone, parameters.get("type", default_type))
    store.insert("", "PersistentVolume", _volume(claim, storage_class, pv_name, volume_id, size, zone))
    bound = clone(claim)
    annotations = bound["metadata"].setdefault("annotations", {})
    annotations.update(
        {
            "pv.kubernetes.io/bind-completed": "yes",
            "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.beta.kubernetes.io/storage-provisioner": EBS_CSI_DRIVER,
            "volume.kubernetes.io/storage-provisioner": EBS_CSI_DRIVER,
        }
    )
    if node is not None and storage_class.get("volumeBindingMode") == "WaitForFirstConsumer":
        annotations[SELECTED_NODE] = node["metadata"]["name"]
    bound["spec"]["volumeName"] = pv_name
    bound["status"] = {
        "phase": "Bound",
        "accessModes": list(claim["spec"].get("accessModes") or ["ReadWriteOnce"]),
        "capacity": {"storage": f"{size}Gi"},
    }
    store.save("", "PersistentVolumeClaim", bound)


def _create_volume(cluster: KubeCluster, claim: dict[str, Any], pv_name: str, size: int, zone: str, kind: str) -> str:
    from eks_sandbox.moto_compat import create_ebs_volume

    metadata = claim["metadata"]
    tags = {
        "CSIVolumeName": pv_name,
        "ebs.csi.aws.com/cluster": "true",
        "kubernetes.io/created-for/pv/name": pv_name,
        "kubernetes.io/created-for/pvc/name": metadata["name"],
        "kubernetes.io/created-for/pvc/namespace": metadata["namespace"],
        "KubernetesCluster": cluster.name,
        f"kubernetes.io/cluster/{cluster.name}": "owned",
    }
    return create_ebs_volume(
        cluster.link.account, cluster.link.region, size_gib=size, zone=zone, volume_type=kind, tags=tags
    )


def _volume(
    claim: dict[str, Any], storage_class: dict[str, Any], name: str, volume_id: str, size: int, zone: str
) -> dict[str, Any]:
    in_tree = storage_class["provisioner"] == IN_TREE_EBS
    annotations = {"pv.kubernetes.io/provisioned-by": storage_class["provisioner"]}
    if in_tree:
        # CSI migration: the driver provisions, the PV keeps the in-tree source (csi-translation-lib).
        annotations["pv.kubernetes.io/migrated-to"] = EBS_CSI_DRIVER
        source = {"awsElasticBlockStore": {"volumeID": volume_id, "fsType": "ext4"}}
    else:
        source = {"csi": {"driver": EBS_CSI_DRIVER, "volumeHandle": volume_id, "fsType": "ext4"}}
    metadata = claim["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "annotations": annotations,
            "finalizers": ["kubernetes.io/pv-protection", "external-provisioner.volume.kubernetes.io/finalizer"],
        },
        "spec": {
            "accessModes": list(claim["spec"].get("accessModes") or ["ReadWriteOnce"]),
            "capacity": {"storage": f"{size}Gi"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata["uid"],
            },
            **source,
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": ZONE_LABEL, "operator": "In", "values": [zone]}]}
                    ]
                }
            },
            "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
            "storageClassName": storage_class["metadata"]["name"],
            "volumeMode": claim["spec"].get("volumeMode", "Filesystem"),
        },
        "status": {"phase": "Bound"},
    }


def _reclaim(cluster: KubeCluster) -> None:
    from eks_sandbox.moto_compat import delete_ebs_volume

    store = cluster.store
    claims = {claim["metadata"]["uid"] for claim in store.all("", "PersistentVolumeClaim")}
    for volume in store.all("", "PersistentVolume"):
        ref = volume["spec"].get("claimRef")
        if ref is None or ref.get("uid") in claims or (volume.get("status") or {}).get("phase") == "Released":
            continue
        if volume["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
            source = volume["spec"].get("csi") or {}
            volume_id = source.get("volumeHandle") or (volume["spec"].get("awsElasticBlockStore") or {}).get("volumeID")
            if volume_id:
                delete_ebs_volume(cluster.link.account, cluster.link.region, volume_id)
            store.remove("", "PersistentVolume", None, volume["metadata"]["name"])
        else:
            store.save("", "PersistentVolume", {**volume, "status": {"phase": "Released"}})


def _consumer_node(store: ObjectStore, claim: dict[str, Any]) -> dict[str, Any] | None:
    """The node of the first scheduled pod that mounts the claim."""
    name, namespace = claim["metadata"]["name"], claim["metadata"]["namespace"]
    for pod in store.all("", "Pod", namespace):
        node_name = pod["spec"].get("nodeName")
        if node_name and name in claim_names(pod):
            return store.get("", "Node", None, node_name)
    return None


def claim_names(pod: dict[str, Any]) -> list[str]:
    return [
        volume["persistentVolumeClaim"]["claimName"]
        for volume in pod["spec"].get("volumes") or []
        if volume.get("persistentVolumeClaim")
    ]


def node_zone(node: dict[str, Any] | None) -> str | None:
    """A node's zone: its topology label, else the zone in its providerID (aws:///us-east-1a/i-...)."""
    if node is None:
        return None
    zone = (node["metadata"].get("labels") or {}).get(ZONE_LABEL)
    if zone:
        return zone
    provider = (node.get("spec") or {}).get("providerID") or ""
    parts = provider.removeprefix("aws:///").split("/")
    return parts[0] if provider.startswith("aws:///") and len(parts) == 2 else None


def volume_zones(store: ObjectStore, pod: dict[str, Any]) -> set[str] | None:
    """The zones a pod may run in because of its bound volumes (empty: anywhere); None if a claim is missing."""
    zones: set[str] = set()
    for claim_name in claim_names(pod):
        claim = store.get("", "PersistentVolumeClaim", pod["metadata"]["namespace"], claim_name)
        if claim is None:
            return None
        volume = store.get("", "PersistentVolume", None, claim["spec"].get("volumeName") or "")
        terms = ((volume or {}).get("spec", {}).get("nodeAffinity") or {}).get("required", {}).get("nodeSelectorTerms")
        for term in terms or []:
            for expression in term.get("matchExpressions") or []:
                if expression.get("key") == ZONE_LABEL:
                    zones.update(expression.get("values") or [])
    return zones
