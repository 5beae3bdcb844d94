"""A fleet built and operated through the APIs alone: boto3 for AWS, the official kubernetes client for each
cluster (HTTPS verified against DescribeCluster's CA, a bearer token), waiting on the real clock — what a runbook
can do, and nothing else (no in-process ``kube.apply`` or ``settle``).

The in-process sandbox runs at time scale 0.001: a cluster takes ~0.6 s to create, a node group version update
about a second; every wait polls with a generous deadline so a loaded machine cannot fail it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.helpers import create_role, eks_token

TIMEOUT = 30.0
CLUSTER = "rehearsal"
NODEGROUP = "general"
ROLE = "arn:aws:iam::123456789012:role/{}"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POD_IDENTITY_ENV = "AWS_CONTAINER_CREDENTIALS_FULL_URI"


def wait_for(describe: Callable[[], Any], done: Callable[[Any], bool], what: str) -> Any:
    """Poll ``describe`` until ``done`` holds for its answer (real clock); returns that answer."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        answer = describe()
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {TIMEOUT} s; last answer: {answer!r}")
        time.sleep(0.05)


@dataclass
class ApiFleet:
    """One cluster (1.32) with a 1.31 node group of two nodes and the core add-ons, built through the APIs."""

    eks: Any
    kube: Any  # kubernetes.client.ApiClient on the cluster's endpoint

    def update_nodegroup_version(self) -> dict[str, Any]:
        """UpdateNodegroupVersion to the control plane's version; returns the update once it has ended."""
        update = self.eks.update_nodegroup_version(clusterName=CLUSTER, nodegroupName=NODEGROUP)["update"]
        return wait_for(
            lambda: self.eks.describe_update(name=CLUSTER, updateId=update["id"], nodegroupName=NODEGROUP)["update"],
            lambda described: described["status"] != "InProgress",
            "the node group version update",
        )


@pytest.fixture
def api_fleet(sandbox, tmp_path) -> Iterator[ApiFleet]:
    from kubernetes import client

    session = boto3.session.Session(region_name="us-east-1")
    ec2 = session.client("ec2", endpoint_url=sandbox.base_url)
    eks = session.client("eks", endpoint_url=sandbox.base_url)
    iam = session.client("iam", endpoint_url=sandbox.base_url)
    create_role(iam, "eks-cluster", "eks.amazonaws.com")
    create_role(iam, "eks-node", "ec2.amazonaws.com")
    create_role(iam, "ledger", "pods.eks.amazonaws.com")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.0.0.0/19", "us-east-1a"), ("10.0.32.0/19", "us-east-1b"))
    ]
    eks.create_cluster(
        name=CLUSTER,
        version="1.32",
        roleArn=ROLE.format("eks-cluster"),
        resourcesVpcConfig={"subnetIds": subnets},
    )
    cluster = wait_for(
        lambda: eks.describe_cluster(name=CLUSTER)["cluster"], lambda c: c["status"] == "ACTIVE", "cluster ACTIVE"
    )
    for addon in ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent"):
        eks.create_addon(clusterName=CLUSTER, addonName=addon)
    eks.create_nodegroup(
        clusterName=CLUSTER,
        nodegroupName=NODEGROUP,
        version="1.31",
        subnets=subnets,
        nodeRole=ROLE.format("eks-node"),
        instanceTypes=["m5.large"],
        scalingConfig={"minSize": 1, "maxSize": 4, "desiredSize": 2},
    )
    wait_for(
        lambda: eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=NODEGROUP)["nodegroup"]["status"],
        lambda status: status == "ACTIVE",
        "node group ACTIVE",
    )
    for addon in eks.list_addons(clusterName=CLUSTER)["addons"]:
        wait_for(
            lambda addon=addon: eks.describe_addon(clusterName=CLUSTER, addonName=addon)["addon"]["status"],
            lambda status: status == "ACTIVE",
            f"add-on {addon} ACTIVE",
        )
    # What a kubeconfig from `aws eks update-kubeconfig` holds: the endpoint and its CA, from DescribeCluster.
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(base64.b64decode(cluster["certificateAuthority"]["data"]))
    configuration = client.Configuration()
    configuration.host = cluster["endpoint"]
    configuration.ssl_ca_cert = str(ca_file)
    assert cluster["endpoint"].startswith("https://") and configuration.verify_ssl
    configuration.api_key = {"BearerToken": eks_token(CLUSTER, sandbox.base_url)}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    with client.ApiClient(configuration) as kube:
        yield ApiFleet(eks, kube)


def nodes(fleet: ApiFleet) -> dict[str, str]:
    """Node name → kubelet version, as the Kubernetes API lists them."""
    from kubernetes import client

    return {
        node.metadata.name: node.status.node_info.kubelet_version
        for node in client.CoreV1Api(fleet.kube).list_node().items
    }


def deployment(name: str, namespace: str, service_account: str = "default") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": service_account,
                    "containers": [{"name": name, "image": "public.ecr.aws/docker/library/busybox:1.36"}],
                },
            },
        },
    }


def create_namespace(fleet: ApiFleet, name: str) -> None:
    from kubernetes import client

    client.CoreV1Api(fleet.kube).create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def running_pods(fleet: ApiFleet, namespace: str, app: str) -> list[Any]:
    from kubernetes import client

    pods = client.CoreV1Api(fleet.kube).list_namespaced_pod(namespace, label_selector=f"app={app}").items
    return [pod for pod in pods if pod.metadata.deletion_timestamp is None]


def env_names(pod: Any) -> set[str]:
    return {variable.name for container in pod.spec.containers for variable in container.env or []}


def test_a_node_group_version_update_replaces_every_node_with_one_at_the_new_version(api_fleet):
    before = nodes(api_fleet)
    assert len(before) == 2 and all(version.startswith("v1.31.") for version in before.values()), before
    update = api_fleet.update_nodegroup_version()
    assert update["status"] == "Successful", update
    after = nodes(api_fleet)
    assert len(after) == 2 and all(version.startswith("v1.32.") for version in after.values()), after
    assert not set(before) & set(after)
    described = api_fleet.eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=NODEGROUP)["nodegroup"]
    assert (described["version"], described["status"]) == ("1.32", "ACTIVE")


def test_a_pdb_that_allows_no_disruption_fails_the_update_with_pod_eviction_failure(api_fleet):
    from kubernetes import client

    create_namespace(api_fleet, "payments")
    client.AppsV1Api(api_fleet.kube).create_namespaced_deployment("payments", deployment("ledger", "payments"))
    client.PolicyV1Api(api_fleet.kube).create_namespaced_pod_disruption_budget(
        "payments",
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "ledger-pdb", "namespace": "payments"},
            "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "ledger"}}},
        },
    )
    wait_for(lambda: running_pods(api_fleet, "payments", "ledger"), lambda pods: len(pods) == 1, "the ledger pod")
    update = api_fleet.update_nodegroup_version()
    assert update["status"] == "Failed", update
    (error,) = update["errors"]
    assert error["errorCode"] == "PodEvictionFailure"
    assert error["errorMessage"].endswith(f"in node group {NODEGROUP}")
    described = api_fleet.eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=NODEGROUP)["nodegroup"]
    assert described["version"] == "1.31"


def test_a_rollout_restart_after_a_pod_identity_association_gives_pods_credentials(api_fleet):
    from kubernetes import client

    apps = client.AppsV1Api(api_fleet.kube)
    create_namespace(api_fleet, "payments")
    client.CoreV1Api(api_fleet.kube).create_namespaced_service_account(
        "payments", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ledger"}}
    )
    apps.create_namespaced_deployment("payments", deployment("ledger", "payments", service_account="ledger"))
    (old_pod,) = wait_for(
        lambda: running_pods(api_fleet, "payments", "ledger"), lambda pods: len(pods) == 1, "the ledger pod"
    )
    assert POD_IDENTITY_ENV not in env_names(old_pod)

    api_fleet.eks.create_pod_identity_association(
        clusterName=CLUSTER, namespace="payments", serviceAccount="ledger", roleArn=ROLE.format("ledger")
    )
    apps.patch_namespaced_deployment(
        "ledger",
        "payments",
        {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-01-01T00:00:00Z"}}}}},
    )
    (new_pod,) = wait_for(
        lambda: running_pods(api_fleet, "payments", "ledger"),
        lambda pods: len(pods) == 1 and pods[0].metadata.name != old_pod.metadata.name,
        "the restarted ledger pod",
    )
    assert POD_IDENTITY_ENV in env_names(new_pod)
    old_still_listed = [
        pod
        for pod in client.CoreV1Api(api_fleet.kube).list_namespaced_pod("payments").items
        if pod.metadata.name == old_pod.metadata.name
    ]
    assert all(POD_IDENTITY_ENV not in env_names(pod) for pod in old_still_listed)
