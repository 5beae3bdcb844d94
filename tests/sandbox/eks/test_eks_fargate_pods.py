"""Pods on Fargate, as EKS places them: pods matching an ACTIVE Fargate profile get a node of their own, sized and
annotated as Fargate bills them; everything else stays on EC2 nodes."""

from __future__ import annotations

import ipaddress

import pytest

from tests.sandbox.eks.kube_api import KubeApi, deployment


@pytest.fixture
def cluster(simulated_fleet, tmp_path):
    """prod (1.31) with one EC2 node and a Fargate profile for namespace ``batch`` (ACTIVE), and its Kubernetes API."""
    simulated_fleet.create_cluster()
    simulated_fleet.create_nodegroup(size=1)
    simulated_fleet.eks.create_fargate_profile(
        clusterName="prod",
        fargateProfileName="batch",
        podExecutionRoleArn=simulated_fleet.role("fargate-pods", "eks-fargate-pods.amazonaws.com"),
        subnets=simulated_fleet.subnets[:2],
        selectors=[{"namespace": "batch"}, {"namespace": "jobs", "labels": {"compute": "fargate"}}],
    )
    simulated_fleet.sandbox.settle()
    kube = KubeApi(simulated_fleet, "prod", tmp_path)
    for namespace in ("batch", "jobs"):
        kube.namespace(namespace)
    return kube


def _pod(name, namespace="batch", labels=None, **resources):
    container = {"name": "app", "image": "nginx:1.27"}
    if resources:
        container["resources"] = resources
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"containers": [container]},
    }


def test_a_pod_matching_an_active_fargate_profile_runs_on_a_fargate_node_of_its_own(simulated_fleet, cluster):
    cluster.create(
        deployment(
            "report",
            "batch",
            replicas=2,
            containers=[
                {"name": "app", "image": "nginx:1.27", "resources": {"requests": {"cpu": "1", "memory": "8Gi"}}}
            ],
        )
    )
    simulated_fleet.sandbox.settle()
    pods = cluster.pods("batch", "app=report")
    assert len(pods) == 2
    nodes = {node["metadata"]["name"]: node for node in cluster.nodes()}
    subnets = {
        s["SubnetId"]: s for s in simulated_fleet.ec2.describe_subnets(SubnetIds=simulated_fleet.subnets[:2])["Subnets"]
    }
    assert len({pod["spec"]["nodeName"] for pod in pods}) == 2, "one Fargate node per pod"
    for pod in pods:
        assert pod["spec"]["schedulerName"] == "fargate-scheduler"
        assert pod["metadata"]["labels"]["eks.amazonaws.com/fargate-profile"] == "batch"
        # 1 vCPU and 8 GB requested, plus 256 MB: rounded up to 2 vCPU / 9 GB [UG fargate-pod-configuration]
        assert pod["metadata"]["annotations"]["CapacityProvisioned"] == "2vCPU 9GB"
        assert pod["status"]["phase"] == "Running"
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])
        node = nodes[pod["spec"]["nodeName"]]
        address = pod["status"]["hostIP"]
        assert node["metadata"]["name"] == f"fargate-ip-{address.replace('.', '-')}.ec2.internal"
        assert pod["status"]["podIP"] == address, "a Fargate pod's address is its node's: the one ENI they share"
        labels = node["metadata"]["labels"]
        assert labels["eks.amazonaws.com/compute-type"] == "fargate"
        assert labels["topology.kubernetes.io/zone"] in {s["AvailabilityZone"] for s in subnets.values()}
        assert {"key": "eks.amazonaws.com/compute-type", "value": "fargate", "effect": "NoSchedule"} in node["spec"][
            "taints"
        ]
        assert node["status"]["capacity"]["pods"] == "1"
        (eni,) = simulated_fleet.ec2.describe_network_interfaces(
            Filters=[{"Name": "addresses.private-ip-address", "Values": [address]}]
        )["NetworkInterfaces"]
        assert ipaddress.ip_address(address) in ipaddress.ip_network(subnets[eni["SubnetId"]]["CidrBlock"])


def test_fargate_sizes_pods_from_their_requests_plus_256_mb_rounded_up(simulated_fleet, cluster):
    sized = {
        "none": {},
        "small": {"requests": {"cpu": "250m", "memory": "256Mi"}},
        "over-half-gb": {"requests": {"cpu": "100m", "memory": "300Mi"}},
        "limits-only": {"limits": {"cpu": "500m", "memory": "2Gi"}},
        "big": {"requests": {"cpu": "3", "memory": "20Gi"}},
    }
    for name, resources in sized.items():
        cluster.create(_pod(name, **resources))
    simulated_fleet.sandbox.settle()
    annotations = {
        p["metadata"]["name"]: p["metadata"]["annotations"]["CapacityProvisioned"] for p in cluster.pods("batch")
    }
    assert annotations == {
        "none": "0.25vCPU 0.5GB",
        "small": "0.25vCPU 0.5GB",
        "over-half-gb": "0.25vCPU 1GB",
        "limits-only": "0.5vCPU 3GB",
        "big": "4vCPU 21GB",
    }


def test_selector_labels_must_match_and_other_pods_stay_on_ec2_nodes(simulated_fleet, cluster):
    cluster.create(_pod("labelled", namespace="jobs", labels={"compute": "fargate"}))
    cluster.create(_pod("unlabelled", namespace="jobs"))
    cluster.create(_pod("elsewhere", namespace="default"))
    simulated_fleet.sandbox.settle()
    placed = {p["metadata"]["name"]: p["spec"]["nodeName"] for ns in ("jobs", "default") for p in cluster.pods(ns)}
    assert placed["labelled"].startswith("fargate-ip-")
    (ec2_node,) = [n["metadata"]["name"] for n in cluster.nodes() if not n["metadata"]["name"].startswith("fargate-")]
    assert placed["unlabelled"] == placed["elsewhere"] == ec2_node


def test_the_fargate_node_and_its_address_go_when_its_pod_goes(simulated_fleet, cluster):
    cluster.create(_pod("once"))
    simulated_fleet.sandbox.settle()
    (pod,) = cluster.pods("batch")
    address = pod["status"]["hostIP"]
    cluster.core.delete_namespaced_pod("once", "batch")
    simulated_fleet.sandbox.settle()
    assert cluster.nodes("eks.amazonaws.com/compute-type=fargate") == []
    assert (
        simulated_fleet.ec2.describe_network_interfaces(
            Filters=[{"Name": "addresses.private-ip-address", "Values": [address]}]
        )["NetworkInterfaces"]
        == []
    )


def test_pods_created_before_the_profile_was_active_stay_where_they_are(simulated_fleet, tmp_path):
    simulated_fleet.create_cluster()
    simulated_fleet.create_nodegroup(size=1)
    kube = KubeApi(simulated_fleet, "prod", tmp_path)
    kube.namespace("late")
    kube.create(deployment("api", "late"))
    simulated_fleet.sandbox.settle()
    simulated_fleet.eks.create_fargate_profile(
        clusterName="prod",
        fargateProfileName="late",
        podExecutionRoleArn=simulated_fleet.role("fargate-pods", "eks-fargate-pods.amazonaws.com"),
        selectors=[{"namespace": "late"}],
    )
    # While the profile is CREATING, new pods are not sent to Fargate either.
    kube.create(_pod("early", namespace="late"))
    simulated_fleet.sandbox.settle()
    assert all(not p["spec"]["nodeName"].startswith("fargate-") for p in kube.pods("late"))
    # kubectl rollout restart: the new pods are admitted now, onto Fargate.
    kube.apps.patch_namespaced_deployment(
        "api",
        "late",
        {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}},
    )
    simulated_fleet.sandbox.settle()
    (restarted,) = kube.pods("late", "app=api")
    assert restarted["spec"]["nodeName"].startswith("fargate-ip-")


def test_daemonsets_do_not_run_on_fargate_nodes(simulated_fleet, cluster):
    cluster.create(_pod("job"))
    cluster.create(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "log-agent", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "log-agent"}},
                "template": {
                    "metadata": {"labels": {"app": "log-agent"}},
                    "spec": {
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{"name": "agent", "image": "fluent/fluent-bit:3.1"}],
                    },
                },
            },
        }
    )
    simulated_fleet.sandbox.settle()
    assert len(cluster.nodes()) == 2
    status = cluster.daemon_set("default", "log-agent")["status"]
    assert (status["desiredNumberScheduled"], status["numberReady"]) == (1, 1)
    (agent,) = cluster.pods("default", "app=log-agent")
    assert not agent["spec"]["nodeName"].startswith("fargate-")


def test_deleting_the_profile_deletes_its_pods_and_their_replacements_run_on_ec2(simulated_fleet, cluster):
    cluster.create(deployment("report", "batch"))
    simulated_fleet.sandbox.settle()
    (before,) = cluster.pods("batch")
    assert before["spec"]["nodeName"].startswith("fargate-ip-")
    simulated_fleet.eks.delete_fargate_profile(clusterName="prod", fargateProfileName="batch")
    simulated_fleet.sandbox.settle()
    (after,) = cluster.pods("batch")
    assert after["metadata"]["name"] != before["metadata"]["name"]
    assert not after["spec"]["nodeName"].startswith("fargate-")
    assert cluster.nodes("eks.amazonaws.com/compute-type=fargate") == []


def test_coredns_stays_on_ec2_while_its_pods_carry_the_compute_type_ec2_annotation(simulated_fleet, tmp_path):
    simulated_fleet.create_cluster(bootstrapSelfManagedAddons=False)
    # The cluster network first: without it the EC2 node would stay NotReady.
    for addon in ("vpc-cni", "kube-proxy"):
        simulated_fleet.eks.create_addon(clusterName="prod", addonName=addon)
    simulated_fleet.create_nodegroup(size=1)
    simulated_fleet.eks.create_fargate_profile(
        clusterName="prod",
        fargateProfileName="system",
        podExecutionRoleArn=simulated_fleet.role("fargate-pods", "eks-fargate-pods.amazonaws.com"),
        selectors=[{"namespace": "kube-system"}],
    )
    simulated_fleet.sandbox.settle()
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="coredns")
    simulated_fleet.sandbox.settle()
    kube = KubeApi(simulated_fleet, "prod", tmp_path)
    coredns = kube.pods("kube-system", "k8s-app=kube-dns")
    assert len(coredns) == 2
    assert all(not p["spec"]["nodeName"].startswith("fargate-") for p in coredns)
    # Removing the annotation, as the user guide says, moves CoreDNS onto Fargate.
    kube.apps.patch_namespaced_deployment(
        "coredns",
        "kube-system",
        [{"op": "remove", "path": "/spec/template/metadata/annotations/eks.amazonaws.com~1compute-type"}],
    )
    simulated_fleet.sandbox.settle()
    assert all(p["spec"]["nodeName"].startswith("fargate-ip-") for p in kube.pods("kube-system", "k8s-app=kube-dns"))
