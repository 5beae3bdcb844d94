"""The columns ``kubectl get`` prints for storage, scheduling, certificate and discovery kinds: the server-side
Table kube-apiserver builds (pkg/printers/internalversion/printers.go), at the cluster's minor."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from eks_sandbox.kube.tables import build_table

NOW = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
CREATED = "2025-09-01T11:00:00Z"


def _table(kind: str, objects: list[dict], minor: tuple[int, int] = (1, 33)) -> tuple[list[str], list[list]]:
    table = build_table(kind, objects, NOW, "7", minor=minor)
    return [column["name"] for column in table["columnDefinitions"]], [row["cells"] for row in table["rows"]]


def _wide(kind: str, minor: tuple[int, int] = (1, 33)) -> list[str]:
    table = build_table(kind, [], NOW, "7", minor=minor)
    return [column["name"] for column in table["columnDefinitions"] if column["priority"] == 1]


def test_persistent_volumes_print_capacity_modes_policy_status_claim_and_classes():
    volume = {
        "metadata": {"name": "pvc-1234", "creationTimestamp": CREATED},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOncePod", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "claimRef": {"namespace": "shop", "name": "data-db-0"},
            "storageClassName": "gp2",
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Bound"},
    }
    columns, rows = _table("PersistentVolume", [volume])
    assert columns == [
        "Name",
        "Capacity",
        "Access Modes",
        "Reclaim Policy",
        "Status",
        "Claim",
        "StorageClass",
        "VolumeAttributesClass",
        "Reason",
        "Age",
        "VolumeMode",
    ]
    assert _wide("PersistentVolume") == ["VolumeMode"]
    assert rows == [
        ["pvc-1234", "10Gi", "RWO,RWOP", "Delete", "Bound", "shop/data-db-0", "gp2", "<unset>", "", "60m", "Filesystem"]
    ]
    # VolumeAttributesClass came with the API of that name in 1.29.
    assert "VolumeAttributesClass" not in _table("PersistentVolume", [volume], minor=(1, 28))[0]
    released = {**volume, "metadata": {**volume["metadata"], "deletionTimestamp": CREATED}, "spec": {}}
    assert _table("PersistentVolume", [released])[1][0][1:6] == ["0", "", "", "Terminating", ""]


def test_claims_print_their_volume_capacity_and_modes_only_once_bound():
    bound = {
        "metadata": {"name": "data-db-0", "namespace": "shop", "creationTimestamp": CREATED},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "8Gi"}},
            "storageClassName": "gp2",
            "volumeName": "pvc-1234",
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"]},
    }
    pending = {
        "metadata": {
            "name": "logs",
            "namespace": "shop",
            "creationTimestamp": CREATED,
            "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"},
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"},
    }
    columns, rows = _table("PersistentVolumeClaim", [bound, pending])
    assert columns == [
        "Name",
        "Status",
        "Volume",
        "Capacity",
        "Access Modes",
        "StorageClass",
        "VolumeAttributesClass",
        "Age",
        "VolumeMode",
    ]
    assert rows == [
        ["data-db-0", "Bound", "pvc-1234", "10Gi", "RWO", "gp2", "<unset>", "60m", "Filesystem"],
        ["logs", "Pending", "", "", "", "legacy", "<unset>", "60m", "<unset>"],
    ]


def test_priority_classes_print_value_and_global_default_and_the_preemption_policy_from_1_32():
    priority_class = {
        "metadata": {"name": "batch-low", "creationTimestamp": CREATED},
        "value": 1000,
        "globalDefault": True,
        "preemptionPolicy": "Never",
    }
    assert _table("PriorityClass", [priority_class], minor=(1, 32)) == (
        ["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"],
        [["batch-low", 1000, True, "60m", "Never"]],
    )
    assert _table("PriorityClass", [priority_class], minor=(1, 31)) == (
        ["Name", "Value", "Global-Default", "Age"],
        [["batch-low", 1000, True, "60m"]],
    )


def test_certificate_signing_requests_print_signer_requestor_duration_and_condition():
    issued = {
        "metadata": {"name": "csr-abc", "creationTimestamp": CREATED},
        "spec": {
            "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            "username": "system:node:ip-10-0-1-10.ec2.internal",
            "expirationSeconds": 86400,
        },
        "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"},
    }
    waiting = {"metadata": {"name": "csr-def", "creationTimestamp": CREATED}, "spec": {"username": "alice"}}
    denied = {
        "metadata": {"name": "csr-ghi", "creationTimestamp": CREATED},
        "spec": {"signerName": "example.com/x", "username": "bob"},
        "status": {"conditions": [{"type": "Approved"}, {"type": "Denied"}, {"type": "Failed"}]},
    }
    columns, rows = _table("CertificateSigningRequest", [issued, waiting, denied])
    assert columns == ["Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"]
    assert rows == [
        [
            "csr-abc",
            "60m",
            "kubernetes.io/kube-apiserver-client-kubelet",
            "system:node:ip-10-0-1-10.ec2.internal",
            "24h",
            "Approved,Issued",
        ],
        ["csr-def", "60m", "<none>", "alice", "<none>", "Pending"],
        ["csr-ghi", "60m", "example.com/x", "bob", "<none>", "Denied,Failed"],
    ]


def test_endpoint_slices_print_address_type_ports_and_at_most_three_endpoints():
    slice_ = {
        "metadata": {"name": "web-x7k2p", "namespace": "shop", "creationTimestamp": CREATED},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80}, {"name": "metrics"}],
        "endpoints": [{"addresses": [f"10.0.1.{n}"]} for n in range(5, 10)],
    }
    empty = {"metadata": {"name": "idle-abcde", "creationTimestamp": CREATED}, "addressType": "IPv4", "ports": []}
    columns, rows = _table("EndpointSlice", [slice_, empty])
    assert columns == ["Name", "AddressType", "Ports", "Endpoints", "Age"]
    assert rows == [
        ["web-x7k2p", "IPv4", "80,metrics", "10.0.1.5,10.0.1.6,10.0.1.7 + 2 more...", "60m"],
        ["idle-abcde", "IPv4", "<unset>", "<unset>", "60m"],
    ]


def test_the_served_table_follows_the_clusters_minor(kube):
    table_of = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    with kube.open("/apis/scheduling.k8s.io/v1/priorityclasses", headers=table_of) as response:
        table = json.loads(response.read())
    assert [column["name"] for column in table["columnDefinitions"]] == ["Name", "Value", "Global-Default", "Age"]
    cells = {row["cells"][0]: row["cells"][1:3] for row in table["rows"]}
    assert cells["system-node-critical"] == [2000001000, False]


def test_a_priority_class_created_without_a_preemption_policy_preempts_lower_priorities(api_client):
    from kubernetes import client

    scheduling = client.SchedulingV1Api(api_client)
    scheduling.create_priority_class({"metadata": {"name": "batch-high"}, "value": 100000})
    assert scheduling.read_priority_class("batch-high").preemption_policy == "PreemptLowerPriority"
