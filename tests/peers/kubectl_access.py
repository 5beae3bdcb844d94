"""What the kubectl peer tests share: a demo cluster configured as a platform engineer configures it."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from tests.helpers import PLATFORM_ADMIN_ROLE_ARN, VENV_BIN


@dataclass(frozen=True)
class KubectlCluster:
    """A cluster as the AWS API reports it, its API read with urllib (CA and token from the AWS API), and
    kubectl configured for it by `aws eks update-kubeconfig`."""

    description: dict[str, Any]
    kubectl_env: dict[str, str]
    token: str
    ssl_context: ssl.SSLContext

    @property
    def version(self) -> str:
        return self.description["version"]

    def api(self, path: str) -> dict[str, Any]:
        """GET ``path`` of the endpoint DescribeCluster reports, verified with its CA, with an EKS token."""
        request = urllib.request.Request(
            self.description["endpoint"] + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, context=self.ssl_context, timeout=30) as response:
            return json.load(response)

    def kubectl(self, *arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["kubectl", *arguments], capture_output=True, text=True, env=self.kubectl_env, timeout=120
        )


def kubectl_cluster(endpoint_url: str, name: str, region: str, workdir: Path) -> KubectlCluster:
    """``name`` of the sandbox at ``endpoint_url``, as the platform admin role reaches it (the role the demo
    clusters' access entries let in): kubeconfig from `aws eks update-kubeconfig --role-arn`, token from
    `aws eks get-token`."""
    aws_env = os.environ | {"AWS_ENDPOINT_URL": endpoint_url, "AWS_DEFAULT_REGION": region, "AWS_PAGER": ""}
    kubeconfig = workdir / "kubeconfig"
    aws, as_admin = [str(VENV_BIN / "aws"), "eks"], ["--role-arn", PLATFORM_ADMIN_ROLE_ARN]
    update = [*aws, "update-kubeconfig", "--name", name, "--kubeconfig", str(kubeconfig), *as_admin]
    subprocess.run(update, env=aws_env, capture_output=True, check=True, timeout=60)
    get_token = [*aws, "get-token", "--cluster-name", name, *as_admin]
    minted = subprocess.run(get_token, env=aws_env, capture_output=True, check=True, timeout=60)
    description = boto3.client("eks", endpoint_url=endpoint_url, region_name=region).describe_cluster(name=name)
    ca = base64.b64decode(description["cluster"]["certificateAuthority"]["data"]).decode()
    return KubectlCluster(
        description["cluster"],
        aws_env | {"KUBECONFIG": str(kubeconfig)},
        json.loads(minted.stdout)["status"]["token"],
        ssl.create_default_context(cadata=ca),
    )
