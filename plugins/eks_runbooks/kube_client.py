"""The one way runbooks talk to a cluster's Kubernetes API: a client built on EksHook's kubeconfig.

``EksHook.generate_config_file_with_credentials`` writes a kubeconfig and a credentials file (both 0600)
whose exec plugin mints an EKS token from the hook's AWS session, and removes both when its context ends.
The exec plugin runs ``python3.X -m airflow.providers.amazon.aws.utils.eks_get_token`` through ``sh``: that
``python3.X`` must be the interpreter that has Airflow installed, which a virtualenv's is not always first on
PATH. So the kubeconfig's exec section gets its own PATH, with this interpreter's directory first — scoped to
this kubeconfig, unlike changing the process environment, which concurrent tasks or triggers would share.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from eks_runbooks.hooks.eks import EksRunbookHook


@contextmanager
def eks_kubernetes_client(
    cluster_name: str,
    *,
    aws_conn_id: str | None = "aws_default",
    region_name: str | None = None,
    hook: EksRunbookHook | None = None,
) -> Iterator[ApiClient]:
    """
    A Kubernetes ``ApiClient`` for an EKS cluster, authenticated with the AWS connection's identity.

    Use it for both typed (``CoreV1Api(api_client)``) and dynamic (``DynamicClient(api_client)``) access.
    The kubeconfig and credentials files exist only inside the ``with`` block.

    :param cluster_name: The EKS cluster.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region_name. If not specified then the default boto3 behaviour is used.
    :param hook: An existing hook to reuse instead of ``aws_conn_id``/``region_name``.
    """
    from kubernetes import config

    from eks_runbooks.hooks.eks import EksRunbookHook

    hook = hook or EksRunbookHook(aws_conn_id=aws_conn_id, region_name=region_name)
    with hook.generate_config_file_with_credentials(eks_cluster_name=cluster_name, pod_namespace=None) as (
        kubeconfig,
        _credentials,
    ):
        pin_exec_interpreter(Path(kubeconfig))
        api_client = config.new_client_from_config(config_file=kubeconfig)
        try:
            yield api_client
        finally:
            api_client.close()


def pin_exec_interpreter(kubeconfig: Path) -> None:
    """Give every exec plugin of a kubeconfig a PATH that finds this interpreter first (file stays 0600)."""
    import yaml

    document = yaml.safe_load(kubeconfig.read_text())
    path = os.pathsep.join(filter(None, [str(Path(sys.executable).parent), os.environ.get("PATH")]))
    for user in document.get("users", []):
        exec_config = user.get("user", {}).get("exec")
        if exec_config is not None:
            exec_config["env"] = [item for item in exec_config.get("env") or [] if item.get("name") != "PATH"]
            exec_config["env"].append({"name": "PATH", "value": path})
    with kubeconfig.open("w") as rewritten:  # same file, same 0600 mode: truncated and rewritten in place
        yaml.safe_dump(document, rewritten)
