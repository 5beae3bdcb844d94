"""The demo fleet carries the cost audit's seeds, seen through the APIs a cost audit reads (EKS, EC2, Kubernetes).

What is checked is the fleet, not the product: the numbers the cost findings are computed from (nodes, capacity
types, pods per node and their requests, gp2 volumes, Fargate sizes) are there as the fleet file promises.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import boto3
import pytest

from tests.helpers import RUNBOOK_ROLE_ARN, assumed_role_credentials, kube_core_api

FLEET_AUDIT_ROLE_ARN = "arn:aws:iam::210987654321:role/fleet-audit"
#: (cluster, region, role the runbooks read it as)
CLUSTERS = {
    "payments-prod": ("us-east-1", RUNBOOK_ROLE_ARN),
    "analytics-staging": ("us-east-1", RUNBOOK_ROLE_ARN),
    "orders-prod": ("us-east-1", RUNBOOK_ROLE_ARN),
    "edge-dev": ("us-west-2", RUNBOOK_ROLE_ARN),
    "ml-platform": ("eu-west-1", FLEET_AUDIT_ROLE_ARN),
    "web-staging": ("eu-west-1", FLEET_AUDIT_ROLE_ARN),
}


def _core(sandbox: Any, tmp_path: Any, cluster: str) -> Any:
    region, role = CLUSTERS[cluster]
    return kube_core_api(sandbox, tmp_path, cluster, region, role)


def _millicores(quantity: str | None) -> int:
    if not quantity:
        return 0
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def _mebibytes(quantity: str | None) -> int:
    if not quantity:
        return 0
    units = {"Gi": 1024, "Mi": 1, "Ki": 1 / 1024}
    return int(float(quantity[:-2]) * units[quantity[-2:]]) if quantity[-2:] in units else int(quantity) // 2**20


def _is_daemon(pod: Any) -> bool:
    return any(owner.kind == "DaemonSet" for owner in pod.metadata.owner_references or [])


class NodeGroupView:
    """One node group as the Kubernetes API shows it: its nodes, and per node the pods bound there."""

    def __init__(self, core: Any, group: str) -> None:
        self.nodes = [
            node
            for node in core.list_node().items
            if (node.metadata.labels or {}).get("eks.amazonaws.com/nodegroup") == group
        ]
        names = {node.metadata.name for node in self.nodes}
        self.pods: dict[str, list[Any]] = defaultdict(list)
        for pod in core.list_pod_for_all_namespaces().items:
            if pod.spec.node_name in names:
                self.pods[pod.spec.node_name].append(pod)

    def label(self, key: str) -> set[str]:
        return {node.metadata.labels.get(key) for node in self.nodes}

    def workload_requests(self, node: str) -> tuple[int, int]:
        """Summed (millicores, MiB) requests of the non-DaemonSet pods on ``node``."""
        cpu = memory = 0
        for pod in self.pods[node]:
            if _is_daemon(pod):
                continue
            for container in pod.spec.containers:
                requests = (container.resources and container.resources.requests) or {}
                cpu += _millicores(requests.get("cpu"))
                memory += _mebibytes(requests.get("memory"))
        return cpu, memory

    def allocatable(self, node: Any) -> tuple[int, int, int]:
        allocatable = node.status.allocatable
        return _millicores(allocatable["cpu"]), _mebibytes(allocatable["memory"]), int(allocatable["pods"])


@pytest.fixture
def read(demo_fleet: Any, tmp_path: Any):
    """``read(cluster, group)``: the node group as the cluster's Kubernetes API shows it."""
    demo_fleet.settle()
    return lambda cluster, group: NodeGroupView(_core(demo_fleet, tmp_path, cluster), group)


def test_web_staging_runs_two_spot_web_nodes_each_filled_by_one_web_pod(read):
    web = read("web-staging", "web")
    assert len(web.nodes) == 2
    assert web.label("eks.amazonaws.com/capacityType") == {"SPOT"}
    assert web.label("node.kubernetes.io/instance-type") == {"m5.large"}
    for node in web.nodes:
        cpu, _, _ = web.allocatable(node)
        requested, _ = web.workload_requests(node.metadata.name)
        # one 1500m web pod per node: a second would not fit, so both nodes are needed
        assert cpu / 2 < requested <= cpu


def test_every_api_node_of_web_staging_is_full_by_pod_count_while_its_cpu_idles(read):
    api = read("web-staging", "api")
    assert len(api.nodes) == 3
    assert api.label("eks.amazonaws.com/capacityType") == {"ON_DEMAND"}
    assert api.label("node.kubernetes.io/instance-type") == {"t3.medium"}
    for node in api.nodes:
        cpu, _, max_pods = api.allocatable(node)
        assert max_pods == 17  # 3 ENIs x (6 - 1) + 2, no prefix delegation
        assert len(api.pods[node.metadata.name]) == max_pods
        requested, _ = api.workload_requests(node.metadata.name)
        assert requested <= cpu / 10


def test_ml_platform_cpu_workloads_fit_on_one_of_its_two_nodes(read):
    cpu = read("ml-platform", "cpu")
    assert len(cpu.nodes) == 2
    assert cpu.label("node.kubernetes.io/instance-type") == {"m5.2xlarge"}
    total_cpu = sum(cpu.workload_requests(node.metadata.name)[0] for node in cpu.nodes)
    total_memory = sum(cpu.workload_requests(node.metadata.name)[1] for node in cpu.nodes)
    node_cpu, node_memory, _ = cpu.allocatable(cpu.nodes[0])
    assert 0 < total_cpu <= node_cpu
    assert 0 < total_memory <= node_memory


@pytest.mark.parametrize(
    ("cluster", "group", "nodes"),
    [
        ("payments-prod", "general", 3),
        ("payments-prod", "batch", 2),
        ("analytics-staging", "workers", 2),
        ("analytics-staging", "spark", 2),
        ("orders-prod", "general", 3),
        ("web-staging", "web", 2),
    ],
)
def test_every_other_node_group_holds_a_pod_on_each_node_too_big_to_share_one(read, cluster, group, nodes):
    view = read(cluster, group)
    assert len(view.nodes) == nodes
    for node in view.nodes:
        cpu, _, _ = view.allocatable(node)
        requested, _ = view.workload_requests(node.metadata.name)
        assert cpu / 2 < requested <= cpu


def test_analytics_staging_node_groups_are_on_demand_and_run_only_stateless_pods(read):
    for group in ("workers", "spark"):
        view = read("analytics-staging", group)
        assert view.label("eks.amazonaws.com/capacityType") == {"ON_DEMAND"}
        owners = {
            owner.kind
            for pods in view.pods.values()
            for pod in pods
            if not _is_daemon(pod)
            for owner in pod.metadata.owner_references or []
        }
        assert owners == {"ReplicaSet"}
        pods = [pod for on_node in view.pods.values() for pod in on_node]
        assert not any(volume.persistent_volume_claim for pod in pods for volume in pod.spec.volumes or [])


def test_edge_dev_runs_no_workload_pod(demo_fleet, tmp_path):
    core = _core(demo_fleet, tmp_path, "edge-dev")
    namespaces = Counter(pod.metadata.namespace for pod in core.list_pod_for_all_namespaces().items)
    assert set(namespaces) == {"kube-system"}


def test_orders_prod_inventory_volumes_are_gp2_ebs_volumes(demo_fleet, tmp_path):
    demo_fleet.settle()
    core = _core(demo_fleet, tmp_path, "orders-prod")
    volumes = [
        pv
        for pv in core.list_persistent_volume().items
        if pv.spec.claim_ref.namespace == "fulfillment" and pv.spec.claim_ref.name.startswith("data-inventory-")
    ]
    assert len(volumes) == 2
    credentials = assumed_role_credentials(demo_fleet.base_url, RUNBOOK_ROLE_ARN)
    ec2 = boto3.client("ec2", region_name="us-east-1", **credentials)
    described = ec2.describe_volumes(VolumeIds=[pv.spec.csi.volume_handle for pv in volumes])["Volumes"]
    assert {(volume["VolumeType"], volume["Size"]) for volume in described} == {("gp2", 50)}


def test_orders_prod_settlement_pod_on_fargate_carries_its_capacity_provisioned(demo_fleet, tmp_path):
    demo_fleet.settle()
    core = _core(demo_fleet, tmp_path, "orders-prod")
    pods = core.list_namespaced_pod("settlement").items
    assert [pod.metadata.annotations.get("CapacityProvisioned") for pod in pods] == ["0.25vCPU 0.5GB"]


def test_t3_medium_is_a_nitro_instance_type_with_three_enis_of_six_addresses(demo_fleet):
    ec2 = boto3.client(
        "ec2", region_name="eu-west-1", **assumed_role_credentials(demo_fleet.base_url, FLEET_AUDIT_ROLE_ARN)
    )
    (described,) = ec2.describe_instance_types(InstanceTypes=["t3.medium"])["InstanceTypes"]
    network = described["NetworkInfo"]
    assert (described["Hypervisor"], network["MaximumNetworkInterfaces"], network["Ipv4AddressesPerInterface"]) == (
        "nitro",
        3,
        6,
    )
