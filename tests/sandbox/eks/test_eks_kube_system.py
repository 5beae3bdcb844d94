"""kube-system as EKS leaves it: CoreDNS labelled k8s-app=kube-dns behind the kube-dns Service, the coredns and
kube-proxy ConfigMaps, and /version on the calendar's patch release."""

from __future__ import annotations


def test_bootstrapped_kube_system_looks_like_eks(simulated_fleet):
    simulated_fleet.create_cluster("prod", "1.31")
    simulated_fleet.create_nodegroup("prod")
    kube = simulated_fleet.kube("prod")
    coredns = kube.get("apps/v1", "Deployment", "coredns", "kube-system")
    assert coredns["spec"]["selector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert coredns["metadata"]["labels"]["eks.amazonaws.com/component"] == "coredns"
    assert len(kube.list("v1", "Pod", "kube-system", label_selector="k8s-app=kube-dns")) == 2
    service = kube.get("v1", "Service", "kube-dns", "kube-system")
    assert service["spec"]["clusterIP"] == "10.100.0.10"
    assert service["spec"]["selector"] == {"k8s-app": "kube-dns"}
    assert {(p["name"], p["protocol"]) for p in service["spec"]["ports"]} == {
        ("dns", "UDP"),
        ("dns-tcp", "TCP"),
        ("metrics", "TCP"),
    }
    assert "kubernetes cluster.local" in kube.get("v1", "ConfigMap", "coredns", "kube-system")["data"]["Corefile"]
    assert "server: https://" in kube.get("v1", "ConfigMap", "kube-proxy", "kube-system")["data"]["kubeconfig"]
    proxy_config = kube.get("v1", "ConfigMap", "kube-proxy-config", "kube-system")["data"]["config"]
    assert "kind: KubeProxyConfiguration" in proxy_config


def test_version_reports_the_patch_release_describe_cluster_versions_reports(simulated_fleet):
    simulated_fleet.create_cluster("prod", "1.31")
    (row,) = simulated_fleet.eks.describe_cluster_versions(clusterVersions=["1.31"])["clusterVersions"]
    git_version = simulated_fleet.kube("prod").version_info()["gitVersion"]
    assert git_version.startswith(f"v{row['kubernetesPatchVersion']}-eks-")


def test_kubelets_of_a_node_group_run_the_patch_release_the_api_server_reports(simulated_fleet):
    simulated_fleet.create_cluster("prod", "1.31")
    simulated_fleet.create_nodegroup("prod")
    kube = simulated_fleet.kube("prod")
    patch = kube.version_info()["gitVersion"].split("-")[0]
    kubelets = {node["status"]["nodeInfo"]["kubeletVersion"].split("-")[0] for node in kube.list("v1", "Node")}
    assert kubelets == {patch}


def test_deleting_the_coredns_addon_takes_its_service_and_config_map(simulated_fleet):
    simulated_fleet.create_cluster("prod", "1.31", bootstrapSelfManagedAddons=False)
    simulated_fleet.eks.create_addon(clusterName="prod", addonName="coredns")
    simulated_fleet.sandbox.settle()
    kube = simulated_fleet.kube("prod")
    assert kube.get("v1", "Service", "kube-dns", "kube-system") is not None
    simulated_fleet.eks.delete_addon(clusterName="prod", addonName="coredns")
    simulated_fleet.sandbox.settle()
    assert kube.get("v1", "Service", "kube-dns", "kube-system") is None
    assert kube.get("v1", "ConfigMap", "coredns", "kube-system") is None
