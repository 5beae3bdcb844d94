"""The Kubernetes client factory: an EKS token minted in-process, the CA file 0600 and removed."""

from __future__ import annotations

import base64
import stat
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from eks_runbooks.hooks.eks import EksRunbookHook
from eks_runbooks.readers.kube_client import TOKEN_LIFETIME_SECONDS, EksTokenSource, eks_kubernetes_client


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


def test_only_the_ca_certificate_touches_the_disk_private_while_used_and_removed_after(demo_fleet, monkeypatch):
    from kubernetes.client import VersionApi

    folder = Path(tempfile.mkdtemp())
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    with eks_kubernetes_client("payments-prod", region_name="us-east-1") as api_client:
        assert VersionApi(api_client).get_code().minor == "32"
        files = list(folder.iterdir())
        assert [stat.S_IMODE(path.stat().st_mode) for path in files] == [0o600]
        assert files[0].read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert "testing" not in files[0].read_text()  # no AWS credential is ever written
    assert list(folder.iterdir()) == []


def test_token_is_a_presigned_regional_get_caller_identity_for_the_cluster(demo_fleet):
    hook = EksRunbookHook(aws_conn_id="aws_default", region_name="us-east-1")
    token = EksTokenSource(hook, "payments-prod").current()

    assert token.startswith("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(token.removeprefix("k8s-aws-v1.") + "==").decode()
    query = parse_qs(urlsplit(url).query)
    assert query["Action"] == ["GetCallerIdentity"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0]
    assert query["X-Amz-Credential"][0].split("/")[2:4] == ["us-east-1", "sts"]


def test_a_token_is_reminted_before_it_expires(demo_fleet, monkeypatch):
    import eks_runbooks.readers.kube_client as kube_client

    clock = [1000.0]
    monkeypatch.setattr(kube_client.time, "monotonic", lambda: clock[0])
    source = EksTokenSource(EksRunbookHook(aws_conn_id="aws_default", region_name="us-east-1"), "payments-prod")
    minted = []
    monkeypatch.setattr(source, "_mint", lambda: minted.append(clock[0]) or f"token-{len(minted)}")

    assert source.current() == source.current() == "token-1"
    clock[0] += TOKEN_LIFETIME_SECONDS + 1
    assert source.current() == "token-2"


def test_the_reader_does_not_count_request_only_kinds_as_listable(demo_fleet):
    """SelfSubjectReview v1beta1 is served on 1.32 (removed in 1.33) but for create only: listing it answers 405."""
    from eks_runbooks.readers.cluster import KubernetesReader

    with eks_kubernetes_client("payments-prod", region_name="us-east-1") as api_client:
        reader = KubernetesReader(api_client)
        assert reader.serves("v1", "Pod")
        assert not reader.serves("authentication.k8s.io/v1beta1", "SelfSubjectReview")
        assert not reader.serves("authorization.k8s.io/v1", "SelfSubjectAccessReview")
