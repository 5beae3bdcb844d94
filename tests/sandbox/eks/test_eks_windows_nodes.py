"""Windows managed node groups: Windows nodes, on which only pods selecting Windows run."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.eks.kube_api import KubeApi, deployment

LINUX_ONLY = {"nodeSelector": {"kubernetes.io/os": "linux"}}


@pytest.fixture
def mixed(simulated_fleet, tmp_path):
    """prod (1.31) with one Linux node and two Windows Server 2022 nodes."""
    simulated_fleet.create_cluster()
    simulated_fleet.create_nodegroup(name="linux", size=1)
    simulated_fleet.create_nodegroup(name="windows", size=2, amiType="WINDOWS_CORE_2022_x86_64")
    return KubeApi(simulated_fleet, "prod", tmp_path)


def _os_of_nodes(kube):
    return {n["metadata"]["name"]: n["metadata"]["labels"]["kubernetes.io/os"] for n in kube.nodes()}


def test_a_windows_node_group_registers_windows_nodes(simulated_fleet, mixed):
    windows = mixed.nodes("eks.amazonaws.com/nodegroup=windows")
    assert len(windows) == 2
    # The AMI the nodes run is the one SSM names for Windows Server 2022 Core at this version.
    recommended = simulated_fleet.client("ssm").get_parameter(
        Name="/aws/service/ami-windows-latest/Windows_Server-2022-English-Core-EKS_Optimized-1.31/image_id"
    )["Parameter"]["Value"]
    assert {n["metadata"]["labels"]["eks.amazonaws.com/nodegroup-image"] for n in windows} == {recommended}
    for node in windows:
        labels = node["metadata"]["labels"]
        assert (labels["kubernetes.io/os"], labels["node.kubernetes.io/windows-build"]) == ("windows", "10.0.20348")
        assert node["status"]["nodeInfo"]["operatingSystem"] == "windows"
    (linux,) = mixed.nodes("eks.amazonaws.com/nodegroup=linux")
    assert linux["metadata"]["labels"]["kubernetes.io/os"] == "linux"
    assert "node.kubernetes.io/windows-build" not in linux["metadata"]["labels"]


def test_only_pods_selecting_windows_run_on_windows_nodes(simulated_fleet, mixed):
    mixed.create(deployment("iis", "default", replicas=2, nodeSelector={"kubernetes.io/os": "windows"}))
    mixed.create(deployment("api", "default", replicas=3))
    simulated_fleet.sandbox.settle()
    os_of = _os_of_nodes(mixed)
    assert {os_of[p["spec"]["nodeName"]] for p in mixed.pods("default", "app=iis")} == {"windows"}
    assert {os_of[p["spec"]["nodeName"]] for p in mixed.pods("default", "app=api")} == {"linux"}


def test_a_cluster_with_only_windows_nodes_leaves_linux_pods_pending(simulated_fleet, tmp_path):
    simulated_fleet.create_cluster()
    simulated_fleet.create_nodegroup(name="windows", size=1, amiType="WINDOWS_FULL_2019_x86_64")
    kube = KubeApi(simulated_fleet, "prod", tmp_path)
    kube.create(deployment("api", "default"))
    simulated_fleet.sandbox.settle()
    (pod,) = kube.pods("default", "app=api")
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")


def test_linux_daemonsets_do_not_run_on_windows_nodes(simulated_fleet, mixed):
    mixed.create(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "node-exporter", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "node-exporter"}},
                "template": {
                    "metadata": {"labels": {"app": "node-exporter"}},
                    "spec": {
                        **LINUX_ONLY,
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{"name": "exporter", "image": "prom/node-exporter:v1.8.2"}],
                    },
                },
            },
        }
    )
    simulated_fleet.sandbox.settle()
    status = mixed.daemon_set("default", "node-exporter")["status"]
    assert (status["desiredNumberScheduled"], status["numberReady"]) == (1, 1)


def test_windows_server_2025_nodes_start_with_kubernetes_1_35_and_windows_amis_are_in_ssm(simulated_fleet):
    simulated_fleet.create_cluster()
    with pytest.raises(ClientError) as refused:
        simulated_fleet.eks.create_nodegroup(
            clusterName="prod",
            nodegroupName="win2025",
            subnets=simulated_fleet.subnets[:2],
            nodeRole=simulated_fleet.node_role,
            amiType="WINDOWS_CORE_2025_x86_64",
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    ssm = simulated_fleet.client("ssm")
    parameter = ssm.get_parameter(
        Name="/aws/service/ami-windows-latest/Windows_Server-2022-English-Core-EKS_Optimized-1.31/image_id"
    )["Parameter"]
    assert parameter["Value"].startswith("ami-")
