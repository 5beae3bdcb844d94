"""The eks-pod-identity-agent add-on: its DaemonSet as the chart renders it, Ready on every node that can use Pod
Identity (not on Fargate or Windows nodes), gone with the add-on."""

from __future__ import annotations

from tests.sandbox.eks.kube_api import KubeApi


def _cluster_with_every_kind_of_node(fleet, tmp_path):
    fleet.create_cluster()
    fleet.create_nodegroup(name="linux", size=2)
    fleet.create_nodegroup(name="windows", size=1, amiType="WINDOWS_CORE_2019_x86_64")
    fleet.eks.create_fargate_profile(
        clusterName="prod",
        fargateProfileName="batch",
        podExecutionRoleArn=fleet.role("fargate-pods", "eks-fargate-pods.amazonaws.com"),
        selectors=[{"namespace": "batch"}],
    )
    fleet.sandbox.settle()
    kube = KubeApi(fleet, "prod", tmp_path)
    kube.namespace("batch")
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "job", "namespace": "batch"},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
        }
    )
    fleet.sandbox.settle()
    return kube


def test_the_agent_daemonset_is_shaped_as_its_chart_renders_it(simulated_fleet, tmp_path):
    simulated_fleet.create_cluster()
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="eks-pod-identity-agent")
    simulated_fleet.sandbox.settle()
    kube = KubeApi(simulated_fleet, "prod", tmp_path)
    template = kube.daemon_set("kube-system", "eks-pod-identity-agent")["spec"]["template"]
    spec = template["spec"]
    assert template["metadata"]["labels"]["app.kubernetes.io/name"] == "eks-pod-identity-agent"
    assert spec["hostNetwork"] is True
    assert spec["priorityClassName"] == "system-node-critical"
    assert {"operator": "Exists"} in spec["tolerations"]
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    expressions = {e["key"]: (e["operator"], e["values"]) for e in term["matchExpressions"]}
    assert expressions["kubernetes.io/os"] == ("In", ["linux"])
    assert expressions["eks.amazonaws.com/compute-type"] == ("NotIn", ["fargate", "hybrid", "auto"])
    (init,) = spec["initContainers"]
    assert init["securityContext"]["privileged"] is True
    (agent,) = spec["containers"]
    assert {p["containerPort"] for p in agent["ports"]} == {80, 2703, 2705}


def test_agent_pods_turn_ready_on_every_eligible_node_and_not_on_fargate_or_windows(simulated_fleet, tmp_path):
    kube = _cluster_with_every_kind_of_node(simulated_fleet, tmp_path)
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="eks-pod-identity-agent")
    simulated_fleet.sandbox.settle()
    status = kube.daemon_set("kube-system", "eks-pod-identity-agent")["status"]
    assert (status["desiredNumberScheduled"], status["numberReady"]) == (2, 2)
    linux_nodes = {n["metadata"]["name"] for n in kube.nodes("eks.amazonaws.com/nodegroup=linux")}
    agents = kube.pods("kube-system", "app.kubernetes.io/name=eks-pod-identity-agent")
    assert {p["spec"]["nodeName"] for p in agents} == linux_nodes
    assert all(c["type"] != "Ready" or c["status"] == "True" for p in agents for c in p["status"]["conditions"])
    assert len(kube.nodes()) == 4  # two Linux, one Windows, one Fargate


def test_deleting_the_agent_addon_removes_its_pods(simulated_fleet, tmp_path):
    simulated_fleet.create_cluster()
    simulated_fleet.create_nodegroup(size=2)
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="eks-pod-identity-agent")
    simulated_fleet.sandbox.settle()
    kube = KubeApi(simulated_fleet, "prod", tmp_path)
    assert len(kube.pods("kube-system", "app.kubernetes.io/name=eks-pod-identity-agent")) == 2
    simulated_fleet.eks.delete_addon(clusterName="prod", addonName="eks-pod-identity-agent")
    simulated_fleet.sandbox.settle()
    assert kube.pods("kube-system", "app.kubernetes.io/name=eks-pod-identity-agent") == []
