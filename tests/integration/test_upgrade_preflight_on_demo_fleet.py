"""The upgrade pre-flight gates on real (simulated) clusters: AWS and Kubernetes state read through the APIs,
decided by the domain core — the demo fleet's clusters each block (or pass) for the reasons they were built with.
"""

from __future__ import annotations

import pytest

from eks_runbooks.core.upgrade.plan import Hop
from eks_runbooks.core.upgrade.preflight import load_preflight_catalogue, run_preflight
from eks_runbooks.hooks.eks import EksRunbookHook
from eks_runbooks.readers.cluster import KubernetesReader, gather_preflight_inputs
from eks_runbooks.readers.kube_client import eks_kubernetes_client


def preflight(cluster_name: str, region: str, hop: Hop, **options):
    hook = EksRunbookHook(aws_conn_id="aws_default", region_name=region)
    with eks_kubernetes_client(cluster_name, hook=hook) as api_client:
        inputs = gather_preflight_inputs(
            hook, KubernetesReader(api_client), cluster_name, hop, waiter_delay=0.1, **options
        )
    return run_preflight(inputs, load_preflight_catalogue())


def blocking(result) -> dict[str, list[str]]:
    return {finding.check_id: list(finding.objects) for finding in result.blocking}


@pytest.mark.usefixtures("demo_fleet")
def test_hardened_cluster_passes_every_gate_of_its_next_hop():
    result = preflight("payments-prod", "us-east-1", Hop("1.32", "1.33"))
    assert result.passed, blocking(result)
    assert {finding.check_id for finding in result.findings} == {spec.id for spec in load_preflight_catalogue()}


@pytest.mark.usefixtures("demo_fleet")
def test_neglected_cluster_is_stopped_by_its_helm_flowschema_and_its_pdb():
    result = preflight("analytics-staging", "us-east-1", Hop("1.31", "1.32"))
    found = blocking(result)
    assert not result.passed
    assert any("FlowSchema/analytics-batch" in name for name in found["K8S-REMOVED-APIS"]), found
    assert any("analytics/PodDisruptionBudget/report-api" in name for name in found["K8S-PDB-BLOCKS-DRAIN"]), found


@pytest.mark.usefixtures("demo_fleet")
def test_forcing_the_drain_turns_the_pdb_into_a_warning_but_not_the_removed_api():
    found = blocking(preflight("analytics-staging", "us-east-1", Hop("1.31", "1.32"), force_node_drain=True))
    assert "K8S-PDB-BLOCKS-DRAIN" not in found and "K8S-REMOVED-APIS" in found


@pytest.mark.usefixtures("demo_fleet")
def test_cluster_with_exhausted_subnets_is_stopped_before_its_control_plane():
    found = blocking(preflight("edge-dev", "us-west-2", Hop("1.33", "1.34")))
    assert set(found) == {"EKS-SUBNET-FREE-IPS"}, found


def register_node(name: str, kubelet: str, labels: dict[str, str]) -> None:
    """A node that joins the way a kubelet outside any managed node group does: it creates its Node object, then
    reports its status (the status subresource)."""
    from kubernetes import client

    hook = EksRunbookHook(aws_conn_id="aws_platform_admin", region_name="us-east-1")
    with eks_kubernetes_client("payments-prod", hook=hook) as api_client:
        core = client.CoreV1Api(api_client)
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}
        core.create_node(node, _preload_content=False)
        status = {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "nodeInfo": {"kubeletVersion": kubelet, "osImage": "Amazon Linux 2023.6.20250107"},
        }
        core.patch_node_status(name, {"status": status}, _preload_content=False)


@pytest.mark.usefixtures("demo_fleet")
def test_nodes_outside_managed_node_groups_are_gated_by_their_kubelet_and_listed_for_their_owner():
    register_node("ip-10-0-9-9.ec2.internal", "v1.29.15-eks-473151a", {"kubernetes.io/os": "linux"})
    register_node("ip-10-0-9-10.ec2.internal", "v1.32.3-eks-473151a", {"karpenter.sh/nodepool": "default"})

    result = preflight("payments-prod", "us-east-1", Hop("1.32", "1.33"))

    # 1.29 is four minors behind 1.33: the skew gate reads the kubelet of a node no node group owns.
    assert blocking(result)["EKS-KUBELET-SKEW"] == ["node/ip-10-0-9-9.ec2.internal"]
    follow_ups = {finding.detail for finding in result.follow_ups}
    assert any(
        "self-managed node(s) are owner-managed" in detail and "ip-10-0-9-9.ec2.internal (v1.29.15" in detail
        for detail in follow_ups
    ), follow_ups
    assert any(
        "Karpenter node(s) are owner-managed" in detail and "ip-10-0-9-10.ec2.internal (v1.32.3" in detail
        for detail in follow_ups
    ), follow_ups


APF = "flowcontrol.apiserver.k8s.io"


def create_flow_schema(cluster_name: str, region: str, name: str, api_version: str) -> None:
    """Create a FlowSchema through ``api_version``, as an engineer's kubectl would."""
    from kubernetes.dynamic import DynamicClient

    body = {
        "apiVersion": api_version,
        "kind": "FlowSchema",
        "metadata": {"name": name},
        "spec": {"priorityLevelConfiguration": {"name": "workload-low"}, "matchingPrecedence": 2000},
    }
    with eks_kubernetes_client(cluster_name, aws_conn_id="aws_platform_admin", region_name=region) as api_client:
        DynamicClient(api_client).resources.get(api_version=api_version, kind="FlowSchema").create(body=body)


def removed_api_outcomes(result) -> dict[str, list[str]]:
    """K8S-REMOVED-APIS objects by status."""
    found: dict[str, list[str]] = {}
    for finding in result.findings:
        if finding.check_id == "K8S-REMOVED-APIS":
            found.setdefault(str(finding.status), []).extend(finding.objects)
    return found


@pytest.mark.usefixtures("demo_fleet")
def test_flow_schemas_only_served_through_v1beta3_do_not_block_a_1_31_cluster_going_to_1_32():
    create_flow_schema("analytics-staging", "us-east-1", "tenant-a", f"{APF}/v1")
    first = removed_api_outcomes(preflight("analytics-staging", "us-east-1", Hop("1.31", "1.32")))

    assert first["FAIL"] == ["FlowSchema/analytics-batch"], first  # the Helm release's, and only it
    assert "FlowSchema/tenant-a" in first["INFO"]
    assert not any(name in first["INFO"] for name in ("FlowSchema/catch-all", "FlowSchema/exempt"))
    # The scan read nothing through v1beta3 itself: EKS Insights, refreshed, names no client of it.
    again = removed_api_outcomes(preflight("analytics-staging", "us-east-1", Hop("1.31", "1.32")))
    assert "WARN" not in again, again


@pytest.mark.usefixtures("demo_fleet")
def test_a_flow_schema_written_through_v1beta3_blocks_naming_its_field_manager():
    create_flow_schema("analytics-staging", "us-east-1", "tenant-b", f"{APF}/v1beta3")
    result = preflight("analytics-staging", "us-east-1", Hop("1.31", "1.32"))

    failures = [f for f in result.blocking if f.check_id == "K8S-REMOVED-APIS" and "tenant-b" in f.detail]
    assert [f.objects for f in failures] == [("FlowSchema/tenant-b",)]
    assert "managedFields:" in failures[0].detail and f"{APF}/v1beta3" in failures[0].detail
