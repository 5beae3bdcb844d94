"""The demo fleet's IRSA clusters work as they would on EKS: every pod that uses IRSA gets its credentials.

orders-prod is the Pod Identity migration's rehearsal cluster; ml-platform and analytics-staging carry IRSA
annotations too. Read as the runbooks read them: boto3 and the official Kubernetes client as role eks-runbooks.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from tests.helpers import RUNBOOK_ROLE_ARN, kube_core_api

ORDERS = "orders-prod"
IRSA_APPS = (
    "orders-api",
    "orders-worker",
    "invoice-renderer",
    "legacy-exporter",
    "inventory",
    "log-shipper",
    "toolbox",
)


def kube_core(sandbox: Any, tmp_path: Any, cluster: str, region: str = "us-east-1", role: str = RUNBOOK_ROLE_ARN):
    return kube_core_api(sandbox, tmp_path, cluster, region, role)


def irsa_pods(core: Any) -> list[Any]:
    return [
        pod
        for pod in core.list_pod_for_all_namespaces().items
        if any(v.name == "AWS_ROLE_ARN" for c in pod.spec.containers for v in c.env or [])
    ]


def running_and_ready(pod: Any) -> bool:
    conditions = {c.type: c.status for c in pod.status.conditions or []}
    return pod.status.phase == "Running" and conditions.get("Ready") == "True"


def wait_until_all_ready(core: Any) -> list[Any]:
    """The IRSA pods once all are Running and Ready (the last pods turn Ready a simulated start-up after load)."""
    deadline = time.monotonic() + 30
    while True:
        pods = irsa_pods(core)
        if pods and all(running_and_ready(pod) for pod in pods):
            return pods
        if time.monotonic() > deadline:
            broken = {p.metadata.name: (p.status.phase, p.status.container_statuses) for p in pods}
            raise AssertionError(f"IRSA pods not Running and Ready: {broken}")
        time.sleep(0.05)


def test_every_irsa_pod_of_orders_prod_is_running_and_ready_after_load(demo_fleet, tmp_path):
    core = kube_core(demo_fleet, tmp_path, ORDERS)
    pods = wait_until_all_ready(core)
    apps = {(pod.metadata.labels or {}).get("app") or pod.metadata.labels.get("k8s-app") for pod in pods}
    assert set(IRSA_APPS) | {"settlement", "ebs-csi-controller"} <= apps
    assert all(
        not pod.metadata.name.startswith("eks-pod-identity-agent")
        for pod in core.list_namespaced_pod("kube-system").items
    )


def test_orders_prod_has_the_estate_the_migration_rehearses(demo_fleet):
    eks = boto3.client("eks", region_name="us-east-1")
    iam = boto3.client("iam", region_name="us-east-1")
    cluster = eks.describe_cluster(name=ORDERS)["cluster"]
    issuer = cluster["identity"]["oidc"]["issuer"].removeprefix("https://")
    provider = f"arn:aws:iam::123456789012:oidc-provider/{issuer}"
    assert provider in [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert (cluster["version"], cluster["accessConfig"]["authenticationMode"]) == ("1.33", "API")

    (statement,) = iam.get_role(RoleName="orders-app")["Role"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Federated": provider}
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": ["system:serviceaccount:orders:orders-api", "system:serviceaccount:orders:orders-worker"],
        f"{issuer}:aud": "sts.amazonaws.com",
    }

    addons = eks.list_addons(clusterName=ORDERS)["addons"]
    assert "aws-ebs-csi-driver" in addons and "eks-pod-identity-agent" not in addons
    ebs = eks.describe_addon(clusterName=ORDERS, addonName="aws-ebs-csi-driver")["addon"]
    assert ebs["serviceAccountRoleArn"] == "arn:aws:iam::123456789012:role/orders-ebs-csi-driver"
    configuration = eks.describe_addon_configuration(addonName="aws-ebs-csi-driver", addonVersion=ebs["addonVersion"])
    assert configuration["podIdentityConfiguration"]  # the add-on can move to Pod Identity
    assert eks.list_fargate_profiles(clusterName=ORDERS)["fargateProfileNames"] == ["settlement"]
    assert eks.list_pod_identity_associations(clusterName=ORDERS)["associations"] == []
    granted = eks.list_associated_access_policies(clusterName=ORDERS, principalArn=RUNBOOK_ROLE_ARN)
    assert sorted(p["policyArn"].rsplit("/", 1)[1] for p in granted["associatedAccessPolicies"]) == [
        "AmazonEKSAdminViewPolicy",
        "AmazonEKSEditPolicy",
    ]


@pytest.mark.parametrize(
    ("cluster", "region", "role"),
    [
        ("analytics-staging", "us-east-1", "arn:aws:iam::123456789012:role/platform-admins"),
        ("ml-platform", "eu-west-1", "arn:aws:iam::210987654321:role/fleet-audit"),
    ],
)
def test_the_other_irsa_clusters_pods_get_their_credentials_too(demo_fleet, tmp_path, cluster, region, role):
    core = kube_core(demo_fleet, tmp_path, cluster, region, role)
    assert len(wait_until_all_ready(core)) >= 1


def test_the_old_sdk_is_known_only_to_the_sandbox(demo_fleet, tmp_path):
    core = kube_core(demo_fleet, tmp_path, ORDERS)
    (renderer,) = core.list_namespaced_pod("orders", label_selector="app=invoice-renderer").items
    manifest = json.dumps(core.api_client.sanitize_for_serialization(renderer))
    assert "boto3" not in manifest
