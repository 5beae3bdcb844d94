"""PersistentVolumeClaims of EBS StorageClasses get real (moto) EBS volumes, as the EBS CSI driver makes them."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from kubernetes import client

GP3 = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {"name": "gp3"},
    "provisioner": "ebs.csi.aws.com",
    "parameters": {"type": "gp3"},
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "WaitForFirstConsumer",
}


@pytest.fixture
def ec2(kube_sandbox_server) -> Any:
    return boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=kube_sandbox_server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _install_ebs_csi_driver(cluster) -> None:
    """What the aws-ebs-csi-driver add-on runs: its controller Deployment is what provisions."""
    labels = {"app": "ebs-csi-controller"}
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "ebs-csi-controller", "namespace": "kube-system"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "ebs-plugin", "image": "aws-ebs-csi-driver:v1.40.0"}]},
                },
            },
        }
    )


def _claim(name: str, storage_class: str) -> client.V1PersistentVolumeClaim:
    return client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage_class,
            resources=client.V1VolumeResourceRequirements(requests={"storage": "10Gi"}),
        ),
    )


def _pod_using(claim: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=f"uses-{claim}"),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="app", image="busybox:1.36")],
            volumes=[
                client.V1Volume(
                    name="data", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(claim_name=claim)
                )
            ],
        ),
    )


def test_a_claim_waits_for_its_first_consumer_then_gets_an_ebs_volume_in_its_zone(kube, api_client, ec2):
    core = client.CoreV1Api(api_client)
    kube.cluster.apply(GP3)
    _install_ebs_csi_driver(kube.cluster)
    core.create_namespaced_persistent_volume_claim("default", _claim("data", "gp3"))
    assert core.read_namespaced_persistent_volume_claim("data", "default").status.phase == "Pending"
    core.create_namespaced_pod("default", _pod_using("data"))
    claim = core.read_namespaced_persistent_volume_claim("data", "default")
    assert claim.status.phase == "Bound" and claim.status.capacity == {"storage": "10Gi"}
    volume = core.read_persistent_volume(claim.spec.volume_name)
    assert volume.spec.csi.driver == "ebs.csi.aws.com"
    assert volume.spec.claim_ref.name == "data"
    (described,) = ec2.describe_volumes(VolumeIds=[volume.spec.csi.volume_handle])["Volumes"]
    assert (described["Size"], described["VolumeType"], described["AvailabilityZone"]) == (10, "gp3", "us-east-1a")
    tags = {tag["Key"]: tag["Value"] for tag in described["Tags"]}
    assert tags["kubernetes.io/created-for/pvc/name"] == "data"
    assert tags["kubernetes.io/created-for/pvc/namespace"] == "default"
    assert tags["ebs.csi.aws.com/cluster"] == "true"
    assert tags["KubernetesCluster"] == "test"
    assert core.read_namespaced_pod("uses-data", "default").status.phase == "Running"
    # Reclaim policy Delete: the claim goes, so do the PV and the EBS volume.
    core.delete_namespaced_pod("uses-data", "default")
    core.delete_namespaced_persistent_volume_claim("data", "default")
    assert not [v for v in core.list_persistent_volume().items if v.metadata.name == claim.spec.volume_name]
    remaining = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume.spec.csi.volume_handle]}])
    assert remaining["Volumes"] == []


def test_without_the_ebs_csi_driver_a_claim_stays_pending_and_its_pod_does_not_start(kube, api_client):
    core = client.CoreV1Api(api_client)
    kube.cluster.apply(GP3)
    core.create_namespaced_persistent_volume_claim("default", _claim("data", "gp3"))
    core.create_namespaced_pod("default", _pod_using("data"))
    assert core.read_namespaced_persistent_volume_claim("data", "default").status.phase == "Pending"
    assert core.read_namespaced_pod("uses-data", "default").status.phase == "Pending"


def test_a_stateful_set_gets_one_claim_per_replica_on_gp2(kube, api_client, ec2):
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    _install_ebs_csi_driver(kube.cluster)
    labels = {"app": "db"}
    apps.create_namespaced_stateful_set(
        "default",
        client.V1StatefulSet(
            metadata=client.V1ObjectMeta(name="db"),
            spec=client.V1StatefulSetSpec(
                replicas=2,
                service_name="db",
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="db", image="postgres:16")]),
                ),
                volume_claim_templates=[_claim("data", "gp2")],
            ),
        ),
    )
    claims = core.list_namespaced_persistent_volume_claim("default").items
    assert sorted((c.metadata.name, c.status.phase) for c in claims) == [
        ("data-db-0", "Bound"),
        ("data-db-1", "Bound"),
    ]
    pod = core.read_namespaced_pod("db-0", "default")
    assert [v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim] == [
        "data-db-0"
    ]
    volume = core.read_persistent_volume(claims[0].spec.volume_name)
    # gp2 is the in-tree provisioner, migrated to the CSI driver: the PV keeps the in-tree source.
    assert volume.metadata.annotations["pv.kubernetes.io/migrated-to"] == "ebs.csi.aws.com"
    (described,) = ec2.describe_volumes(VolumeIds=[volume.spec.aws_elastic_block_store.volume_id])["Volumes"]
    assert described["VolumeType"] == "gp2"


def test_a_pod_with_an_ebs_volume_is_rescheduled_only_in_the_volumes_zone(kube, api_client):
    core = client.CoreV1Api(api_client)
    kube.cluster.apply(GP3)
    _install_ebs_csi_driver(kube.cluster)
    kube.cluster.add_node(
        "ip-10-0-2-10.ec2.internal",
        labels={"topology.kubernetes.io/zone": "us-east-1b"},
        kubelet_version="v1.31.14-eks-0ea5593",
        capacity={"cpu": "2", "memory": "7935036Ki", "pods": "29"},
        provider_id="aws:///us-east-1b/i-0b0b0b0b0b0b0b0b0",
    )
    core.create_namespaced_persistent_volume_claim("default", _claim("data", "gp3"))
    pod = _pod_using("data")
    pod.spec.node_selector = {"topology.kubernetes.io/zone": "us-east-1b"}
    core.create_namespaced_pod("default", pod)
    volume = core.read_persistent_volume(
        core.read_namespaced_persistent_volume_claim("data", "default").spec.volume_name
    )
    assert volume.spec.node_affinity.required.node_selector_terms[0].match_expressions[0].values == ["us-east-1b"]
    # The same claim's next pod may only run in us-east-1b: with that node gone, it stays Pending.
    core.delete_namespaced_pod("uses-data", "default")
    kube.cluster.delete_node("ip-10-0-2-10.ec2.internal")
    core.create_namespaced_pod("default", _pod_using("data"))
    again = core.read_namespaced_pod("uses-data", "default")
    assert again.spec.node_name is None and again.status.phase == "Pending"
