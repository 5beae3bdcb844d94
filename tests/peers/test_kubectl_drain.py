"""`kubectl drain` of a demo cluster's node, as a platform engineer runs it before replacing the node.

kubectl is the one the machine's dispatcher picks for the cluster's version (1.32 for payments-prod), configured
by `aws eks update-kubeconfig --role-arn` for the platform admin role. The drain runs against a sandbox of its
own: a cordoned node would change what the other peers tests read from the shared one.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.helpers import PLATFORM_ADMIN_ROLE_ARN, VENV_BIN, serving_sandbox

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.peers,
    pytest.mark.wall_clock,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed on this machine"),
]

CLUSTER, REGION = "payments-prod", "us-east-1"


@dataclass(frozen=True)
class Cluster:
    """The cluster's API read with urllib (CA and token from the AWS API), and kubectl configured for it."""

    endpoint: str
    kubectl_env: dict[str, str]
    token: str
    ssl_context: ssl.SSLContext

    def api(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(self.endpoint + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, context=self.ssl_context, timeout=30) as response:
            return json.load(response)

    def kubectl(self, *arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["kubectl", *arguments], capture_output=True, text=True, env=self.kubectl_env, timeout=120
        )


@pytest.fixture(scope="module")
def payments_prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("kubectl-drain")
    with serving_sandbox(workdir / "serve.log") as url:
        aws_env = os.environ | {"AWS_ENDPOINT_URL": url, "AWS_DEFAULT_REGION": REGION, "AWS_PAGER": ""}
        kubeconfig = workdir / "kubeconfig"
        aws, as_admin = [str(VENV_BIN / "aws"), "eks"], ["--role-arn", PLATFORM_ADMIN_ROLE_ARN]
        update = [*aws, "update-kubeconfig", "--name", CLUSTER, "--kubeconfig", str(kubeconfig), *as_admin]
        subprocess.run(update, env=aws_env, capture_output=True, check=True, timeout=60)
        get_token = [*aws, "get-token", "--cluster-name", CLUSTER, *as_admin]
        minted = subprocess.run(get_token, env=aws_env, capture_output=True, check=True, timeout=60)
        description = boto3.client("eks", endpoint_url=url, region_name=REGION).describe_cluster(name=CLUSTER)
        cluster = description["cluster"]
        ca = base64.b64decode(cluster["certificateAuthority"]["data"]).decode()
        yield Cluster(
            cluster["endpoint"],
            aws_env | {"KUBECONFIG": str(kubeconfig)},
            json.loads(minted.stdout)["status"]["token"],
            ssl.create_default_context(cadata=ca),
        )


def evictable_pods(cluster: Cluster, node: str) -> set[str]:
    """namespace/name of the pods on ``node`` a drain with --ignore-daemonsets evicts."""
    pods = cluster.api(f"/api/v1/pods?fieldSelector=spec.nodeName%3D{node}")["items"]
    return {
        f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        for pod in pods
        if not any(owner["kind"] == "DaemonSet" for owner in pod["metadata"].get("ownerReferences", []))
    }


def test_kubectl_drain_cordons_the_node_and_evicts_its_pods_but_daemonsets(payments_prod):
    nodes = payments_prod.api("/api/v1/nodes")["items"]
    node = max(nodes, key=lambda n: len(evictable_pods(payments_prod, n["metadata"]["name"])))["metadata"]["name"]
    before = evictable_pods(payments_prod, node)
    assert before, "the demo cluster runs workload pods on its nodes"

    result = payments_prod.kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data")

    assert result.returncode == 0, f"kubectl drain exited {result.returncode}: {result.stderr.strip()}"
    assert f"node/{node} drained" in result.stdout
    evicted = {line.removeprefix("evicting pod ") for line in result.stdout.splitlines() if line.startswith("evicting")}
    assert evicted == before
    assert payments_prod.api(f"/api/v1/nodes/{node}")["spec"].get("unschedulable") is True
    assert evictable_pods(payments_prod, node) == set()
