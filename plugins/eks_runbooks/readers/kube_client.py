"""The one way runbooks talk to a cluster's Kubernetes API: a client authenticated with an EKS token.

An EKS token is a presigned STS ``GetCallerIdentity`` URL (``k8s-aws-v1.<base64>``), valid 15 minutes; the
cluster maps the caller's IAM identity through its access entries (eks-facts §5). The token is minted here,
in the task's process, from the Airflow connection's session (``EksRunbookHook.kubernetes_token``, signed as the
amazon provider's ``fetch_access_token_for_cluster`` signs it) and re-minted before it expires.

Why not ``EksHook.generate_config_file_with_credentials``: its kubeconfig's exec plugin starts a new Python
that imports Airflow for every client (about 3 seconds each, measured), and it writes the AWS credentials to a
file. Here no credential ever touches the disk: the only file is the cluster's CA certificate (public data,
still 0600), removed when the ``with`` block ends.
"""

from __future__ import annotations

import base64
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from eks_runbooks.hooks.eks import EksRunbookHook

#: Tokens are valid 15 minutes (presigned URL expiry); mint a new one well before.
TOKEN_LIFETIME_SECONDS = 10 * 60
BEARER = "BearerToken"


@contextmanager
def eks_kubernetes_client(
    cluster_name: str,
    *,
    aws_conn_id: str | None = "aws_default",
    region_name: str | None = None,
    hook: EksRunbookHook | None = None,
    cluster: Mapping[str, Any] | None = None,
) -> Iterator[ApiClient]:
    """
    A Kubernetes ``ApiClient`` for an EKS cluster, authenticated with the AWS connection's identity.

    Use it for both typed (``CoreV1Api(api_client)``) and dynamic (``DynamicClient(api_client)``) access.

    :param cluster_name: The EKS cluster.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region_name. If not specified then the default boto3 behaviour is used.
    :param hook: An existing hook to reuse instead of ``aws_conn_id``/``region_name``.
    :param cluster: The cluster's DescribeCluster answer when the caller has it already (no second call).
    """
    from kubernetes.client import ApiClient, Configuration

    from eks_runbooks.hooks.eks import EksRunbookHook

    hook = hook or EksRunbookHook(aws_conn_id=aws_conn_id, region_name=region_name)
    cluster = cluster or hook.get_cluster(cluster_name)
    token = EksTokenSource(hook, cluster_name)
    with _private_file(base64.b64decode(cluster["certificateAuthority"]["data"]), suffix=".ca.crt") as ca_file:
        configuration = Configuration(host=cluster["endpoint"])
        configuration.ssl_ca_cert = ca_file
        # kubernetes-client 36 reads the bearer token (and its prefix) under "BearerToken".
        configuration.api_key_prefix[BEARER] = "Bearer"
        configuration.api_key[BEARER] = token.current()
        configuration.refresh_api_key_hook = token.refresh
        api_client = ApiClient(configuration)
        try:
            yield api_client
        finally:
            api_client.close()


class EksTokenSource:
    """Mints EKS tokens for one cluster from the hook's AWS session, a new one when the last is old."""

    def __init__(self, hook: EksRunbookHook, cluster_name: str) -> None:
        self._hook = hook
        self._cluster_name = cluster_name
        self._token = ""
        self._minted_at = 0.0

    def current(self) -> str:
        """A token with at least five minutes left."""
        if time.monotonic() - self._minted_at > TOKEN_LIFETIME_SECONDS or not self._token:
            self._token = self._mint()
            self._minted_at = time.monotonic()
        return self._token

    def refresh(self, configuration: Any) -> None:
        """``Configuration.refresh_api_key_hook``: called before every request."""
        configuration.api_key[BEARER] = self.current()

    def _mint(self) -> str:
        return self._hook.kubernetes_token(self._cluster_name)


@contextmanager
def _private_file(data: bytes, *, suffix: str) -> Iterator[str]:
    """A temporary file only this user can read, removed when the block ends."""
    fd, path = tempfile.mkstemp(prefix="eks-runbooks-", suffix=suffix)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        yield path
    finally:
        Path(path).unlink(missing_ok=True)
