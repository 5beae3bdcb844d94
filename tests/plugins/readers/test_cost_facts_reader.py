"""One cluster's cost facts, read from the sandbox's EKS, EC2 and Elastic Load Balancing APIs and its Kubernetes API.

What a test needs beyond the demo fleet (requests, a gp2 volume, load balancers) it builds itself, as the
platform team would, through the same APIs.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import pytest

from eks_runbooks.core.cost.facts import MANAGED, ON_DEMAND, SOURCES, ClusterCostFacts
from eks_runbooks.readers.cost_facts import gather_cost_facts
from eks_runbooks.readers.kube_client import eks_kubernetes_client
from tests.helpers import RUNBOOK_ROLE_ARN
from tests.iam_policy import BASE_CREDENTIALS, AwsCallRecorder

ORDERS = ("aws_default", "us-east-1", "orders-prod")


def as_platform_admin(cluster: str, region: str = "us-east-1"):
    return eks_kubernetes_client(cluster, aws_conn_id="aws_platform_admin", region_name=region)


def run_pods_with_requests_and_a_gp2_claim(cluster: str) -> None:
    """A Deployment with requests and an init container, and a pod writing to a gp2 (in-tree EBS) claim."""
    from kubernetes.client import AppsV1Api, CoreV1Api

    with as_platform_admin(cluster) as api_client:
        core, apps = CoreV1Api(api_client), AppsV1Api(api_client)
        core.create_namespace({"metadata": {"name": "shop"}})
        labels = {"app": "cart"}
        apps.create_namespaced_deployment(
            "shop",
            {
                "metadata": {"name": "cart", "namespace": "shop"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "initContainers": [
                                {"name": "migrate", "image": "cart:1", "resources": {"requests": {"cpu": "1"}}}
                            ],
                            "containers": [
                                {"name": "cart", "image": "cart:1", "resources": {"requests": {"cpu": "250m"}}},
                                {
                                    "name": "proxy",
                                    "image": "envoy:1",
                                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                                },
                            ],
                        },
                    },
                },
            },
        )
        core.create_namespaced_persistent_volume_claim(
            "shop",
            {
                "metadata": {"name": "ledger"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "gp2",
                    "resources": {"requests": {"storage": "50Gi"}},
                },
            },
        )
        core.create_namespaced_pod(
            "shop",
            {
                "metadata": {"name": "ledger"},
                "spec": {
                    "containers": [{"name": "ledger", "image": "ledger:1"}],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "ledger"}}],
                },
            },
        )


def vpc_subnets(cluster: str, region: str = "us-east-1") -> list[str]:
    return boto3.client("eks", region_name=region).describe_cluster(name=cluster)["cluster"]["resourcesVpcConfig"][
        "subnetIds"
    ]


def create_load_balancers(cluster: str) -> None:
    """An NLB the AWS Load Balancer Controller made for a Service, an ALB of another cluster, a Classic Load
    Balancer the cloud provider made, and one it merely shares."""
    subnets = vpc_subnets(cluster)
    elbv2 = boto3.client("elbv2", region_name="us-east-1")
    for name, kind, tags in (
        ("k8s-shop-cart", "network", {"elbv2.k8s.aws/cluster": cluster, "service.k8s.aws/stack": "shop/cart"}),
        ("k8s-other-web", "application", {"elbv2.k8s.aws/cluster": "payments-prod"}),
    ):
        elbv2.create_load_balancer(
            Name=name, Subnets=subnets[:2], Type=kind, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )
    elb = boto3.client("elb", region_name="us-east-1")
    for name, ownership in (("a1b2c3", "owned"), ("shared1", "shared")):
        elb.create_load_balancer(
            LoadBalancerName=name,
            Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}],
            Subnets=subnets[:1],
            Tags=[
                {"Key": f"kubernetes.io/cluster/{cluster}", "Value": ownership},
                {"Key": "kubernetes.io/service-name", "Value": "shop/legacy"},
            ],
        )


def test_orders_prod_is_read_whole_from_aws_and_its_kubernetes_api(demo_fleet):
    run_pods_with_requests_and_a_gp2_claim("orders-prod")
    create_load_balancers("orders-prod")

    facts = gather_cost_facts(*ORDERS)

    assert facts.errors == {}
    assert (facts.account, facts.version, facts.support, facts.end_of_standard_support) == (
        "123456789012",
        "1.33",
        "standard",
        "2026-07-29",
    )
    assert facts.tags == {"team": "orders", "environment": "production", "cost-center": "5120"}
    assert (facts.upgrade_policy, facts.provisioned_tier, facts.auto_mode) == ("STANDARD", "", False)
    (general,) = facts.nodegroups
    assert (general.name, general.capacity_type, general.instance_types, general.desired_size) == (
        "general",
        ON_DEMAND,
        ("m5.xlarge",),
        3,
    )
    assert len(facts.nodes) == 3  # the Fargate pod's node is not one of them
    assert {(n.origin, n.group, n.instance_type, n.capacity_type) for n in facts.nodes} == {
        (MANAGED, "general", "m5.xlarge", ON_DEMAND)
    }
    assert {n.zone for n in facts.nodes} == {"us-east-1a", "us-east-1b", "us-east-1c"}
    assert {
        (n.allocatable_cpu_millicores, n.allocatable_memory_mebibytes, n.allocatable_pods) for n in facts.nodes
    } == {(4000, 16384, 58)}
    m5 = facts.instance_types["m5.xlarge"]
    assert (m5.vcpus, m5.maximum_network_interfaces, m5.ipv4_addresses_per_interface, m5.hypervisor) == (
        4,
        4,
        15,
        "nitro",
    )
    assert facts.prefix_delegation is False  # aws-node does not set ENABLE_PREFIX_DELEGATION
    owners = {(p.namespace, p.owner_kind, p.owner_name) for p in facts.pods}
    assert {
        ("orders", "Deployment", "orders-api"),
        ("fulfillment", "StatefulSet", "inventory"),
        ("observability", "DaemonSet", "log-shipper"),
        ("observability", "", ""),
        ("shop", "Deployment", "cart"),
    } <= owners
    cart = [p for p in facts.pods if p.owner_name == "cart"]
    assert [(p.cpu_millicores, p.memory_mebibytes, p.mounts_claim) for p in cart] == [(1000, 128, False)] * 2
    assert next(p for p in facts.pods if p.name == "ledger").mounts_claim
    assert [(p.namespace, p.vcpu, p.memory_gb) for p in facts.fargate_pods] == [("settlement", "0.25", "0.5")]
    assert not any(p.namespace == "settlement" for p in facts.pods)
    # orders (6 + order-events 3), fulfillment (2), observability (3 log-shippers and toolbox), settlement (1),
    # shop (3)
    assert facts.workload_pods == 19
    (volume,) = [v for v in facts.volumes if v.claim == "shop/ledger"]  # besides the inventory StatefulSet's
    assert (volume.volume_type, volume.size_gib, volume.volume_id.startswith("vol-")) == ("gp2", 50, True)
    assert sorted((lb.name, lb.kind, lb.owner) for lb in facts.load_balancers) == [
        ("a1b2c3", "classic", "Service shop/legacy"),
        ("k8s-shop-cart", "network", "Service shop/cart"),
    ]
    assert ClusterCostFacts.from_dict(facts.to_dict()) == facts


def test_a_cluster_in_extended_support_says_so_with_its_upgrade_policy(demo_fleet):
    facts = gather_cost_facts("aws_default", "us-east-1", "analytics-staging")

    assert facts.errors == {}
    assert (facts.version, facts.support, facts.upgrade_policy) == ("1.31", "extended", "EXTENDED")
    assert facts.end_of_standard_support < "2026-01-20"  # the world date: standard support is over
    assert {ng.name for ng in facts.nodegroups} == {"workers", "spark"}
    assert set(facts.instance_types) == {"m5.xlarge", "r5.large"}  # spark's type is its launch template's


def test_a_source_that_fails_is_in_errors_and_the_others_are_read(demo_fleet):
    demo_fleet.faults.add_from_dict(
        {
            "kind": "error",
            "service": "ec2",
            "operation": "DescribeInstanceTypes",
            "error": "ServiceUnavailableException",
        }
    )

    facts = gather_cost_facts(*ORDERS)

    assert set(facts.errors) == {"instance_types"}
    assert "ServiceUnavailableException" in facts.errors["instance_types"]
    assert facts.instance_types == {}
    assert len(facts.nodes) == 3 and facts.nodegroups and facts.fargate_pods and facts.support == "standard"


def test_without_kubernetes_access_the_kubernetes_sources_are_in_errors_and_aws_is_still_read(demo_fleet):
    boto3.client("eks", region_name="us-east-1").delete_access_entry(
        clusterName="orders-prod", principalArn=RUNBOOK_ROLE_ARN
    )

    facts = gather_cost_facts(*ORDERS)

    assert set(facts.errors) == {"nodes", "pods", "volumes", "prefix_delegation"}
    assert "401" in facts.errors["nodes"] or "Unauthorized" in facts.errors["nodes"]
    assert (facts.nodes, facts.pods, facts.fargate_pods, facts.prefix_delegation) == ([], [], [], None)
    assert facts.nodegroups and facts.support == "standard"
    assert set(facts.instance_types) == {"m5.xlarge"}  # from the node groups


def test_a_cluster_that_cannot_be_described_has_every_source_in_errors(demo_fleet):
    demo_fleet.faults.add_from_dict(
        {"kind": "error", "service": "eks", "match": {"name": "orders-prod"}, "error": "AccessDeniedException"}
    )

    facts = gather_cost_facts(*ORDERS)

    assert set(facts.errors) == set(SOURCES)
    assert all("AccessDeniedException" in reason for reason in facts.errors.values())
    assert (facts.version, facts.nodes, facts.nodegroups) == ("", [], [])


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> AwsCallRecorder:
    return AwsCallRecorder().install(monkeypatch)


@pytest.fixture
def kube_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Kubernetes API request the sandbox answered, as ``METHOD path?query``."""
    from eks_sandbox.server import SandboxDispatcher

    recorded: list[str] = []
    original = SandboxDispatcher._kubernetes

    def recording(dispatcher: Any, cluster: Any, environ: dict[str, Any], start_response: Any) -> Any:
        recorded.append(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}?{environ.get('QUERY_STRING', '')}")
        return original(dispatcher, cluster, environ, start_response)

    monkeypatch.setattr(SandboxDispatcher, "_kubernetes", recording)
    return recorded


def test_a_cluster_costs_a_few_aws_calls_and_four_kubernetes_lists_whatever_its_size(
    demo_fleet, aws_calls, kube_requests
):
    run_pods_with_requests_and_a_gp2_claim("orders-prod")
    create_load_balancers("orders-prod")
    aws_calls.clear()
    kube_requests.clear()

    gather_cost_facts(*ORDERS)

    made: Counter[Any] = Counter(call.action for call in aws_calls.by([RUNBOOK_ROLE_ARN]))
    assert made == {
        "eks:DescribeCluster": 1,
        "eks:DescribeClusterVersions": 1,
        "eks:ListNodegroups": 1,
        "eks:DescribeNodegroup": 1,  # one per node group
        "ec2:DescribeInstanceTypes": 1,
        "ec2:DescribeVolumes": 1,
        "elasticloadbalancing:DescribeLoadBalancers": 2,  # v2 and classic
        "elasticloadbalancing:DescribeTags": 2,
    }
    # One AWS session for every service and the Kubernetes token: the connection's role is assumed once.
    assert [call.action for call in aws_calls.by([BASE_CREDENTIALS])] == ["sts:AssumeRole"]
    assert kube_requests == [  # no discovery, nothing per node or per pod
        "GET /api/v1/nodes?limit=500",
        "GET /api/v1/pods?limit=500",
        "GET /api/v1/persistentvolumes?limit=500",
        "GET /apis/apps/v1/namespaces/kube-system/daemonsets?limit=500",
    ]


def test_a_list_longer_than_one_chunk_is_read_whole(demo_fleet, monkeypatch):
    from eks_runbooks.readers import cluster

    monkeypatch.setattr(cluster, "LIST_CHUNK_SIZE", 2)

    facts = gather_cost_facts(*ORDERS)

    assert len(facts.nodes) == 3 and facts.workload_pods == 16  # the demo fleet's, as read in one chunk
