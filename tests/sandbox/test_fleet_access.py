"""The demo fleet's access, as a team would grant it: the loader is the creator, the runbooks' role reads through
its grants (an access entry, or aws-auth on the CONFIG_MAP cluster), and nothing more."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import boto3
import pytest

from tests.helpers import RUNBOOK_ROLE_ARN, assumed_role_credentials, eks_token

PROVISIONER = "arn:aws:iam::123456789012:role/fleet-provisioner"
ADMIN_VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"


def _status(sandbox, cluster: str, region: str, path: str, credentials: dict, method: str = "GET") -> int:
    endpoint = boto3.client("eks", region_name=region).describe_cluster(name=cluster)["cluster"]["endpoint"]
    token = eks_token(cluster, sandbox.base_url, credentials, region=region)
    body = json.dumps({"metadata": {"name": "probe"}}).encode() if method == "POST" else None
    request = urllib.request.Request(
        endpoint + path,
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, context=sandbox.tls.client_context()) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_loader_creates_the_clusters_and_the_runbook_role_is_granted_admin_view(demo_fleet):
    eks = boto3.client("eks", region_name="us-east-1")
    entries = eks.list_access_entries(clusterName="payments-prod")["accessEntries"]
    assert PROVISIONER in entries and RUNBOOK_ROLE_ARN in entries
    granted = eks.list_associated_access_policies(clusterName="payments-prod", principalArn=RUNBOOK_ROLE_ARN)
    assert [policy["policyArn"] for policy in granted["associatedAccessPolicies"]] == [ADMIN_VIEW]


@pytest.mark.parametrize(
    ("cluster", "region"),
    [("payments-prod", "us-east-1"), ("analytics-staging", "us-east-1"), ("edge-dev", "us-west-2")],
)
def test_the_runbook_role_reads_everything_and_changes_nothing(demo_fleet, cluster, region):
    runbooks = assumed_role_credentials(demo_fleet.base_url, RUNBOOK_ROLE_ARN)
    assert _status(demo_fleet, cluster, region, "/api/v1/secrets", runbooks) == 200  # Helm releases
    assert (
        _status(demo_fleet, cluster, region, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", runbooks) == 200
    )
    assert _status(demo_fleet, cluster, region, "/api/v1/namespaces/default/configmaps", runbooks, "POST") == 403


def test_the_config_map_cluster_maps_the_runbook_role_in_aws_auth_next_to_its_node_role(demo_fleet):
    eks = boto3.client("eks", region_name="us-east-1")
    assert eks.describe_cluster(name="analytics-staging")["cluster"]["accessConfig"]["authenticationMode"] == (
        "CONFIG_MAP"
    )
    with demo_fleet.lock:
        kube = demo_fleet.eks.cluster("123456789012", "us-east-1", "analytics-staging").kube
        roles = kube.get("v1", "ConfigMap", "aws-auth", "kube-system")["data"]["mapRoles"]
    assert "eks-node-role" in roles and RUNBOOK_ROLE_ARN in roles


def test_the_plain_credentials_of_the_tests_are_not_let_into_the_demo_clusters(demo_fleet):
    plain = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    assert _status(demo_fleet, "payments-prod", "us-east-1", "/api/v1/pods", plain) == 401
