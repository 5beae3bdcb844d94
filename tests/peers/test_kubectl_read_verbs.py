"""kubectl's everyday read verbs against a demo cluster of `eks-sandbox serve`, configured as users configure it.

The kubeconfig is the one `aws eks update-kubeconfig` writes (the CA from DescribeCluster, an exec plugin running
`aws eks get-token`). Every answer is held against what the AWS API and the cluster's own API report, read
apart from kubectl.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import boto3
import pytest

from tests.helpers import PLATFORM_ADMIN_ROLE_ARN
from tests.peers.kubectl_access import KubectlCluster, kubectl_cluster

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.peers,
    pytest.mark.wall_clock,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed on this machine"),
]

CLUSTER, REGION = "payments-prod", "us-east-1"


@pytest.fixture(scope="module")
def payments_prod(sandbox_process: str, tmp_path_factory: pytest.TempPathFactory) -> KubectlCluster:
    return kubectl_cluster(sandbox_process, CLUSTER, REGION, tmp_path_factory.mktemp("kubectl"))


def table(stdout: str) -> list[dict[str, str]]:
    """kubectl's column output as one dict per row, cut at the header's column offsets (values may hold spaces)."""
    header, *rows = stdout.splitlines()
    names = header.split()
    starts = [header.index(f" {name}") + 1 if index else 0 for index, name in enumerate(names)]
    ends = [*starts[1:], None]
    return [
        {name: row[start:end].strip() for name, start, end in zip(names, starts, ends, strict=True)} for row in rows
    ]


def failure(result: subprocess.CompletedProcess) -> str:
    return f"kubectl {' '.join(result.args[1:])} exited {result.returncode}: {result.stderr.strip()}"


def test_kubectl_get_raw_version_answers_the_version_describe_cluster_reports(payments_prod):
    result = payments_prod.kubectl("get", "--raw", "/version")
    assert result.returncode == 0, failure(result)
    served = json.loads(result.stdout)
    assert (served["major"], served["minor"].rstrip("+")) == tuple(payments_prod.version.split("."))
    assert served["gitVersion"].startswith(f"v{payments_prod.version}.")


def test_kubectl_get_nodes_wide_lists_the_api_nodes_ready_at_the_cluster_version(payments_prod):
    result = payments_prod.kubectl("get", "nodes", "-o", "wide")
    assert result.returncode == 0, failure(result)
    api_nodes = {node["metadata"]["name"]: node for node in payments_prod.api("/api/v1/nodes")["items"]}
    rows = {row["NAME"]: row for row in table(result.stdout)}
    assert set(rows) == set(api_nodes)
    eks = boto3.client("eks", endpoint_url=payments_prod.kubectl_env["AWS_ENDPOINT_URL"], region_name=REGION)
    desired = sum(
        eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=name)["nodegroup"]["scalingConfig"]["desiredSize"]
        for name in eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]
    )
    assert len(rows) == desired
    for name, row in rows.items():
        addresses = {a["type"]: a["address"] for a in api_nodes[name]["status"]["addresses"]}
        assert row["STATUS"] == "Ready" and row["VERSION"].startswith(f"v{payments_prod.version}."), row
        assert row["INTERNAL-IP"] == addresses["InternalIP"], row


def test_kubectl_get_pods_all_namespaces_lists_the_api_pods(payments_prod):
    result = payments_prod.kubectl("get", "pods", "-A")
    assert result.returncode == 0, failure(result)
    api_pods = payments_prod.api("/api/v1/pods")["items"]
    assert {(row["NAMESPACE"], row["NAME"]) for row in table(result.stdout)} == {
        (pod["metadata"]["namespace"], pod["metadata"]["name"]) for pod in api_pods
    }
    assert any(pod["metadata"]["namespace"] == "kube-system" for pod in api_pods)


def test_kubectl_api_resources_lists_the_resources_the_cluster_discovers(payments_prod):
    result = payments_prod.kubectl("api-resources")
    assert result.returncode == 0, failure(result)
    listed = {(row["NAME"], row["APIVERSION"]) for row in table(result.stdout)}
    core = {(resource["name"], "v1") for resource in payments_prod.api("/api/v1")["resources"]}
    assert {entry for entry in core if "/" not in entry[0]} <= listed  # subresources (pods/eviction) are not shown
    assert {("deployments", "apps/v1"), ("nodes", "v1")} <= listed


def test_kubectl_api_versions_lists_the_group_versions_the_cluster_serves(payments_prod):
    result = payments_prod.kubectl("api-versions")
    assert result.returncode == 0, failure(result)
    served = set(payments_prod.api("/api")["versions"]) | {
        version["groupVersion"] for group in payments_prod.api("/apis")["groups"] for version in group["versions"]
    }
    assert set(result.stdout.split()) == served
    assert "apps/v1" in served


def test_kubectl_explain_deployment_spec_describes_its_fields(payments_prod):
    result = payments_prod.kubectl("explain", "deployment.spec")
    assert result.returncode == 0, failure(result)
    assert "replicas" in result.stdout and "template" in result.stdout


def test_kubectl_describe_node_shows_the_api_node_and_its_kubelet(payments_prod):
    node = payments_prod.api("/api/v1/nodes")["items"][0]
    name = node["metadata"]["name"]
    result = payments_prod.kubectl("describe", "node", name)
    assert result.returncode == 0, failure(result)
    fields: dict[str, str] = {}
    for key, _, value in (line.partition(":") for line in result.stdout.splitlines()):
        if value.strip():
            fields.setdefault(key.strip(), value.strip())
    assert fields["Name"] == name
    assert fields["ProviderID"] == node["spec"]["providerID"]
    assert fields["Kubelet Version"].startswith(f"v{payments_prod.version}.")


def test_kubectl_auth_can_i_list_pods_answers_yes_for_a_cluster_admin(payments_prod):
    result = payments_prod.kubectl("auth", "can-i", "list", "pods")
    assert result.returncode == 0, failure(result)
    assert result.stdout.strip() == "yes"


def test_kubectl_auth_whoami_names_the_caller_of_the_token(payments_prod):
    result = payments_prod.kubectl("auth", "whoami")
    assert result.returncode == 0, failure(result)
    # The access entry's default username for a role: the STS session ARN of whoever assumed it.
    role = PLATFORM_ADMIN_ROLE_ARN.rpartition("/")[2]
    assert f"arn:aws:sts::123456789012:assumed-role/{role}/" in result.stdout
