"""The Kubernetes client factory: EksHook's kubeconfig, the official client, files 0600 and removed."""

from __future__ import annotations

import stat
from contextlib import contextmanager
from pathlib import Path

from eks_runbooks.hooks.eks import EksRunbookHook
from eks_runbooks.kube_client import eks_kubernetes_client


class RecordingHook(EksRunbookHook):
    """EksRunbookHook that remembers the kubeconfig and credentials files it wrote."""

    files: list[Path]

    @contextmanager
    def generate_config_file_with_credentials(self, eks_cluster_name, pod_namespace):
        with super().generate_config_file_with_credentials(eks_cluster_name, pod_namespace) as paths:
            self.files = [Path(path) for path in paths]
            yield paths


def test_typed_client_lists_nodes_at_the_cluster_version(demo_fleet):
    from kubernetes.client import CoreV1Api

    with eks_kubernetes_client("payments-prod", region_name="us-east-1") as api_client:
        nodes = CoreV1Api(api_client).list_node().items
    assert len(nodes) == 5
    assert {node.status.node_info.kubelet_version[:6] for node in nodes} == {"v1.32."}
    assert {node.metadata.labels["eks.amazonaws.com/nodegroup"] for node in nodes} == {"general", "batch"}


def test_dynamic_client_discovers_and_reads_workloads(demo_fleet):
    from kubernetes.dynamic import DynamicClient

    with eks_kubernetes_client("payments-prod", region_name="us-east-1") as api_client:
        deployments = DynamicClient(api_client).resources.get(api_version="apps/v1", kind="Deployment")
        ledger = deployments.get(name="ledger-api", namespace="payments")
    assert ledger.status.readyReplicas == 3


def test_kubeconfig_and_credentials_are_private_while_used_and_removed_after(demo_fleet):
    from kubernetes.client import VersionApi

    hook = RecordingHook(aws_conn_id="aws_default", region_name="us-east-1")
    with eks_kubernetes_client("payments-prod", hook=hook) as api_client:
        assert VersionApi(api_client).get_code().minor == "32"
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in hook.files}
        assert len(modes) == 2 and set(modes.values()) == {0o600}, modes
        assert "testing" in hook.files[1].read_text()  # the credentials file: never in the kubeconfig itself
        assert "testing" not in hook.files[0].read_text()
    assert not any(path.exists() for path in hook.files)


def test_exec_plugin_mints_a_token_even_when_path_lacks_the_airflow_interpreter(demo_fleet, monkeypatch):
    import json
    import os
    import subprocess

    import yaml

    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # a worker whose PATH finds another python3.X first, or none
    hook = RecordingHook(aws_conn_id="aws_default", region_name="us-east-1")
    with eks_kubernetes_client("payments-prod", hook=hook):
        exec_config = yaml.safe_load(hook.files[0].read_text())["users"][0]["user"]["exec"]
        env = os.environ | {item["name"]: item["value"] for item in exec_config.get("env") or []}
        minted = subprocess.run(
            [exec_config["command"], *exec_config["args"]], env=env, capture_output=True, text=True, timeout=60
        )
    assert minted.returncode == 0, minted.stderr
    assert json.loads(minted.stdout)["status"]["token"].startswith("k8s-aws-v1.")
