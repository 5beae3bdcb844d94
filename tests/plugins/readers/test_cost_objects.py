"""The cost facts taken from the objects a cluster's APIs serve: nodes, pods, volumes, load balancers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eks_runbooks.core.cost.facts import AUTO_MODE, KARPENTER, MANAGED, ON_DEMAND, SELF_MANAGED, SPOT, UNKNOWN
from eks_runbooks.readers.cost_objects import (
    cluster_fields,
    cluster_support,
    fargate_pod_facts,
    instance_type_facts,
    load_balancer_facts,
    node_facts,
    nodegroup_facts,
    pod_facts,
    prefix_delegation,
    running_pods,
    volume_claims,
    workload_pod_count,
)


def node(labels: dict[str, str], allocatable: dict[str, str] | None = None) -> dict:
    return {
        "metadata": {"name": "ip-10-0-0-1.ec2.internal", "labels": labels},
        "status": {"allocatable": allocatable or {"cpu": "1930m", "memory": "7220184Ki", "pods": "29"}},
    }


def test_a_managed_node_is_grouped_under_its_node_group_with_its_allocatable_room():
    facts = node_facts(
        node(
            {
                "eks.amazonaws.com/nodegroup": "general",
                "eks.amazonaws.com/capacityType": "SPOT",
                "node.kubernetes.io/instance-type": "m5.large",
                "topology.kubernetes.io/zone": "us-east-1b",
            }
        )
    )
    assert (facts.origin, facts.group, facts.capacity_type, facts.instance_type, facts.zone) == (
        MANAGED,
        "general",
        SPOT,
        "m5.large",
        "us-east-1b",
    )
    assert (facts.allocatable_cpu_millicores, facts.allocatable_memory_mebibytes, facts.allocatable_pods) == (
        1930,
        7050,
        29,
    )


@pytest.mark.parametrize(("label", "expected"), [("spot", SPOT), ("on-demand", ON_DEMAND), ("reserved", UNKNOWN)])
def test_karpenter_spells_the_capacity_type_in_lower_case(label, expected):
    facts = node_facts(node({"karpenter.sh/nodepool": "default", "karpenter.sh/capacity-type": label}))
    assert (facts.origin, facts.group, facts.capacity_type) == (KARPENTER, "default", expected)


def test_an_auto_mode_node_is_grouped_under_its_node_pool():
    labels = {
        "eks.amazonaws.com/compute-type": "auto",
        "karpenter.sh/nodepool": "general-purpose",
        "karpenter.sh/capacity-type": "on-demand",
    }
    facts = node_facts(node(labels))
    assert (facts.origin, facts.group, facts.capacity_type) == (AUTO_MODE, "general-purpose", ON_DEMAND)


def test_a_node_no_controller_labels_is_self_managed_of_unknown_capacity_type():
    facts = node_facts(node({"node.kubernetes.io/instance-type": "c5.large"}))
    assert (facts.origin, facts.group, facts.capacity_type) == (SELF_MANAGED, "self-managed", UNKNOWN)


def test_a_fargate_node_is_not_a_node_the_audit_prices():
    assert node_facts(node({"eks.amazonaws.com/compute-type": "fargate"})) is None


def pod(name: str, owner: tuple[str, str] | None = None, **spec_and_status) -> dict:
    metadata = {"name": name, "namespace": spec_and_status.pop("namespace", "shop"), "labels": {}}
    metadata.update(spec_and_status.pop("metadata", {}))
    if owner:
        metadata["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {
        "metadata": metadata,
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]}
        | spec_and_status.pop("spec", {}),
        "status": {"phase": "Running"} | spec_and_status.pop("status", {}),
    }


def test_a_deployments_pod_is_owned_by_the_deployment_its_replica_set_is_named_after():
    facts = pod_facts(
        pod("api-7d9f8-x2", ("ReplicaSet", "api-7d9f8"), metadata={"labels": {"pod-template-hash": "7d9f8"}})
    )
    assert (facts.owner_kind, facts.owner_name, facts.cpu_millicores, facts.node) == ("Deployment", "api", 100, "n1")


def test_a_replica_set_without_a_template_hash_owns_its_pods_itself():
    facts = pod_facts(pod("legacy-x2", ("ReplicaSet", "legacy")))
    assert (facts.owner_kind, facts.owner_name) == ("ReplicaSet", "legacy")


def test_a_cron_jobs_pod_is_owned_by_the_cron_job_its_job_is_named_after():
    facts = pod_facts(pod("reconciler-29480535-abcde", ("Job", "reconciler-29480535")))
    assert (facts.owner_kind, facts.owner_name) == ("CronJob", "reconciler")


def test_a_job_of_its_own_owns_its_pods():
    assert pod_facts(pod("migrate-abcde", ("Job", "migrate-v2"))).owner_kind == "Job"


def test_a_bare_pod_has_no_owner_and_a_pod_with_a_claim_says_so():
    facts = pod_facts(pod("toolbox", spec={"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}))
    assert (facts.owner_kind, facts.owner_name, facts.mounts_claim) == ("", "", True)


def test_finished_and_unscheduled_pods_do_not_run_on_a_node():
    pods = [
        pod("done", status={"phase": "Succeeded"}),
        pod("failed", status={"phase": "Failed"}),
        pod("pending", spec={"nodeName": None}, status={"phase": "Pending"}),
        pod("running"),
    ]
    assert [p["metadata"]["name"] for p in running_pods(pods)] == ["running"]


def test_workload_pods_are_those_outside_kubernetes_and_eks_add_on_namespaces():
    pods = [
        pod("a", namespace="kube-system"),
        pod("b", namespace="amazon-cloudwatch"),
        pod("c", namespace="kube-node-lease"),
        pod("d", namespace="shop"),
        pod("e", namespace="shop", spec={"nodeName": None}, status={"phase": "Pending"}),
        pod("f", namespace="shop", status={"phase": "Succeeded"}),
    ]
    assert workload_pod_count(pods) == 2  # the running one and the one waiting for a node


def test_a_fargate_pod_is_billed_as_its_capacity_provisioned_annotation_says():
    facts = fargate_pod_facts(pod("settle", metadata={"annotations": {"CapacityProvisioned": "0.25vCPU 0.5GB"}}))
    assert (facts.namespace, facts.name, facts.vcpu, facts.memory_gb) == ("shop", "settle", "0.25", "0.5")


def test_a_fargate_pod_without_a_readable_annotation_is_refused_naming_it():
    with pytest.raises(ValueError, match="shop/settle"):
        fargate_pod_facts(pod("settle", metadata={"annotations": {"CapacityProvisioned": "lots"}}))


def test_ebs_volumes_are_found_behind_csi_and_in_tree_persistent_volumes():
    volumes = [
        {
            "metadata": {"name": "pv-1"},
            "spec": {
                "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"},
                "claimRef": {"namespace": "shop", "name": "data-0"},
            },
        },
        {"metadata": {"name": "pv-2"}, "spec": {"awsElasticBlockStore": {"volumeID": "aws://us-east-1a/vol-2"}}},
        {"metadata": {"name": "pv-3"}, "spec": {"csi": {"driver": "efs.csi.aws.com", "volumeHandle": "fs-1"}}},
    ]
    assert volume_claims(volumes) == {"vol-1": ("pv-1", "shop/data-0"), "vol-2": ("pv-2", "")}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ([{"name": "ENABLE_PREFIX_DELEGATION", "value": "true"}], True),
        ([{"name": "ENABLE_PREFIX_DELEGATION", "value": "false"}], False),
        ([{"name": "WARM_IP_TARGET", "value": "5"}], False),
        (None, False),
    ],
)
def test_prefix_delegation_is_what_the_vpc_cnis_aws_node_daemonset_sets(env, expected):
    container = {"name": "aws-node", "image": "x"} | ({"env": env} if env is not None else {})
    daemonsets = [{"metadata": {"name": "aws-node"}, "spec": {"template": {"spec": {"containers": [container]}}}}]
    assert prefix_delegation(daemonsets) is expected


def test_without_the_vpc_cni_prefix_delegation_is_not_known():
    assert prefix_delegation([{"metadata": {"name": "kube-proxy"}, "spec": {}}]) is None


def test_instance_type_facts_keep_what_max_pods_and_generations_need():
    described = {
        "InstanceType": "m4.large",
        "CurrentGeneration": False,
        "BareMetal": False,
        "Hypervisor": "xen",
        "VCpuInfo": {"DefaultVCpus": 2},
        "MemoryInfo": {"SizeInMiB": 8192},
        "NetworkInfo": {"MaximumNetworkInterfaces": 2, "Ipv4AddressesPerInterface": 10},
    }
    facts = instance_type_facts(described)
    assert (facts.vcpus, facts.memory_mebibytes, facts.maximum_network_interfaces) == (2, 8192, 2)
    assert (facts.ipv4_addresses_per_interface, facts.hypervisor, facts.current_generation) == (10, "xen", False)
    metal = instance_type_facts({**described, "BareMetal": True, "Hypervisor": None})
    assert (metal.hypervisor, metal.bare_metal) == ("", True)


def test_a_node_group_keeps_its_capacity_type_instance_types_and_sizes():
    described = {
        "nodegroupName": "web",
        "capacityType": "SPOT",
        "instanceTypes": ["m5.large", "m5a.large"],
        "scalingConfig": {"minSize": 1, "desiredSize": 2, "maxSize": 4},
        "amiType": "AL2023_x86_64_STANDARD",
    }
    facts = nodegroup_facts(described)
    assert (facts.name, facts.capacity_type, facts.instance_types) == ("web", "SPOT", ("m5.large", "m5a.large"))
    assert (facts.min_size, facts.desired_size, facts.max_size, facts.ami_type) == (1, 2, 4, "AL2023_x86_64_STANDARD")
    launch_template = nodegroup_facts({"nodegroupName": "lt", "scalingConfig": {}})
    assert (launch_template.capacity_type, launch_template.instance_types) == (ON_DEMAND, ())


def alb(name: str) -> dict:
    return {
        "LoadBalancerName": name,
        "LoadBalancerArn": f"arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/{name}/1",
        "Type": "application",
    }


def test_a_load_balancer_the_controller_tagged_for_the_cluster_is_the_clusters_with_its_service():
    facts = load_balancer_facts(
        alb("k8s-shop"), {"elbv2.k8s.aws/cluster": "prod", "service.k8s.aws/stack": "shop/web"}, "prod"
    )
    assert (facts.name, facts.kind, facts.owner) == ("k8s-shop", "application", "Service shop/web")
    ingress = load_balancer_facts(
        alb("k8s-ing"), {"elbv2.k8s.aws/cluster": "prod", "ingress.k8s.aws/stack": "shop/front"}, "prod"
    )
    assert ingress.owner == "Ingress shop/front"


def test_a_classic_load_balancer_of_the_cloud_provider_is_the_clusters_when_it_owns_it():
    classic = {"LoadBalancerName": "a1b2"}
    tags = {"kubernetes.io/cluster/prod": "owned", "kubernetes.io/service-name": "shop/legacy"}
    facts = load_balancer_facts(classic, tags, "prod", arn="arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/a1b2")
    assert (facts.kind, facts.owner, facts.arn) == (
        "classic",
        "Service shop/legacy",
        "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/a1b2",
    )
    assert load_balancer_facts(classic, {"kubernetes.io/cluster/prod": "shared"}, "prod") is None
    assert load_balancer_facts(alb("other"), {"elbv2.k8s.aws/cluster": "staging"}, "prod") is None


def test_support_and_its_end_come_from_the_versions_calendar_entry():
    entry = {
        "clusterVersion": "1.31",
        "versionStatus": "EXTENDED_SUPPORT",
        "status": "extended-support",
        "endOfStandardSupportDate": datetime(2025, 11, 26, tzinfo=UTC),
    }
    assert cluster_support(entry) == ("extended", "2025-11-26")
    assert cluster_support({"status": "standard-support"}) == ("standard", "")
    assert cluster_support(None) == ("", "")


def test_an_auto_mode_cluster_on_a_provisioned_tier_says_so():
    cluster = {
        "arn": "arn:aws:eks:eu-west-1:210987654321:cluster/ml",
        "version": "1.34",
        "tags": {"team": "ml"},
        "upgradePolicy": {"supportType": "EXTENDED"},
        "controlPlaneScalingConfig": {"tier": "tier-xl"},
        "computeConfig": {"enabled": True, "nodePools": ["general-purpose"]},
    }
    assert cluster_fields(cluster) == {
        "account": "210987654321",
        "version": "1.34",
        "tags": {"team": "ml"},
        "upgrade_policy": "EXTENDED",
        "provisioned_tier": "tier-xl",
        "auto_mode": True,
    }
    plain = cluster_fields({"arn": "arn:aws:eks:eu-west-1:210987654321:cluster/ml", "version": "1.34"})
    assert (plain["provisioned_tier"], plain["auto_mode"], plain["tags"]) == ("", False, {})
