"""`eks-sandbox serve` as users meet it: the AWS CLI, kubectl, the control API, a clean stop."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.helpers import PLATFORM_ADMIN_ROLE_ARN, VENV_BIN, free_port, sandbox_control, wait_for_http

pytestmark = pytest.mark.e2e

POD_IDENTITY_ENV = "AWS_CONTAINER_CREDENTIALS_FULL_URI"


def aws(endpoint: str, *args: str, region: str = "us-east-1", check: bool = True) -> subprocess.CompletedProcess:
    # One attempt: the CLI would otherwise retry an injected throttle with backoff, for seconds.
    env = os.environ | {
        "AWS_DEFAULT_REGION": region,
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
    }
    return subprocess.run(
        [str(VENV_BIN / "aws"), "--endpoint-url", endpoint, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        check=check,
        timeout=60,
    )


def test_list_clusters_shows_the_demo_fleet(sandbox_process):
    clusters = json.loads(aws(sandbox_process, "eks", "list-clusters").stdout)["clusters"]
    assert sorted(clusters) == ["analytics-staging", "orders-prod", "payments-prod"]
    assert json.loads(aws(sandbox_process, "eks", "list-clusters", region="us-west-2").stdout)["clusters"] == [
        "edge-dev"
    ]


def test_version_update_runs_in_progress_then_successful_and_refuses_a_second(sandbox_process):
    def describe_update(update_id: str) -> str:
        described = aws(
            sandbox_process, "eks", "describe-update", "--name", "analytics-staging", "--update-id", update_id
        )
        return json.loads(described.stdout)["update"]["status"]

    # Simulated time stands still while three CLI calls (a second or more each on a loaded machine) look at the
    # update: at --time-scale 0.01 it would otherwise end within their six wall seconds.
    sandbox_control(sandbox_process, "POST", "/clock/pause", {})
    try:
        update = json.loads(
            aws(
                sandbox_process,
                "eks",
                "update-cluster-version",
                "--name",
                "analytics-staging",
                "--kubernetes-version",
                "1.32",
            ).stdout
        )["update"]
        assert update["status"] == "InProgress"
        second = aws(
            sandbox_process,
            "eks",
            "update-cluster-version",
            "--name",
            "analytics-staging",
            "--kubernetes-version",
            "1.32",
            check=False,
        )
        assert second.returncode != 0 and "ResourceInUseException" in second.stderr
        assert describe_update(update["id"]) == "InProgress"
    finally:
        sandbox_control(sandbox_process, "POST", "/clock/resume", {})
    deadline = time.monotonic() + 60
    status = "InProgress"
    while status == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.5)
        status = describe_update(update["id"])
    assert status == "Successful"
    cluster = json.loads(aws(sandbox_process, "eks", "describe-cluster", "--name", "analytics-staging").stdout)
    assert cluster["cluster"]["version"] == "1.32"


def test_skipping_a_minor_version_is_refused(sandbox_process):
    result = aws(
        sandbox_process,
        "eks",
        "update-cluster-version",
        "--name",
        "payments-prod",
        "--kubernetes-version",
        "1.34",
        check=False,
    )
    assert result.returncode != 0
    assert "InvalidParameterException" in result.stderr and "1.32" in result.stderr and "1.34" in result.stderr


def test_addon_catalogue_names_default_versions(sandbox_process):
    catalogue = json.loads(
        aws(sandbox_process, "eks", "describe-addon-versions", "--kubernetes-version", "1.32").stdout
    )["addons"]
    names = {addon["addonName"] for addon in catalogue}
    assert {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"} <= names
    for addon in catalogue:
        defaults = [
            version["addonVersion"]
            for version in addon["addonVersions"]
            for compatibility in version["compatibilities"]
            if compatibility["clusterVersion"] == "1.32" and compatibility["defaultVersion"]
        ]
        assert len(defaults) == 1, f"{addon['addonName']} has {len(defaults)} default versions for 1.32"


def test_the_cluster_endpoint_is_https_on_its_own_port_and_verifies_with_the_reported_ca(sandbox_process):
    cluster = json.loads(aws(sandbox_process, "eks", "describe-cluster", "--name", "payments-prod").stdout)["cluster"]
    endpoint, aws_apis = urlsplit(cluster["endpoint"]), urlsplit(sandbox_process)
    assert endpoint.scheme == "https" and endpoint.hostname == aws_apis.hostname and endpoint.path == ""
    assert endpoint.port != aws_apis.port
    trusted = ssl.create_default_context(cadata=base64.b64decode(cluster["certificateAuthority"]["data"]).decode())
    with urllib.request.urlopen(f"{cluster['endpoint']}/version", context=trusted, timeout=30) as response:
        assert json.load(response)["minor"] == "32"  # public: no token needed
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{cluster['endpoint']}/api/v1/nodes", context=trusted, timeout=30)
    assert anonymous.value.code == 401
    with pytest.raises(urllib.error.URLError) as untrusted:
        urllib.request.urlopen(f"{cluster['endpoint']}/version", context=ssl.create_default_context(), timeout=30)
    assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)


def update_kubeconfig_as_platform_admin(url: str, cluster: str, kubeconfig: Path) -> None:
    """``aws eks update-kubeconfig --role-arn``: kubectl's tokens come from the demo fleet's admin role, which the
    cluster grants cluster-admin (the tests' plain credentials have no access to the demo clusters)."""
    aws(
        url,
        "eks",
        "update-kubeconfig",
        "--name",
        cluster,
        "--kubeconfig",
        str(kubeconfig),
        "--role-arn",
        PLATFORM_ADMIN_ROLE_ARN,
    )


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed on this machine")
def test_kubectl_lists_the_nodes_of_a_demo_cluster_at_its_version(sandbox_process, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    update_kubeconfig_as_platform_admin(sandbox_process, "payments-prod", kubeconfig)
    # kubectl verifies the server against the kubeconfig's CA and sends the token `aws eks get-token` mints.
    (entry,) = yaml.safe_load(kubeconfig.read_text())["clusters"]
    assert entry["cluster"]["server"].startswith("https://") and entry["cluster"]["certificate-authority-data"]
    assert "insecure-skip-tls-verify" not in entry["cluster"]
    (user,) = yaml.safe_load(kubeconfig.read_text())["users"]
    assert {"eks", "get-token"} <= set(user["user"]["exec"]["args"])
    env = os.environ | {
        "KUBECONFIG": str(kubeconfig),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": sandbox_process,
    }
    nodes = subprocess.run(
        ["kubectl", "get", "nodes", "-o", "json"], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    versions = {node["status"]["nodeInfo"]["kubeletVersion"] for node in json.loads(nodes.stdout)["items"]}
    assert len(json.loads(nodes.stdout)["items"]) == 5  # general (3) + batch (2)
    assert all(version.startswith("v1.32.") for version in versions), versions
    table = subprocess.run(
        ["kubectl", "get", "nodes"], capture_output=True, text=True, env=env, timeout=60, check=True
    ).stdout
    assert "Ready" in table and "v1.32." in table
    # The endpoint has no path, so kubectl's absolute paths reach the API server itself.
    raw = subprocess.run(
        ["kubectl", "get", "--raw", "/version"], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert json.loads(raw.stdout)["minor"] == "32"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed on this machine")
def test_kubectl_rollout_restart_after_a_pod_identity_association_gives_new_pods_credentials(sandbox_process, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    update_kubeconfig_as_platform_admin(sandbox_process, "payments-prod", kubeconfig)
    env = os.environ | {
        "KUBECONFIG": str(kubeconfig),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": sandbox_process,
    }

    def coredns_pods() -> dict[str, set[str]]:
        """Running coredns pods of payments-prod → the env var names of their containers."""
        listed = subprocess.run(
            ["kubectl", "get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns", "-o", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        )
        return {
            pod["metadata"]["name"]: {var["name"] for c in pod["spec"]["containers"] for var in c.get("env", [])}
            for pod in json.loads(listed.stdout)["items"]
            if not pod["metadata"].get("deletionTimestamp")
        }

    # coredns (an add-on Deployment of the demo fleet) has no association yet: its pods carry no credentials.
    before = coredns_pods()
    assert before and not any(POD_IDENTITY_ENV in names for names in before.values())
    # The role a team creates for it first: EKS refuses a role that does not trust pods.eks.amazonaws.com.
    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ]
    }
    aws(
        sandbox_process,
        "iam",
        "create-role",
        "--role-name",
        "coredns",
        "--assume-role-policy-document",
        json.dumps(trust),
    )
    association = json.loads(
        aws(
            sandbox_process,
            "eks",
            "create-pod-identity-association",
            "--cluster-name",
            "payments-prod",
            "--namespace",
            "kube-system",
            "--service-account",
            "coredns",
            "--role-arn",
            "arn:aws:iam::123456789012:role/coredns",
        ).stdout
    )["association"]
    try:
        subprocess.run(
            ["kubectl", "rollout", "restart", "deployment/coredns", "-n", "kube-system"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        )
        after = coredns_pods()
        assert len(after) == len(before) and not set(after) & set(before)
        assert all(POD_IDENTITY_ENV in names for names in after.values()), after
    finally:
        aws(
            sandbox_process,
            "eks",
            "delete-pod-identity-association",
            "--cluster-name",
            "payments-prod",
            "--association-id",
            association["associationId"],
        )


def test_injected_throttling_reaches_the_aws_cli_as_throttling(sandbox_process):
    _, rule = sandbox_control(
        sandbox_process,
        "POST",
        "/faults",
        {
            "kind": "error",
            "service": "eks",
            "operation": "DescribeCluster",
            "error": "ThrottlingException",
            "match": {"name": "payments-prod"},
            "count": 5,
        },
    )
    try:
        result = aws(sandbox_process, "eks", "describe-cluster", "--name", "payments-prod", check=False)
        assert result.returncode != 0 and "ThrottlingException" in result.stderr
        assert aws(sandbox_process, "eks", "describe-cluster", "--name", "analytics-staging").returncode == 0
    finally:
        sandbox_control(sandbox_process, "DELETE", f"/faults/{rule['id']}")
    assert aws(sandbox_process, "eks", "describe-cluster", "--name", "payments-prod").returncode == 0


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path):
    port = free_port()
    process = subprocess.Popen(
        [str(VENV_BIN / "eks-sandbox"), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    wait_for_http(f"http://127.0.0.1:{port}/_sandbox/health", process=process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert f"http://127.0.0.1:{port}" in output and "stopped" in output


def test_serve_explains_a_port_already_in_use(sandbox_process):
    port = sandbox_process.rpartition(":")[2]
    result = subprocess.run(
        [str(VENV_BIN / "eks-sandbox"), "serve", "--port", port], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
